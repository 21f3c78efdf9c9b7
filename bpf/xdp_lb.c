/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Userspace side of the XDP fallback path (see xdp_lb.h). The maps mirror
 * the region's snapshot: this file keeps a copy of what it last wrote (VIP
 * keys, backends, each slot's service version) so that a sync writes only
 * differences, in an order that never lets a packet find a table naming a
 * backend that does not exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "sy_xdp_lb.skel.h"
#include "xdp_be_slots.h"
#include "xdp_lb.h"
#include "xdp_quic_ids.h"
#include "xdp_vip_addrs.h"
#include "xdp_vip_slots.h"

#define DEFAULT_GRACE_MS 2000u

struct mirror_backend {
	uint64_t uid;
	struct sy_xdp_backend v;
	uint64_t gone_ms; /* 0 = in a service; else when it left */
};

struct sy_xdp {
	struct sy_xdp_lb *skel;
	char pin_dir[256];
	bool pinned, adopted, attached;
	bool relinked;            /* the pinned link was detached: a new one replaced it */
	char replaced[160];       /* pinned maps of another layout we replaced */
	int link_fd;
	uint32_t ifindex;
	uint32_t grace_ms;
	int ncpus;
	uint32_t ct_flows;        /* flows of each CPU's connection table */
	uint32_t ct_sets;         /* its sets (sy_xdp_ct_sets(ct_flows)) */
	struct sy_xdp_ct_set *ct; /* [ncpus x ct_sets] sy_conntrack, mapped */
	size_t ct_len;
	int *old_ct_fd;           /* [ncpus] an earlier layout's tables to migrate, -1 */
	/* what the maps hold */
	struct sy_xdp_vip_entry *vips;
	size_t n_vips;
	struct sy_xdp_addr_record *addrs; /* sorted (sy_xdp_addr_record_cmp) */
	size_t n_addrs;
	struct mirror_backend *bes;
	size_t n_bes;
	struct sy_xdp_quic_entry *quic; /* sy_quic_ids, sorted (sy_xdp_quic_entry_cmp) */
	size_t n_quic;
	struct sy_xdp_be_slots *slots; /* sy_be_slots */
	struct sy_xdp_vip_slot *vip_slot_map; /* [SY_XDP_VIP_SLOTS] sy_vip_slots, mapped */
	struct sy_xdp_vip_slots *vip_slots;
	uint64_t *slot_version;   /* [SY_XDP_MAX_SERVICES] service version in sy_tables; 0 = none */
	char (*slot_name)[SY_NAME_MAX]; /* [SY_XDP_MAX_SERVICES] for counter resets */
	uint64_t *stats_uid;      /* [SY_XDP_MAX_BACKENDS] backend counted in that slot */
	bool synced_once;
	struct sy_xdp_cpu_stats *stats; /* [ncpus] sy_stats, mapped */
	size_t stats_len;
	/* least-connections (xdp_maps.h): sy_be_conns, mapped; whether a
	 * service of the last sync is least-connections; the last count's
	 * epoch and time */
	uint64_t *be_conns;
	bool least_conns;
	uint32_t conns_epoch;
	uint64_t conns_ms;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fail(char *err, size_t errlen, int e, const char *fmt, const char *what)
{
	char msg[640]; /* the formats name paths of up to 511 bytes */

	snprintf(msg, sizeof(msg), fmt, what);
	snprintf(err, errlen, "%s: %s", msg, strerror(e > 0 ? e : -e));
	return -1;
}

/* ---- Open, pin, adopt --------------------------------------------------- */

static struct bpf_map *const *all_maps(struct sy_xdp_lb *s, size_t *n)
{
	static struct bpf_map *m[11];

	m[0] = s->maps.sy_vips;
	m[1] = s->maps.sy_tables;
	m[2] = s->maps.sy_backends;
	m[3] = s->maps.sy_conntrack;
	m[4] = s->maps.sy_config;
	m[5] = s->maps.sy_stats;
	m[6] = s->maps.sy_vip_addrs;
	m[7] = s->maps.sy_be_slots;
	m[8] = s->maps.sy_frag;
	m[9] = s->maps.sy_quic_ids;
	m[10] = s->maps.sy_vip_slots;
	*n = 11;
	return m;
}

/* Pins of maps an earlier build had and this one does not: its per-CPU
 * counter arrays, now the blocks of sy_stats. */
static const char *const retired_maps[] = { "sy_counters", "sy_vip_stats", "sy_backend_stats" };

static int mkdir_p(const char *dir)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		/* parents traversable: a daemon that dropped root (sy-control
		 * --user) still reaches its own directory */
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0700) && errno != EEXIST ? -1 : 0;
}

static int cmp_uid(const void *a, const void *b)
{
	uint64_t x = ((const struct mirror_backend *)a)->uid, y = ((const struct mirror_backend *)b)->uid;

	return x < y ? -1 : x > y;
}

static int cmp_vip(const void *a, const void *b)
{
	return memcmp(&((const struct sy_xdp_vip_entry *)a)->key, &((const struct sy_xdp_vip_entry *)b)->key,
		      sizeof(struct sy_vip_key));
}

/* ---- Connection tables -------------------------------------------------- */

/* Does the map behind fd have this layout? */
static bool same_layout(int fd, uint32_t type, uint32_t key_size, uint32_t value_size,
			uint32_t max_entries, uint32_t flags)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == type &&
	       info.key_size == key_size && info.value_size == value_size &&
	       info.max_entries == max_entries && info.map_flags == flags;
}

/* The value of an earlier layout's connection tables (f5f4934 and before:
 * sy_conntrack an array of maps, CPU -> LRU_HASH of struct sy_flow_key ->
 * this). */
struct old_ct_value {
	uint64_t ref;
	uint64_t expires_ns;
};

/* A pinned sy_conntrack of the earlier layout (an LRU hash per CPU): keep
 * each CPU's table open, so that sy_xdp_ct_migrate() copies its flows into
 * ours. Whether there was one. */
