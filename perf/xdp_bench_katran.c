/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Katran's balancer as the peer row of xdp_bench (see xdp_bench_katran.h).
 * Built from the checkout the user names, never from a copy in our tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "xdp_bench_katran.h"

/* Layouts of katran/lib/bpf/balancer_structs.h that we write or read
 * (checked against the loaded maps' key and value sizes). */
struct kt_flow_key { /* struct flow_key: the connection table's key */
	uint32_t src[4];
	uint32_t dst[4];
	uint16_t port16[2]; /* source, destination */
	uint8_t proto;
	uint8_t pad[3];
};
struct kt_vip_definition { /* vip_map key */
	uint32_t vip[4];
	uint16_t port;
	uint8_t proto;
	uint8_t pad;
};
struct kt_vip_meta { /* vip_map value */
	uint32_t flags;
	uint32_t vip_num;
};
struct kt_real_definition { /* reals value */
	uint32_t dst[4];
	uint8_t flags;
	uint8_t pad[3];
};
struct kt_real_pos_lru { /* connection table value */
	uint32_t pos;
	uint32_t pad;
	uint64_t atime;
};
struct kt_lb_stats {
	uint64_t v1, v2;
};

/* Indices of balancer_consts.h in its `stats` map, from MAX_VIPS on. */
#define KT_LRU_CNTRS 0     /* v2: connection table misses */
#define KT_XDP_TX_CNTR 17
#define KT_XDP_PASS_CNTR 19