static bool keep_old_ct(struct sy_xdp *x, int outer)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);
	bool any = false;

	if (bpf_obj_get_info_by_fd(outer, &info, &len) || info.type != BPF_MAP_TYPE_ARRAY_OF_MAPS)
		return false;
	for (uint32_t cpu = 0; cpu < info.max_entries && cpu < (uint32_t)x->ncpus; cpu++) {
		struct bpf_map_info in;
		uint32_t id, ilen;
		int fd;

		if (bpf_map_lookup_elem(outer, &cpu, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			continue;
		memset(&in, 0, sizeof(in));
		ilen = sizeof(in);
		if (bpf_obj_get_info_by_fd(fd, &in, &ilen) || in.type != BPF_MAP_TYPE_LRU_HASH ||
		    in.key_size != sizeof(struct sy_flow_key) ||
		    in.value_size != sizeof(struct old_ct_value)) {
			close(fd);
			continue;
		}
		x->old_ct_fd[cpu] = fd;
		any = true;
	}
	return any;
}

/* The current coarse monotonic time in ns: the program's ct_now(). */
static uint64_t coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The set of a flow in CPU cpu's table, for its service's seed. */
static struct sy_xdp_ct_set *ct_set_of(const struct sy_xdp *x, uint32_t cpu,
				       const struct sy_flow_key *key, uint32_t seed)
{
	uint64_t w[SY_XDP_CT_KEY_WORDS];

	sy_xdp_ct_key(key, w);
	return &x->ct[(size_t)cpu * x->ct_sets +
		      sy_xdp_ct_set_of(sy_xdp_ct_hash(w, seed), x->ct_sets)];
}

/* The seed of the service a flow key belongs to, from sy_vips as the
 * program finds it (the exact VIP, else its all-ports one). */
static bool service_seed(const struct sy_xdp *x, const struct sy_flow_key *k, uint32_t *seed)
{
	int vfd = bpf_map__fd(x->skel->maps.sy_vips);
	struct sy_vip_key vk = { .port = k->dport, .proto = k->proto, .family = k->family };
	struct sy_xdp_service svc;

	memcpy(vk.addr, k->dst, sizeof(vk.addr));
	if (bpf_map_lookup_elem(vfd, &vk, &svc)) {
		vk.port = 0;
		if (bpf_map_lookup_elem(vfd, &vk, &svc))
			return false;
	}
	*seed = svc.hash_seed;
	return true;
}

/* Put a live flow into its set before the program runs on the table: a
 * free or expired way; a set full of live flows keeps them (0). */
static int ct_put(struct sy_xdp_ct_set *set, const struct sy_flow_key *k, uint64_t ref,
		  uint64_t expires, uint64_t now)
{
	uint64_t w[SY_XDP_CT_KEY_WORDS];
	uint32_t room = SY_XDP_CT_WAYS;

	sy_xdp_ct_key(k, w);
	for (uint32_t i = 0; i < SY_XDP_CT_WAYS; i++) {
		if (sy_xdp_ct_way_is(set, i, w) && set->expires_ns[i] >= now)
			return 0; /* already there */
		if (room == SY_XDP_CT_WAYS && sy_xdp_ct_rank(set->expires_ns[i], now) <= 1)
			room = i;
	}
	if (room == SY_XDP_CT_WAYS)
		return 0;
	set->expires_ns[room] = 0;
	set->sig[room] = w[4];
	memcpy(set->addr[room], w, sizeof(set->addr[room]));
	set->ref[room] = ref;
	set->expires_ns[room] = expires;
	return 1;
}

int sy_xdp_ct_migrate(struct sy_xdp *x, struct sy_xdp_ct_migration *m)
{
	uint64_t now = coarse_now_ns();

	memset(m, 0, sizeof(*m));
	for (int c = 0; c < x->ncpus; c++) {
		struct sy_flow_key k, prev;
		bool first = true;

		if (x->old_ct_fd[c] < 0)
			continue;
		m->tables++;
		while (bpf_map_get_next_key(x->old_ct_fd[c], first ? NULL : &prev, &k) == 0) {
			struct old_ct_value v;
			uint32_t seed;

			first = false;
			prev = k;
			if (bpf_map_lookup_elem(x->old_ct_fd[c], &k, &v) || !v.ref ||
			    v.expires_ns < now)
				continue; /* gone meanwhile, or expired: nothing to keep */
			m->live++;
			if (!service_seed(x, &k, &seed))
				continue; /* its service left: it would re-hash anyway */
			m->kept += (uint64_t)ct_put(ct_set_of(x, (uint32_t)c, &k, seed), &k, v.ref,
						    v.expires_ns, now);
		}
		close(x->old_ct_fd[c]);
		x->old_ct_fd[c] = -1;
	}
	return m->tables ? 1 : 0;
}

/* Pinned maps an earlier build left with another layout (another map
 * type, value size or --xdp-ct-flows) are unpinned before the load, so
 * that the load creates this build's in their place: the running program
 * keeps its own until our program replaces it in the link. What they held
 * starts empty: tables and config are rewritten before attaching, counters
 * restart from zero, tracked flows re-hash (to the same backends unless
 * the set changed). Their names are collected in x->replaced. */
static void replace_stale_pins(struct sy_xdp *x, struct bpf_map *const *maps, size_t n)
{
	for (size_t i = 0; i < sizeof(retired_maps) / sizeof(retired_maps[0]); i++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/%s", x->pin_dir, retired_maps[i]);
		if (unlink(path) == 0)
			snprintf(x->replaced + strlen(x->replaced),
				 sizeof(x->replaced) - strlen(x->replaced), "%s%s",
				 x->replaced[0] ? " " : "", retired_maps[i]);
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = bpf_map__pin_path(maps[i]);
		int fd = path ? bpf_obj_get(path) : -1;
		bool fits, migrate;

		if (fd < 0)
			continue;
		fits = same_layout(fd, bpf_map__type(maps[i]), bpf_map__key_size(maps[i]),
				   bpf_map__value_size(maps[i]), bpf_map__max_entries(maps[i]),
				   bpf_map__map_flags(maps[i]));
		/* an earlier layout's connection tables: their flows move into
		 * ours (sy_xdp_ct_migrate()) */
		migrate = !fits && maps[i] == x->skel->maps.sy_conntrack && keep_old_ct(x, fd);
		close(fd);
		if (fits || unlink(path) || migrate)
			continue;
		snprintf(x->replaced + strlen(x->replaced), sizeof(x->replaced) - strlen(x->replaced),
			 "%s%s", x->replaced[0] ? " " : "", bpf_map__name(maps[i]));
	}
}

/* The slots of the adopted backends' current records stay theirs; any other
 * record left in sy_be_slots is marked gone. */
static void adopt_slots(struct sy_xdp *x)
{
	struct sy_xdp_backend *cur = calloc(x->n_bes ? x->n_bes : 1, sizeof(*cur));
	size_t n = 0;

	for (size_t i = 0; cur && i < x->n_bes; i++)
		if (!(x->bes[i].v.flags & SY_XDP_BACKEND_GONE))
			cur[n++] = x->bes[i].v;
	sy_xdp_be_slots_adopt(x->slots, cur, cur ? n : 0, now_ms());
	free(cur);
}

/* The server IDs an earlier run left in sy_quic_ids (sorted). */
static void load_quic_mirror(struct sy_xdp *x)
{
	int fd = bpf_map__fd(x->skel->maps.sy_quic_ids);
	struct sy_xdp_quic_key k, prev;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &prev, &k) == 0) {
		struct sy_xdp_quic_entry *n = realloc(x->quic, (x->n_quic + 1) * sizeof(*n));

		if (!n)
			break;
		x->quic = n;
		n[x->n_quic] = (struct sy_xdp_quic_entry){ .key = k };
		if (bpf_map_lookup_elem(fd, &k, &n[x->n_quic].ref) == 0)
			x->n_quic++;
		prev = k;
		first = false;
	}
	if (x->n_quic)
		qsort(x->quic, x->n_quic, sizeof(*x->quic), sy_xdp_quic_entry_cmp);
}

/* Read back what an earlier run left in adopted maps, so that the first
 * sync deletes what is no longer published. Tables are rewritten anyway. */
static void load_mirror(struct sy_xdp *x)
{
	int vfd = bpf_map__fd(x->skel->maps.sy_vips), bfd = bpf_map__fd(x->skel->maps.sy_backends);
	int afd = bpf_map__fd(x->skel->maps.sy_vip_addrs);
	struct sy_vip_key k, prev;
	struct sy_xdp_addr_key ak, aprev;
	uint64_t uid, uprev;
	bool first = true;

	while (bpf_map_get_next_key(vfd, first ? NULL : &prev, &k) == 0) {
		struct sy_xdp_vip_entry *n = realloc(x->vips, (x->n_vips + 1) * sizeof(*n));

		if (!n)
			break;
		x->vips = n;
		n[x->n_vips].key = k;
		if (bpf_map_lookup_elem(vfd, &k, &n[x->n_vips].v) == 0)
			x->n_vips++;
		prev = k;
		first = false;
	}
	for (first = true; bpf_map_get_next_key(bfd, first ? NULL : &uprev, &uid) == 0; first = false) {
		struct mirror_backend *n = realloc(x->bes, (x->n_bes + 1) * sizeof(*n));

		if (!n)
			break;
		x->bes = n;
		n[x->n_bes] = (struct mirror_backend){ .uid = uid };
		if (bpf_map_lookup_elem(bfd, &uid, &n[x->n_bes].v) == 0)
			x->n_bes++;
		uprev = uid;
	}
	for (first = true; bpf_map_get_next_key(afd, first ? NULL : &aprev, &ak) == 0; first = false) {
		struct sy_xdp_addr_record *n = realloc(x->addrs, (x->n_addrs + 1) * sizeof(*n));

		if (!n)
			break;
		x->addrs = n;
		memset(&n[x->n_addrs], 0, sizeof(*n));
		n[x->n_addrs].key = ak;
		if (bpf_map_lookup_elem(afd, &ak, &n[x->n_addrs].v) == 0)
			x->n_addrs++;
		aprev = ak;
	}
	load_quic_mirror(x);
	adopt_slots(x);
	/* the sync looks them up by binary search */
	if (x->n_vips)
		qsort(x->vips, x->n_vips, sizeof(*x->vips), cmp_vip);
	if (x->n_addrs)
		qsort(x->addrs, x->n_addrs, sizeof(*x->addrs), sy_xdp_addr_record_cmp);
	if (x->n_bes)
		qsort(x->bes, x->n_bes, sizeof(*x->bes), cmp_uid);
}