struct katran_bench {
	struct bpf_object *obj;
	struct bpf_program *prog;
	int ncpus;
	uint32_t max_vips;
	int stats_fd;
	int *lru_fd; /* [ncpus] */
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen,
							const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* clang -target bpf, as Katran's own build does, with its default
 * features (no -D). glibc's <string.h> asks for <gnu/stubs-32.h> under
 * -target bpf: an empty one in out_dir/include stands in for it. */
static int compile(const char *checkout, const char *out_dir, const char *clang,
		   const char *multiarch_inc, char *obj, size_t objlen, char *err, size_t errlen)
{
	char src[1024], inc[1024], stub[1100], log[1100], iflag[1100], kflag[1100], mflag[1100];
	int fd, status;
	pid_t pid;

	snprintf(src, sizeof(src), "%s/katran/lib/bpf/balancer.bpf.c", checkout);
	if (access(src, R_OK))
		return fail(err, errlen, "%s: %s (is --katran a Katran checkout?)", src,
			    strerror(errno));
	snprintf(inc, sizeof(inc), "%s/include", out_dir);
	snprintf(stub, sizeof(stub), "%s/gnu", inc);
	if ((mkdir(out_dir, 0755) && errno != EEXIST) || (mkdir(inc, 0755) && errno != EEXIST) ||
	    (mkdir(stub, 0755) && errno != EEXIST))
		return fail(err, errlen, "cannot create %s: %s", stub, strerror(errno));
	snprintf(stub, sizeof(stub), "%s/gnu/stubs-32.h", inc);
	fd = open(stub, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return fail(err, errlen, "cannot create %s: %s", stub, strerror(errno));
	close(fd);
	snprintf(obj, objlen, "%s/balancer.bpf.o", out_dir);
	snprintf(log, sizeof(log), "%s/balancer.bpf.log", out_dir);
	snprintf(kflag, sizeof(kflag), "-I%s", checkout);
	snprintf(iflag, sizeof(iflag), "-I%s", inc);
	snprintf(mflag, sizeof(mflag), "-I%s", multiarch_inc);
	pid = fork();
	if (pid < 0)
		return fail(err, errlen, "fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { (char *)clang, "-O2", "-g", "-target", "bpf", kflag, iflag, mflag,
				 "-c", src, "-o", obj, NULL };
		int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
		}
		execv(clang, argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return fail(err, errlen, "%s failed to build balancer.bpf.c (see %s)", clang, log);
	return 0;
}

static int check_size(struct bpf_map *m, size_t key, size_t value, char *err, size_t errlen)
{
	if (bpf_map__key_size(m) == key && bpf_map__value_size(m) == value)
		return 0;
	return fail(err, errlen,
		    "Katran's layout differs from what xdp_bench knows: map %s has key/value "
		    "sizes %u/%u, expected %zu/%zu",
		    bpf_map__name(m), bpf_map__key_size(m), bpf_map__value_size(m), key, value);
}

static struct bpf_map *map(struct katran_bench *k, const char *name, char *err, size_t errlen)
{
	struct bpf_map *m = bpf_object__find_map_by_name(k->obj, name);

	if (!m)
		fail(err, errlen, "Katran's object has no map %s", name);
	return m;
}

/* The maps as Katran's userspace fills them for one VIP (vip_num 0):
 * vip_map, reals (ids from 1), ch_rings[0 .. RING_SIZE), ctl_array[0]
 * (the default router's MAC) and a connection table per CPU in
 * lru_mapping. */
static int configure(struct katran_bench *k, const struct katran_service *s, char *err,
		     size_t errlen)
{
	struct bpf_map *vips, *reals, *rings, *ctl, *lrus, *stats, *inner;
	struct kt_vip_definition vk = { .vip = { s->vip }, .port = s->port, .proto = s->proto };
	struct kt_vip_meta vm = { .flags = 0, .vip_num = 0 };
	uint64_t mac = 0;
	uint32_t zero = 0, ring_size, *keys, *vals;
	int rc = -1;

	if (!(vips = map(k, "vip_map", err, errlen)) || !(reals = map(k, "reals", err, errlen)) ||
	    !(rings = map(k, "ch_rings", err, errlen)) || !(ctl = map(k, "ctl_array", err, errlen)) ||
	    !(lrus = map(k, "lru_mapping", err, errlen)) || !(stats = map(k, "stats", err, errlen)))
		return -1;
	inner = bpf_map__inner_map(lrus);
	if (check_size(vips, sizeof(vk), sizeof(vm), err, errlen) ||
	    check_size(reals, 4, sizeof(struct kt_real_definition), err, errlen) ||
	    check_size(rings, 4, 4, err, errlen) || check_size(ctl, 4, 8, err, errlen) ||
	    check_size(stats, 4, sizeof(struct kt_lb_stats), err, errlen) ||
	    (inner && check_size(inner, sizeof(struct kt_flow_key), sizeof(struct kt_real_pos_lru),
				 err, errlen)))
		return -1;
	k->max_vips = bpf_map__max_entries(vips);
	ring_size = k->max_vips ? bpf_map__max_entries(rings) / k->max_vips : 0;
	if (ring_size != s->ring_size)
		return fail(err, errlen, "Katran's RING_SIZE is %u, the benchmark's Maglev M is %u",
			    ring_size, s->ring_size);
	k->stats_fd = bpf_map__fd(stats);
	if (bpf_map_update_elem(bpf_map__fd(vips), &vk, &vm, BPF_ANY))
		return fail(err, errlen, "cannot write vip_map: %s", strerror(errno));
	for (uint32_t i = 0; i < s->n_reals; i++) {
		struct kt_real_definition r = { .dst = { s->reals[i] } };
		uint32_t id = i + 1; /* real ids start from 1: 0 is "no real" */

		if (bpf_map_update_elem(bpf_map__fd(reals), &id, &r, BPF_ANY))
			return fail(err, errlen, "cannot write reals: %s", strerror(errno));
	}
	keys = malloc(sizeof(*keys) * ring_size);
	vals = malloc(sizeof(*vals) * ring_size);
	if (keys && vals) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		uint32_t n = ring_size;

		for (uint32_t i = 0; i < ring_size; i++) {
			keys[i] = i; /* RING_SIZE * vip_num + i, vip_num 0 */
			vals[i] = s->ring[i] < s->n_reals ? s->ring[i] + 1 : 0;
		}
		if (bpf_map_update_batch(bpf_map__fd(rings), keys, vals, &n, &bo))
			fail(err, errlen, "cannot write ch_rings: %s", strerror(errno));
		else
			rc = 0;
	} else {
		fail(err, errlen, "out of memory");
	}
	free(keys);
	free(vals);
	if (rc)
		return -1;
	memcpy(&mac, s->next_hop_mac, 6);
	if (bpf_map_update_elem(bpf_map__fd(ctl), &zero, &mac, BPF_ANY))
		return fail(err, errlen, "cannot write ctl_array: %s", strerror(errno));
	for (int cpu = 0; cpu < k->ncpus; cpu++) {
		uint32_t c = (uint32_t)cpu;
		int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "kt_lru", sizeof(struct kt_flow_key),
					sizeof(struct kt_real_pos_lru), s->lru_flows, NULL);

		if (fd < 0 || bpf_map_update_elem(bpf_map__fd(lrus), &c, &fd, BPF_ANY))
			return fail(err, errlen, "cannot create Katran's per-CPU LRU: %s",
				    strerror(errno));
		k->lru_fd[cpu] = fd;
	}
	return 0;
}