int sy_xdp_open(struct sy_xdp **out, const struct sy_xdp_opts *o, char *err, size_t errlen)
{
	struct sy_xdp *x = calloc(1, sizeof(*x));
	struct bpf_map *const *maps;
	size_t nmaps;
	int e;

	*out = NULL;
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	x->link_fd = -1;
	x->grace_ms = o->grace_ms ? o->grace_ms : DEFAULT_GRACE_MS;
	x->ct_flows = o->ct_flows ? o->ct_flows : SY_XDP_CT_DEFAULT_FLOWS;
	x->ncpus = libbpf_num_possible_cpus();
	x->slot_version = calloc(SY_XDP_MAX_SERVICES, sizeof(*x->slot_version));
	x->slot_name = calloc(SY_XDP_MAX_SERVICES, sizeof(*x->slot_name));
	x->stats_uid = calloc(SY_XDP_MAX_BACKENDS, sizeof(*x->stats_uid));
	x->ct_sets = sy_xdp_ct_sets(x->ct_flows);
	x->old_ct_fd = malloc(sizeof(*x->old_ct_fd) * (size_t)(x->ncpus > 0 ? x->ncpus : 1));
	if (x->ncpus <= 0 || !x->slot_version || !x->slot_name || !x->stats_uid || !x->old_ct_fd) {
		snprintf(err, errlen, "cannot size per-CPU buffers (%d CPUs)", x->ncpus);
		goto out;
	}
	for (int c = 0; c < x->ncpus; c++)
		x->old_ct_fd[c] = -1;
	x->skel = sy_xdp_lb__open();
	if (!x->skel) {
		fail(err, errlen, errno, "%s", "cannot open the XDP program sy_xdp_lb");
		goto out;
	}
	/* a connection table and a counter block per CPU */
	if ((uint64_t)x->ct_sets * (uint64_t)x->ncpus > UINT32_MAX) {
		snprintf(err, errlen, "--xdp-ct-flows %u on %d CPUs: more than 2^32 sets", x->ct_flows,
			 x->ncpus);
		goto out;
	}
	bpf_map__set_max_entries(x->skel->maps.sy_conntrack, x->ct_sets * (uint32_t)x->ncpus);
	bpf_map__set_max_entries(x->skel->maps.sy_stats, (uint32_t)x->ncpus);
	maps = all_maps(x->skel, &nmaps);
	if (o->pin_dir) {
		char path[512];

		snprintf(x->pin_dir, sizeof(x->pin_dir), "%s", o->pin_dir);
		if (mkdir_p(x->pin_dir)) {
			fail(err, errlen, errno, "cannot create %s (is bpffs mounted?)", x->pin_dir);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/sy_vips", x->pin_dir);
		x->adopted = access(path, F_OK) == 0;
		for (size_t i = 0; i < nmaps; i++) {
			snprintf(path, sizeof(path), "%s/%s", x->pin_dir, bpf_map__name(maps[i]));
			bpf_map__set_pin_path(maps[i], path);
		}
		x->pinned = true;
		replace_stale_pins(x, maps, nmaps);
	}
	e = sy_xdp_lb__load(x->skel);
	if (e) {
		if (x->adopted)
			fail(err, errlen, e,
			     "cannot load sy_xdp_lb over the maps pinned in %s (stop the program "
			     "pinned there with `sy-control --xdp-detach`, or remove the "
			     "directory)", x->pin_dir);
		else
			fail(err, errlen, e, "%s", "cannot load the XDP program sy_xdp_lb (verifier? "
			     "memlock? CAP_BPF? the connection tables of --xdp-ct-flows on every "
			     "CPU too large?)");
		goto out;
	}
	x->ct_len = sizeof(*x->ct) * x->ct_sets * (size_t)x->ncpus;
	x->ct = mmap(NULL, x->ct_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		     bpf_map__fd(x->skel->maps.sy_conntrack), 0);
	if (x->ct == MAP_FAILED) {
		x->ct = NULL;
		fail(err, errlen, errno, "%s", "cannot map the connection tables (sy_conntrack)");
		goto out;
	}
	x->slots = sy_xdp_be_slots_new(bpf_map__fd(x->skel->maps.sy_be_slots), x->grace_ms);
	if (!x->slots) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	x->vip_slot_map = mmap(NULL, sizeof(*x->vip_slot_map) * SY_XDP_VIP_SLOTS,
			       PROT_READ | PROT_WRITE, MAP_SHARED,
			       bpf_map__fd(x->skel->maps.sy_vip_slots), 0);
	if (x->vip_slot_map == MAP_FAILED) {
		x->vip_slot_map = NULL;
		fail(err, errlen, errno, "%s", "cannot map the address slots (sy_vip_slots)");
		goto out;
	}
	x->vip_slots = sy_xdp_vip_slots_new(x->vip_slot_map, x->grace_ms, x->adopted, now_ms());
	if (!x->vip_slots) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	x->stats_len = sizeof(*x->stats) * (size_t)x->ncpus;
	x->stats = mmap(NULL, x->stats_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(x->skel->maps.sy_stats), 0);
	if (x->stats == MAP_FAILED) {
		x->stats = NULL;
		fail(err, errlen, errno, "%s", "cannot map the counters (sy_stats)");
		goto out;
	}
	x->be_conns = mmap(NULL, sizeof(*x->be_conns) * SY_XDP_MAX_BACKENDS, PROT_READ | PROT_WRITE,
			   MAP_SHARED, bpf_map__fd(x->skel->maps.sy_be_conns), 0);
	if (x->be_conns == MAP_FAILED) {
		x->be_conns = NULL;
		fail(err, errlen, errno, "%s", "cannot map the connection counts (sy_be_conns)");
		goto out;
	}
	if (x->adopted)
		load_mirror(x);
	*out = x;
	return 0;
out:
	sy_xdp_close(x, true);
	return -1;
}

bool sy_xdp_adopted(const struct sy_xdp *x)
{
	return x->adopted;
}

const char *sy_xdp_replaced(const struct sy_xdp *x)
{
	return x->replaced;
}

bool sy_xdp_relinked(const struct sy_xdp *x)
{
	return x->relinked;
}

int sy_xdp_prog_fd(const struct sy_xdp *x)
{
	/* the object's one program */
	return bpf_program__fd(bpf_object__next_program(x->skel->obj, NULL));
}

int sy_xdp_configure(struct sy_xdp *x, const struct sy_xdp_config *cfg, char *err, size_t errlen)
{
	struct sy_xdp_config c = *cfg;
	uint32_t zero = 0;

	c.configured = 1;
	c.ct_sets = x->ct_sets; /* the tables' shape is ours, not the caller's */
	if (bpf_map_update_elem(bpf_map__fd(x->skel->maps.sy_config), &zero, &c, BPF_ANY))
		return fail(err, errlen, errno, "%s", "cannot write sy_config");
	return 0;
}

/* ---- Attach ---------------------------------------------------------- */

static void link_path(const struct sy_xdp *x, char *p, size_t n)
{
	snprintf(p, n, "%s/link", x->pin_dir);
}

int sy_xdp_attach(struct sy_xdp *x, const char *ifname, enum sy_xdp_attach_mode mode, char *err,
		  size_t errlen)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	unsigned ifindex = if_nametoindex(ifname);
	int prog = sy_xdp_prog_fd(x);
	char path[512];

	if (!ifindex)
		return fail(err, errlen, errno, "no interface %s", ifname);
	if (x->pinned) {
		link_path(x, path, sizeof(path));
		x->link_fd = bpf_obj_get(path);
	}
	if (x->link_fd >= 0) {
		/* a pinned link of an earlier run */
		struct bpf_link_info info = { 0 };
		uint32_t len = sizeof(info);
		bool xdp = bpf_obj_get_info_by_fd(x->link_fd, &info, &len) == 0 &&
			   info.type == BPF_LINK_TYPE_XDP;

		if (xdp && info.xdp.ifindex == 0) {
			/* detached (`bpftool link detach`, its interface
			 * deleted): it names no interface and never will
			 * again, and updating it would attach nothing. Its pin
			 * goes; a new link takes its place below. */
			close(x->link_fd);
			x->link_fd = -1;
			if (unlink(path) && errno != ENOENT)
				return fail(err, errlen, errno, "cannot remove the detached XDP link pinned at %s",
					    path);
			x->relinked = true;
		} else if (xdp && info.xdp.ifindex != ifindex) {
			char other[IF_NAMESIZE] = "?";

			if_indextoname(info.xdp.ifindex, other);
			snprintf(err, errlen,
				 "the XDP program pinned in %s is attached to %s, not %s: stop it "
				 "first (sy-control --xdp-detach)", x->pin_dir, other, ifname);
			close(x->link_fd);
			x->link_fd = -1;
			return -1;
		}
	}
	if (x->link_fd >= 0) {
		/* attached to ifname: swap our program in, atomically for the
		 * packets */
		if (bpf_link_update(x->link_fd, prog, NULL))
			return fail(err, errlen, errno, "cannot replace the program of the pinned XDP link %s",
				    path);
	} else {
		lo.flags = mode == SY_XDP_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
		x->link_fd = bpf_link_create(prog, (int)ifindex, BPF_XDP, &lo);
		if (x->link_fd < 0) {
			int e = errno;

			if (e == EBUSY || e == EEXIST)
				snprintf(err, errlen, "%s already has an XDP program (ip link show %s); "
					 "Switchyard does not replace a foreign one", ifname, ifname);
			else if (mode == SY_XDP_NATIVE && (e == EOPNOTSUPP || e == EINVAL))
				snprintf(err, errlen, "%s: the driver has no native XDP (%s); "
					 "--xdp-mode generic runs it in the kernel's generic path, slower",
					 ifname, strerror(e));
			else
				fail(err, errlen, e, "cannot attach XDP to %s", ifname);
			return -1;
		}
		if (x->pinned && bpf_obj_pin(x->link_fd, path)) {
			int e = errno;

			close(x->link_fd);
			x->link_fd = -1;
			return fail(err, errlen, e, "cannot pin the XDP link at %s", path);
		}
	}
	x->ifindex = ifindex;
	x->attached = true;
	return 0;
}

bool sy_xdp_attached(const struct sy_xdp *x)
{
	struct bpf_link_info info = { 0 };
	uint32_t len = sizeof(info);

	if (!x->attached || x->link_fd < 0)
		return false;
	/* a detached XDP link reports ifindex 0 */
	return bpf_obj_get_info_by_fd(x->link_fd, &info, &len) == 0 && info.xdp.ifindex != 0;
}

/* ---- Mirror a snapshot ----------------------------------------------- */

static struct sy_xdp_service service_record(const struct sy_service *s)
{
	struct sy_xdp_service r = {
		.slot = s->slot,
		.fwd_mode = s->fwd_mode,
		.flags = s->flags,
		.gue_port = s->gue_port,
		.hash_seed = s->hash_seed,
		.table_size = s->table_size,
		.encap_src4 = s->encap_src4,
	};

	memcpy(r.encap_src6, s->encap_src6, sizeof(r.encap_src6));
	return r;
}

/* Zero a counter slot on every CPU (a reused slot starts from zero, as the
 * region's does). */
static void zero_vip_stats(struct sy_xdp *x, uint32_t slot)
{
	for (int c = 0; c < x->ncpus; c++)
		memset(&x->stats[c].vips[slot], 0, sizeof(x->stats[c].vips[slot]));
}

static void zero_backend_stats(struct sy_xdp *x, uint32_t slot)
{
	for (int c = 0; c < x->ncpus; c++)
		memset(&x->stats[c].backends[slot], 0, sizeof(x->stats[c].backends[slot]));
}

static struct mirror_backend *find_be(struct mirror_backend *a, size_t n, uint64_t uid);

/* A fresh inner map holding the service's table as backend refs (their
 * slots from wb, the backends of this sync), then its backends' refs and
 * weights for least-connections (xdp_maps.h, sy_xdp_table_entries()). */
static int build_table(const uint8_t *base, const struct sy_service *s, struct mirror_backend *wb,
		       size_t nwb, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_INNER_MAP);
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	const struct sy_backend *b = sy_service_backends(base, s);
	const uint32_t *t = sy_service_table(base, s);
	uint32_t m = s->table_size, n = sy_xdp_table_entries(m, s->n_backends);
	uint32_t *keys = malloc(sizeof(*keys) * n);
	uint64_t *vals = malloc(sizeof(*vals) * n);
	int fd = -1;

	if (!keys || !vals) {
		snprintf(err, errlen, "service %s: out of memory for its table", s->name);
		goto out;
	}
	for (uint32_t i = 0; i < m; i++) {
		const struct mirror_backend *w =
			t[i] < s->n_backends ? find_be(wb, nwb, b[t[i]].uid) : NULL;

		keys[i] = i;
		vals[i] = w ? sy_xdp_ref(w->v.slot, w->uid) : 0;
	}
	keys[m] = m;
	vals[m] = s->n_backends;
	for (uint32_t i = 0; i < s->n_backends; i++) {
		const struct mirror_backend *w = find_be(wb, nwb, b[i].uid);
		uint32_t r = m + 1 + i, wt = m + 1 + s->n_backends + i;

		keys[r] = r;
		vals[r] = w ? sy_xdp_ref(w->v.slot, w->uid) : 0;
		keys[wt] = wt;
		vals[wt] = b[i].weight;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sy_table", sizeof(uint32_t), sizeof(uint64_t), n, &mo);
	if (fd < 0) {
		fail(err, errlen, errno, "service %s: cannot create its table map", s->name);
		goto out;
	}
	if (bpf_map_update_batch(fd, keys, vals, &n, &bo)) {
		fail(err, errlen, errno, "service %s: cannot fill its table map", s->name);
		close(fd);
		fd = -1;
	}
out:
	free(keys);
	free(vals);
	return fd;
}

/* Backends of the snapshot, sorted by uid. */
static struct mirror_backend *wanted_backends(const uint8_t *base, const struct sy_snapshot *snap,
					      size_t *n_out)
{
	size_t n = 0, k = 0;
	struct mirror_backend *w;

	for (uint32_t i = 0; i < snap->n_services; i++)
		n += sy_snapshot_service(base, snap, i)->n_backends;
	w = calloc(n ? n : 1, sizeof(*w));
	if (!w)
		return NULL;
	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(base, snap, i);
		const struct sy_backend *b = sy_service_backends(base, s);

		for (uint32_t j = 0; j < s->n_backends; j++, k++) {
			struct sy_xdp_backend *v = &w[k].v;

			w[k].uid = b[j].uid;
			v->uid = b[j].uid;
			v->slot = UINT32_MAX; /* the sync places it */
			memcpy(v->addr, b[j].id.addr, sizeof(v->addr));
			v->family = b[j].id.family;
			v->flags = (b[j].flags & SY_BACKEND_DRAINING) ? SY_XDP_BACKEND_DRAINING : 0;
			memcpy(v->mac, b[j].mac, 6);
			v->svc_slot = s->slot;
			v->stats_slot = b[j].slot;
		}
	}
	qsort(w, n, sizeof(*w), cmp_uid);
	*n_out = n;
	return w;
}

static struct sy_xdp_vip_entry *wanted_vips(const uint8_t *base, const struct sy_snapshot *snap,
				      size_t *n_out)
{
	const struct sy_vip_bucket *bk = (const void *)(base + snap->buckets_off);
	struct sy_xdp_vip_entry *w = calloc(snap->n_buckets ? snap->n_buckets : 1, sizeof(*w));
	size_t n = 0;

	if (!w)
		return NULL;
	/* every bucket: the services' VIPs and the address entries */
	for (uint32_t i = 0; i < snap->n_buckets; i++) {
		if (!bk[i].service_off)
			continue;
		w[n].key = bk[i].key;
		w[n].v = service_record((const void *)(base + bk[i].service_off));
		n++;
	}
	qsort(w, n, sizeof(*w), cmp_vip);
	*n_out = n;
	return w;
}

static struct mirror_backend *find_be(struct mirror_backend *a, size_t n, uint64_t uid)
{
	struct mirror_backend k = { .uid = uid };

	return n ? bsearch(&k, a, n, sizeof(*a), cmp_uid) : NULL; /* a may be NULL when empty */
}

/* Write the address records of the VIP index wv (see xdp_vip_addrs.h):
 * the new and changed ones, then delete those of addresses that left. */
static int sync_addrs(struct sy_xdp *x, const struct sy_xdp_vip_entry *wv, size_t nwv, char *err,
		      size_t errlen)
{
	int afd = bpf_map__fd(x->skel->maps.sy_vip_addrs);
	size_t nwa = 0;
	struct sy_xdp_addr_record *wa = sy_xdp_addr_records(wv, nwv, &nwa);

	if (!wa) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nwa; i++) {
		struct sy_xdp_addr_record *have =
			x->n_addrs ? bsearch(&wa[i], x->addrs, x->n_addrs, sizeof(*wa),
					     sy_xdp_addr_record_cmp)
				   : NULL;

		if (have && !memcmp(&have->v, &wa[i].v, sizeof(wa[i].v)))
			continue;
		if (bpf_map_update_elem(afd, &wa[i].key, &wa[i].v, BPF_ANY)) {
			/* the map now holds some of wa: the slots must not
			 * answer for it with older records */
			sy_xdp_vip_slots_ask_all(x->vip_slots, now_ms());
			free(wa);
			return fail(err, errlen, errno, "%s", "cannot write sy_vip_addrs");
		}
	}
	for (size_t i = 0; i < x->n_addrs; i++)
		if (!nwa || !bsearch(&x->addrs[i], wa, nwa, sizeof(*wa), sy_xdp_addr_record_cmp))
			bpf_map_delete_elem(afd, &x->addrs[i].key);
	free(x->addrs);
	x->addrs = wa;
	x->n_addrs = nwa;
	/* the slots follow the hash map, before step 4 deletes VIP entries
	 * that an old record of a slot could send a packet to */
	if (sy_xdp_vip_slots_sync(x->vip_slots, wa, nwa, now_ms())) {
		snprintf(err, errlen, "out of memory (the address slots ask sy_vip_addrs)");
		return -1;
	}
	return 0;
}