int katran_bench_open(struct katran_bench **out, const char *checkout, const char *out_dir,
		      const char *clang, const char *multiarch_inc,
		      const struct katran_service *svc, char *err, size_t errlen)
{
	struct katran_bench *k = calloc(1, sizeof(*k));
	char obj[1100];
	int e;

	*out = NULL;
	if (!k)
		return fail(err, errlen, "out of memory");
	k->stats_fd = -1;
	k->ncpus = libbpf_num_possible_cpus();
	k->lru_fd = calloc((size_t)(k->ncpus > 0 ? k->ncpus : 1), sizeof(int));
	if (k->ncpus <= 0 || !k->lru_fd) {
		fail(err, errlen, "cannot count the possible CPUs");
		goto out;
	}
	for (int c = 0; c < k->ncpus; c++)
		k->lru_fd[c] = -1;
	if (compile(checkout, out_dir, clang, multiarch_inc, obj, sizeof(obj), err, errlen))
		goto out;
	k->obj = bpf_object__open_file(obj, NULL);
	if (!k->obj) {
		fail(err, errlen, "cannot open %s: %s", obj, strerror(errno));
		goto out;
	}
	k->prog = bpf_object__find_program_by_name(k->obj, "balancer_ingress");
	if (!k->prog) {
		fail(err, errlen, "%s has no program balancer_ingress", obj);
		goto out;
	}
	e = bpf_object__load(k->obj);
	if (e) {
		fail(err, errlen, "cannot load %s: %s", obj, strerror(-e));
		goto out;
	}
	if (configure(k, svc, err, errlen))
		goto out;
	*out = k;
	return 0;
out:
	katran_bench_close(k);
	return -1;
}

int katran_bench_prog_fd(const struct katran_bench *k)
{
	return bpf_program__fd(k->prog);
}

void katran_bench_prog_size(const struct katran_bench *k, uint32_t *insns, uint32_t *jited)
{
	struct bpf_prog_info info = { 0 };
	uint32_t len = sizeof(info);

	*insns = *jited = 0;
	if (bpf_obj_get_info_by_fd(katran_bench_prog_fd(k), &info, &len) == 0) {
		*insns = info.xlated_prog_len / 8;
		*jited = info.jited_prog_len;
	}
}

/* stats[MAX_VIPS + idx] summed over CPUs. */
static int read_stat(const struct katran_bench *k, uint32_t idx, struct kt_lb_stats *sum)
{
	struct kt_lb_stats v[k->ncpus];
	uint32_t key = k->max_vips + idx;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(k->stats_fd, &key, v))
		return -1;
	for (int c = 0; c < k->ncpus; c++) {
		sum->v1 += v[c].v1;
		sum->v2 += v[c].v2;
	}
	return 0;
}

int katran_bench_counters(const struct katran_bench *k, struct katran_counters *c)
{
	struct kt_lb_stats lru, tx, pass;

	if (read_stat(k, KT_LRU_CNTRS, &lru) || read_stat(k, KT_XDP_TX_CNTR, &tx) ||
	    read_stat(k, KT_XDP_PASS_CNTR, &pass))
		return -1;
	c->lru_misses = lru.v2;
	c->tx = tx.v1;
	c->pass = pass.v1;
	return 0;
}

int katran_bench_tracked(const struct katran_bench *k, int cpu, uint32_t saddr, uint16_t sport,
			 uint32_t daddr, uint16_t dport, uint8_t proto)
{
	struct kt_flow_key key = { .src = { saddr }, .dst = { daddr },
				   .port16 = { sport, dport }, .proto = proto };
	struct kt_real_pos_lru v;

	if (cpu < 0 || cpu >= k->ncpus || k->lru_fd[cpu] < 0)
		return 0;
	return bpf_map_lookup_elem(k->lru_fd[cpu], &key, &v) == 0;
}

void katran_bench_close(struct katran_bench *k)
{
	if (!k)
		return;
	for (int c = 0; k->lru_fd && c < k->ncpus; c++)
		if (k->lru_fd[c] >= 0)
			close(k->lru_fd[c]);
	free(k->lru_fd);
	bpf_object__close(k->obj);
	free(k);
}