/* Mirror the QUIC server IDs of the snapshot wq (their backends placed in
 * wb, this sync's) into sy_quic_ids: the keys that left first (a slot a
 * new service reuses must not keep a departed one's IDs), then the new
 * and changed entries; on success wq is what the map holds (the caller
 * lets go of it). */
static int sync_quic_ids(struct sy_xdp *x, struct sy_xdp_quic_entry *wq, size_t nwq,
			 struct mirror_backend *wb, size_t nwb, char *err, size_t errlen)
{
	int fd = bpf_map__fd(x->skel->maps.sy_quic_ids);

	for (size_t i = 0; i < x->n_quic; i++)
		if (!nwq || !bsearch(&x->quic[i], wq, nwq, sizeof(*wq), sy_xdp_quic_entry_cmp))
			bpf_map_delete_elem(fd, &x->quic[i].key);
	for (size_t i = 0; i < nwq; i++) {
		const struct mirror_backend *b = find_be(wb, nwb, wq[i].uid);
		const struct sy_xdp_quic_entry *have =
			x->n_quic ? bsearch(&wq[i], x->quic, x->n_quic, sizeof(*wq),
					    sy_xdp_quic_entry_cmp)
				  : NULL;

		wq[i].ref = b ? sy_xdp_ref(b->v.slot, b->uid) : 0;
		if (have && have->ref == wq[i].ref)
			continue;
		if (bpf_map_update_elem(fd, &wq[i].key, &wq[i].ref, BPF_ANY))
			return fail(err, errlen, errno, "%s", "cannot write sy_quic_ids");
	}
	free(x->quic);
	x->quic = wq;
	x->n_quic = nwq;
	return 0;
}

/* Whether two records of a backend differ in their flags at most. */
static bool same_but_flags(const struct sy_xdp_backend *a, const struct sy_xdp_backend *b)
{
	struct sy_xdp_backend x = *a, y = *b;

	x.flags = y.flags = 0;
	x.slot = y.slot = 0;
	return !memcmp(&x, &y, sizeof(x));
}

/* Step 1 of a sync for one backend: its record in its slot (a new slot if
 * it is new or more than its flags changed; then its service's table must
 * name the new one: *moved), then in sy_backends. */
static int write_backend(struct sy_xdp *x, struct mirror_backend *have, struct mirror_backend *w,
			 uint64_t now, bool *moved, char *err, size_t errlen)
{
	struct sy_xdp_backend *v = &w->v;

	*moved = false;
	if (have && !have->gone_ms && sy_xdp_be_slots_holds(x->slots, &have->v) &&
	    same_but_flags(&have->v, v)) {
		v->slot = have->v.slot;
		if (!memcmp(&have->v, v, sizeof(*v)))
			return 0;
		if (sy_xdp_be_slots_set_flags(x->slots, v))
			return fail(err, errlen, errno, "%s", "cannot write sy_be_slots");
	} else {
		if (sy_xdp_be_slots_place(x->slots, v, now))
			return fail(err, errlen, errno, "%s",
				    errno == ENOSPC ? "no free slot in sy_be_slots (departed backends "
						      "wait out their grace period there)"
						    : "cannot write sy_be_slots");
		*moved = have != NULL;
	}
	if (bpf_map_update_elem(bpf_map__fd(x->skel->maps.sy_backends), &w->uid, v, BPF_ANY))
		return fail(err, errlen, errno, "%s", "cannot write sy_backends");
	if (have && *moved) {
		/* readers of its old slot now go to sy_backends */
		sy_xdp_be_slots_retire(x->slots, &have->v, now);
		have->v = *v;
	}
	return 0;
}

int sy_xdp_sync(struct sy_xdp *x, const uint8_t *base, const struct sy_snapshot *snap, char *err,
		size_t errlen)
{
	int vfd = bpf_map__fd(x->skel->maps.sy_vips), tfd = bpf_map__fd(x->skel->maps.sy_tables);
	int bfd = bpf_map__fd(x->skel->maps.sy_backends);
	struct mirror_backend *wb = NULL, *merged = NULL;
	struct sy_xdp_vip_entry *wv = NULL;
	struct sy_xdp_quic_entry *wq = NULL;
	bool *slot_used = calloc(SY_XDP_MAX_SERVICES, sizeof(bool));
	bool *rebuild = calloc(SY_XDP_MAX_SERVICES, sizeof(bool)); /* a backend moved slots */
	bool least_conns = false; /* a service is least-connections */
	size_t nwb = 0, nwv = 0, nm = 0, nwq = 0;
	uint64_t now = now_ms();
	int rc = -1;

	if (!slot_used || !rebuild || !(wb = wanted_backends(base, snap, &nwb)) ||
	    !(wv = wanted_vips(base, snap, &nwv)) || !(wq = sy_xdp_quic_entries(base, snap, &nwq))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(base, snap, i);

		if (s->slot >= SY_XDP_MAX_SERVICES) {
			snprintf(err, errlen, "service %s: counter slot %u beyond the XDP maps' %u services",
				 s->name, s->slot, SY_XDP_MAX_SERVICES);
			goto out;
		}
	}
	for (size_t i = 0; i < nwb; i++) {
		if (wb[i].v.stats_slot >= SY_XDP_MAX_BACKENDS) {
			snprintf(err, errlen, "backend counter slot %u beyond the XDP maps' %u backends",
				 wb[i].v.stats_slot, SY_XDP_MAX_BACKENDS);
			goto out;
		}
		if (wb[i].uid > SY_XDP_UID_MAX) {
			snprintf(err, errlen, "backend uid %llu beyond the XDP refs' %d bits",
				 (unsigned long long)wb[i].uid, SY_XDP_UID_BITS);
			goto out;
		}
	}

	/* 1. backends, before any table names them */
	for (size_t i = 0; i < nwb; i++) {
		struct mirror_backend *have = find_be(x->bes, x->n_bes, wb[i].uid);
		uint32_t ss = wb[i].v.stats_slot;

		bool moved;

		if (x->stats_uid[ss] != wb[i].uid) {
			if (x->synced_once || !x->adopted)
				zero_backend_stats(x, ss);
			x->stats_uid[ss] = wb[i].uid;
		}
		if (write_backend(x, have, &wb[i], now, &moved, err, errlen)) {
			/* the slots given to new backends so far go back: the
			 * next sync places them again (sy_backends has them) */
			for (size_t j = 0; j < i; j++)
				if (!find_be(x->bes, x->n_bes, wb[j].uid))
					sy_xdp_be_slots_retire(x->slots, &wb[j].v, now);
			goto out;
		}
		if (moved)
			rebuild[wb[i].v.svc_slot] = true;
	}

	/* 2. tables of new and changed services, each swapped in whole */
	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(base, snap, i);
		uint32_t slot = s->slot;
		int fd;

		slot_used[slot] = true;
		least_conns |= (s->flags & SY_SERVICE_LEAST_CONNS) != 0;
		if (strncmp(x->slot_name[slot], s->name, SY_NAME_MAX)) {
			if (x->synced_once || !x->adopted)
				zero_vip_stats(x, slot);
			snprintf(x->slot_name[slot], SY_NAME_MAX, "%s", s->name);
			x->slot_version[slot] = 0;
		}
		if (x->slot_version[slot] == s->version && !rebuild[slot])
			continue;
		fd = build_table(base, s, wb, nwb, err, errlen);
		if (fd < 0)
			goto out;
		if (bpf_map_update_elem(tfd, &slot, &fd, BPF_ANY)) {
			fail(err, errlen, errno, "service %s: cannot swap its table in", s->name);
			close(fd);
			goto out;
		}
		close(fd); /* sy_tables holds it now */
		x->slot_version[slot] = s->version;
	}

	/* 2b. QUIC server IDs, once their backends are placed */
	if (sync_quic_ids(x, wq, nwq, wb, nwb, err, errlen))
		goto out;
	wq = NULL;

	/* 3. VIP records (new, changed), then 4. VIPs that left */
	for (size_t i = 0; i < nwv; i++) {
		struct sy_xdp_vip_entry *have =
			x->n_vips ? bsearch(&wv[i], x->vips, x->n_vips, sizeof(*wv), cmp_vip) : NULL;

		if (have && !memcmp(&have->v, &wv[i].v, sizeof(wv[i].v)))
			continue;
		if (bpf_map_update_elem(vfd, &wv[i].key, &wv[i].v, BPF_ANY)) {
			fail(err, errlen, errno, "%s", "cannot write sy_vips");
			goto out;
		}
	}
	/* 3b. address records (new, changed), 3c. addresses that left: after
	 * the VIP upserts and before their deletions, so that a record never
	 * sends a packet to sy_vips for services not (or no longer) there */
	if (sync_addrs(x, wv, nwv, err, errlen))
		goto out;
	for (size_t i = 0; i < x->n_vips; i++)
		if (!bsearch(&x->vips[i], wv, nwv, sizeof(*wv), cmp_vip))
			bpf_map_delete_elem(vfd, &x->vips[i].key);
	free(x->vips);
	x->vips = wv;
	x->n_vips = nwv;
	wv = NULL;

	/* 5. tables of services that left */
	for (uint32_t slot = 0; slot < SY_XDP_MAX_SERVICES; slot++) {
		/* after the first sync only slots we filled can hold a table;
		 * the first one also clears what an adopted run left */
		if (slot_used[slot] || (x->synced_once && !x->slot_name[slot][0]))
			continue;
		bpf_map_delete_elem(tfd, &slot);
		x->slot_version[slot] = 0;
		x->slot_name[slot][0] = 0;
	}

	/* 6. backends that left: gone now (their tracked flows re-hash), deleted
	 * after the grace period by sy_xdp_tick() */
	merged = calloc(nwb + x->n_bes + 1, sizeof(*merged));
	if (!merged) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(merged, wb, nwb * sizeof(*wb));
	nm = nwb;
	for (size_t i = 0; i < x->n_bes; i++) {
		struct mirror_backend *o = &x->bes[i];

		if (find_be(wb, nwb, o->uid))
			continue;
		if (!o->gone_ms) {
			/* its slot first: readers of the slot then ask sy_backends */
			sy_xdp_be_slots_retire(x->slots, &o->v, now);
			o->v.flags |= SY_XDP_BACKEND_GONE;
			o->gone_ms = now;
			bpf_map_update_elem(bfd, &o->uid, &o->v, BPF_ANY);
		}
		merged[nm++] = *o;
	}
	qsort(merged, nm, sizeof(*merged), cmp_uid);
	free(x->bes);
	x->bes = merged;
	x->n_bes = nm;
	merged = NULL;
	x->synced_once = true;
	x->least_conns = least_conns;
	rc = 0;
out:
	free(slot_used);
	free(rebuild);
	free(wb);
	free(wv);
	free(wq);
	return rc;
}

/* ---- Active connections for least-connections ------------------------- */

/* CLOCK_MONOTONIC_COARSE in ns: the program's bpf_ktime_get_coarse_ns(). */
static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sy_xdp_count_conns(struct sy_xdp *x)
{
	uint64_t *slot_uid = calloc(SY_XDP_MAX_BACKENDS, sizeof(*slot_uid)), now = coarse_ns();
	uint32_t *n = calloc(SY_XDP_MAX_BACKENDS, sizeof(*n)), epoch;

	if (!slot_uid || !n) {
		free(slot_uid);
		free(n);
		return -1;
	}
	/* the backend each slot holds now: a way naming a departed one, or
	 * an earlier holder of the slot, counts for nobody */
	for (size_t i = 0; i < x->n_bes; i++)
		if (!x->bes[i].gone_ms && x->bes[i].v.slot < SY_XDP_MAX_BACKENDS)
			slot_uid[x->bes[i].v.slot] = x->bes[i].uid;
	/* the live ways of every CPU's table (the CPUs write on meanwhile: a
	 * flow that starts or ends during the walk may be missed until the
	 * next count) */
	for (size_t k = 0; k < (size_t)x->ct_sets * (size_t)x->ncpus; k++) {
		const struct sy_xdp_ct_set *set = &x->ct[k];

		for (uint32_t i = 0; i < SY_XDP_CT_WAYS; i++) {
			uint64_t ref = __atomic_load_n(&set->ref[i], __ATOMIC_RELAXED);
			uint32_t slot = sy_xdp_ref_slot(ref);

			if (__atomic_load_n(&set->expires_ns[i], __ATOMIC_RELAXED) < now || !ref ||
			    slot >= SY_XDP_MAX_BACKENDS || slot_uid[slot] != sy_xdp_ref_uid(ref))
				continue;
			n[slot]++;
		}
	}
	/* a new epoch: each CPU's own new flows start again from this count */
	epoch = ++x->conns_epoch;
	for (uint32_t slot = 0; slot < SY_XDP_MAX_BACKENDS; slot++)
		__atomic_store_n(&x->be_conns[slot], sy_xdp_conns_pack(n[slot], epoch),
				 __ATOMIC_RELAXED);
	free(slot_uid);
	free(n);
	return 0;
}

/* The sy_be_conns entry of a backend of the last sync, NULL if none. */
static uint64_t *conns_of(struct sy_xdp *x, uint64_t uid)
{
	struct mirror_backend *b = find_be(x->bes, x->n_bes, uid);

	return b && !b->gone_ms && b->v.slot < SY_XDP_MAX_BACKENDS ? &x->be_conns[b->v.slot] : NULL;
}

int sy_xdp_set_conns(struct sy_xdp *x, uint64_t uid, uint32_t conns)
{
	uint64_t *c = conns_of(x, uid);

	if (!c)
		return -1;
	__atomic_store_n(c, sy_xdp_conns_pack(conns, x->conns_epoch), __ATOMIC_RELAXED);
	return 0;
}

int64_t sy_xdp_conns(struct sy_xdp *x, uint64_t uid)
{
	uint64_t *c = conns_of(x, uid);

	return c ? (int64_t)(uint32_t)__atomic_load_n(c, __ATOMIC_RELAXED) : -1;
}

void sy_xdp_tick(struct sy_xdp *x)
{
	int bfd = bpf_map__fd(x->skel->maps.sy_backends);
	uint64_t now = now_ms();
	size_t k = 0;

	sy_xdp_vip_slots_tick(x->vip_slots, now);
	for (size_t i = 0; i < x->n_bes; i++) {
		struct mirror_backend *b = &x->bes[i];

		if (b->gone_ms && now - b->gone_ms >= x->grace_ms) {
			bpf_map_delete_elem(bfd, &b->uid);
			continue;
		}
		x->bes[k++] = *b;
	}
	x->n_bes = k;
	/* least-connections' counts: only while a service uses them */
	if (x->least_conns && now - x->conns_ms >= SY_XDP_CONNS_EVERY_MS) {
		x->conns_ms = now;
		sy_xdp_count_conns(x);
	}
}

/* ---- Counters -------------------------------------------------------- */

/* out[i] = the sum over CPUs of the n words at byte offset off of each
 * CPU's block. Each CPU writes its own words with plain stores: a word is
 * read whole (aligned 64-bit loads). */
static void sum_cpus(const struct sy_xdp *x, size_t off, uint64_t *out, size_t n)
{
	memset(out, 0, n * sizeof(*out));
	for (int c = 0; c < x->ncpus; c++) {
		const volatile uint64_t *v = (const volatile uint64_t *)((const uint8_t *)&x->stats[c] + off);

		for (size_t i = 0; i < n; i++)
			out[i] += v[i];
	}
}

void sy_xdp_read_counters(struct sy_xdp *x, uint64_t out[SY_LCORE_NCOUNTERS])
{
	sum_cpus(x, offsetof(struct sy_xdp_cpu_stats, counters), out, SY_LCORE_NCOUNTERS);
}

void sy_xdp_read_vip(struct sy_xdp *x, uint32_t slot, struct sy_vip_counters *out)
{
	_Static_assert(sizeof(*out) == 4 * sizeof(uint64_t), "four counters");
	if (slot >= SY_XDP_MAX_SERVICES) {
		memset(out, 0, sizeof(*out));
		return;
	}
	sum_cpus(x, offsetof(struct sy_xdp_cpu_stats, vips) + slot * sizeof(*out), (uint64_t *)out, 4);
}

void sy_xdp_read_backend(struct sy_xdp *x, uint32_t slot, struct sy_backend_counters *out)
{
	_Static_assert(sizeof(*out) == 2 * sizeof(uint64_t), "two counters");
	if (slot >= SY_XDP_MAX_BACKENDS) {
		memset(out, 0, sizeof(*out));
		return;
	}
	sum_cpus(x, offsetof(struct sy_xdp_cpu_stats, backends) + slot * sizeof(*out),
		 (uint64_t *)out, 2);
}

void sy_xdp_export_stats(struct sy_xdp *x, const struct sy_region_map *m,
			 const struct sy_snapshot *snap, struct sy_lcore_stats *block)
{
	struct sy_vip_counters *vips = sy_stats_vips(block);
	struct sy_backend_counters *bes = sy_stats_backends(m, block);

	sy_xdp_read_counters(x, block->counters);
	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(m->base, snap, i);
		const struct sy_backend *b = sy_service_backends(m->base, s);

		if (s->slot < m->hdr->limits.max_services)
			sy_xdp_read_vip(x, s->slot, &vips[s->slot]);
		for (uint32_t j = 0; j < s->n_backends; j++)
			if (b[j].slot < m->hdr->limits.max_backends)
				sy_xdp_read_backend(x, b[j].slot, &bes[b[j].slot]);
	}
}

int sy_xdp_ct_lookup(struct sy_xdp *x, const struct sy_flow_key *key, uint32_t seed,
		     uint64_t *uid)
{
	uint64_t now = coarse_now_ns(), w[SY_XDP_CT_KEY_WORDS];

	sy_xdp_ct_key(key, w);
	for (int c = 0; c < x->ncpus; c++) {
		const volatile struct sy_xdp_ct_set *set = ct_set_of(x, (uint32_t)c, key, seed);

		for (uint32_t i = 0; i < SY_XDP_CT_WAYS; i++) {
			/* the owner CPU may be rewriting the way (it clears the
			 * deadline first, sets it last): the key read after the
			 * deadline and the ref says whose they were */
			uint64_t expires = set->expires_ns[i], ref = set->ref[i];

			if (expires >= now && ref &&
			    sy_xdp_ct_way_is((const struct sy_xdp_ct_set *)set, i, w)) {
				*uid = sy_xdp_ref_uid(ref);
				return 1;
			}
		}
	}
	return 0;
}

int sy_xdp_backend_record(struct sy_xdp *x, uint64_t uid, struct sy_xdp_backend *out)
{
	return bpf_map_lookup_elem(bpf_map__fd(x->skel->maps.sy_backends), &uid, out) == 0;
}

/* ---- Close ----------------------------------------------------------- */

void sy_xdp_close(struct sy_xdp *x, bool keep)
{
	if (!x)
		return;
	if (x->pinned && !keep) {
		char path[512];

		link_path(x, path, sizeof(path));
		unlink(path);
		if (x->skel) {
			struct bpf_map *const *maps;
			size_t n;

			maps = all_maps(x->skel, &n);
			for (size_t i = 0; i < n; i++)
				bpf_map__unpin(maps[i], NULL);
		}
		rmdir(x->pin_dir);
	}
	if (x->link_fd >= 0)
		close(x->link_fd); /* the last reference: detaches, unless pinned */
	for (int c = 0; x->old_ct_fd && c < x->ncpus; c++)
		if (x->old_ct_fd[c] >= 0)
			close(x->old_ct_fd[c]);
	if (x->stats)
		munmap(x->stats, x->stats_len);
	if (x->be_conns)
		munmap(x->be_conns, sizeof(*x->be_conns) * SY_XDP_MAX_BACKENDS);
	if (x->ct)
		munmap(x->ct, x->ct_len);
	free(x->old_ct_fd);
	sy_xdp_be_slots_free(x->slots);
	sy_xdp_vip_slots_free(x->vip_slots);
	if (x->vip_slot_map)
		munmap(x->vip_slot_map, sizeof(*x->vip_slot_map) * SY_XDP_VIP_SLOTS);
	sy_xdp_lb__destroy(x->skel);
	free(x->vips);
	free(x->addrs);
	free(x->bes);
	free(x->quic);
	free(x->slot_version);
	free(x->slot_name);
	free(x->stats_uid);
	free(x);
}
