/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-decap: attaches, inspects and detaches the backend-side decapsulation
 * XDP program (sy_xdp_decap.bpf.c) on one interface.
 *
 *   sy-decap attach IFACE [--gue-port N] [--mode native|generic]
 *                         [--allow-dst ADDR]... [--allow-src ADDR]...
 *   sy-decap detach IFACE
 *   sy-decap status IFACE [--json]
 *
 * The program is attached through netlink (like `ip link set xdp`), so the
 * attachment lives as long as the interface, not as long as this process or
 * a pin: that matters under `ip netns exec`, which gives every command a
 * private /sys and so a bpffs that disappears with it. status and detach
 * find the program through the kernel (the interface's XDP program, named
 * sy_xdp_decap) and its maps through the program. For bpftool and operators
 * the program and its maps are also pinned under
 * /sys/fs/bpf/switchyard/decap/IFACE/ (prog, counters, config, allow_dst,
 * allow_src; bpffs is mounted if it is not); detach removes the pins.
 *
 * Exit status: 0 success, 1 failure (unknown interface, already attached,
 * not attached, kernel refusal), 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <switchyard/pkt_hdr.h>

#include "sy_xdp_decap.skel.h"

#define PROG_NAME "sy_xdp_decap"
#define BPFFS "/sys/fs/bpf"
#define PIN_ROOT BPFFS "/switchyard/decap"
#define MAX_ALLOW 256 /* max_entries of allow_dst / allow_src */

/* The same order as enum sy_decap_counter in sy_xdp_decap.bpf.c. */
static const char *const counter_names[] = {
	"decap_ipip4", "decap_ipip6", "decap_gue4", "decap_gue6",
	"pass_not_tunnel", "pass_not_allowed", "pass_malformed",
};
#define N_COUNTERS (sizeof(counter_names) / sizeof(counter_names[0]))

/* Layouts shared with sy_xdp_decap.bpf.c (struct sy_decap_config and
 * struct sy_decap_addr there). */
struct decap_config {
	uint16_t gue_port; /* network order; 0 = default */
	uint8_t check_dst;
	uint8_t check_src;
};

struct decap_addr {
	uint32_t family; /* 4 or 6 */
	uint32_t addr[4];
};

static const char *const pin_names[] = { "prog", "counters", "config", "allow_dst",
					 "allow_src" };

static const char *cmd_name = "sy-decap";

static void __attribute__((format(printf, 1, 2))) err_msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cmd_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sy-decap attach IFACE [--gue-port N] [--mode native|generic]\n"
		"                             [--allow-dst ADDR]... [--allow-src ADDR]...\n"
		"       sy-decap detach IFACE\n"
		"       sy-decap status IFACE [--json]\n"
		"       sy-decap --version | --help\n"
		"Strips Switchyard's ipip/GUE encapsulation in XDP on IFACE.\n"
		"  --gue-port N      outer UDP destination port of GUE (default %d)\n"
		"  --mode M          native (driver XDP, the default) or generic (skb)\n"
		"  --allow-dst ADDR  decapsulate only packets to ADDR (repeatable;\n"
		"                    IPv4 or IPv6; none given: any destination)\n"
		"  --allow-src ADDR  ... and only from ADDR (the load balancers)\n"
		"  --json            status as one JSON object\n",
		SY_GUE_DEFAULT_PORT);
}

/* Usage errors: one line, exit 2. */
static int __attribute__((format(printf, 1, 2))) usage_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cmd_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see sy-decap --help)\n");
	return 2;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- Options ---------------------------------------------------------------- */

struct opts {
	const char *iface;
	unsigned int ifindex;
	uint16_t gue_port; /* host order */
	bool generic;
	bool json;
	struct decap_addr dst[MAX_ALLOW], src[MAX_ALLOW];
	unsigned int n_dst, n_src;
};

static int parse_addr(const char *s, struct decap_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1) {
		a->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		a->family = 6;
		return 0;
	}
	return -1;
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

enum { OPT_GUE_PORT = 256, OPT_MODE, OPT_ALLOW_DST, OPT_ALLOW_SRC, OPT_JSON };

/* Parses argv[1..] of `sy-decap CMD ...`; returns 0 or the exit status. */
static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o)
{
	static const struct option long_opts[] = {
		{ "gue-port", required_argument, NULL, OPT_GUE_PORT },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "allow-dst", required_argument, NULL, OPT_ALLOW_DST },
		{ "allow-src", required_argument, NULL, OPT_ALLOW_SRC },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	bool attach = strcmp(cmd, "attach") == 0, status = strcmp(cmd, "status") == 0;
	int c, idx;

	o->gue_port = SY_GUE_DEFAULT_PORT;
	opterr = 0;
	optind = 1;
	while ((idx = -1, c = getopt_long(argc, argv, ":", long_opts, &idx)) != -1) {
		if (c != '?' && c != ':' && c != OPT_JSON && !attach)
			return usage_err("%s: option --%s is for attach only", cmd,
					 long_opts[idx].name);
		switch (c) {
		case OPT_GUE_PORT:
			if (parse_port(optarg, &o->gue_port))
				return usage_err("bad port '%s' for --gue-port (1-65535)", optarg);
			break;
		case OPT_MODE:
			if (strcmp(optarg, "native") == 0 || strcmp(optarg, "drv") == 0)
				o->generic = false;
			else if (strcmp(optarg, "generic") == 0 || strcmp(optarg, "skb") == 0)
				o->generic = true;
			else
				return usage_err("bad mode '%s' for --mode (native or generic)",
						 optarg);
			break;
		case OPT_ALLOW_DST:
		case OPT_ALLOW_SRC: {
			bool dst = c == OPT_ALLOW_DST;
			unsigned int *n = dst ? &o->n_dst : &o->n_src;
			struct decap_addr *list = dst ? o->dst : o->src;
			struct decap_addr a;

			if (parse_addr(optarg, &a))
				return usage_err("bad address '%s' for --allow-%s (IPv4 or IPv6)",
						 optarg, dst ? "dst" : "src");
			if (*n == MAX_ALLOW)
				return usage_err("too many --allow-%s (at most %d)",
						 dst ? "dst" : "src", MAX_ALLOW);
			list[(*n)++] = a;
			break;
		}
		case OPT_JSON:
			if (!status)
				return usage_err("%s: option --json is for status only", cmd);
			o->json = true;
			break;
		case ':':
			return usage_err("option %s needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				return usage_err("unknown option '-%c'", optopt);
			return usage_err("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_err("%s: missing interface name", cmd);
	if (optind + 1 < argc)
		return usage_err("%s: unexpected argument '%s'", cmd, argv[optind + 1]);
	o->iface = argv[optind];
	if (strlen(o->iface) >= IFNAMSIZ || strchr(o->iface, '/') || o->iface[0] == '.' ||
	    !(o->ifindex = if_nametoindex(o->iface))) {
		err_msg("unknown interface '%s'", o->iface);
		return 1;
	}
	return 0;
}

/* ---- Finding our program on an interface -------------------------------- */

struct found {
	uint32_t prog_id;        /* 0: not attached */
	int prog_fd;
	uint32_t mode_flag;      /* XDP_FLAGS_DRV_MODE / SKB_MODE / HW_MODE */
	uint32_t other_id;       /* a program that is not ours */
	char other_name[BPF_OBJ_NAME_LEN];
	int map_fd[4];           /* counters, config, allow_dst, allow_src; -1 */
};

static const char *mode_name(uint32_t flag)
{
	switch (flag) {
	case XDP_FLAGS_DRV_MODE:
		return "native";
	case XDP_FLAGS_SKB_MODE:
		return "generic";
	case XDP_FLAGS_HW_MODE:
		return "offload";
	}
	return "unknown";
}

static void found_close(struct found *f)
{
	if (f->prog_fd >= 0)
		close(f->prog_fd);
	for (int i = 0; i < 4; i++)
		if (f->map_fd[i] >= 0)
			close(f->map_fd[i]);
}

/* The maps of program prog_fd, by name, into f->map_fd. */
static int find_maps(int prog_fd, struct found *f)
{
	static const char *const names[4] = { "counters", "config", "allow_dst",
					       "allow_src" };
	struct bpf_prog_info info;
	uint32_t ids[16], len = sizeof(info), n;

	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 16;
	info.map_ids = (uint64_t)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	n = info.nr_map_ids < 16 ? info.nr_map_ids : 16;
	for (uint32_t i = 0; i < n; i++) {
		struct bpf_map_info mi;
		uint32_t mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]), k;

		if (fd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		if (bpf_obj_get_info_by_fd(fd, &mi, &mlen)) {
			close(fd);
			continue;
		}
		for (k = 0; k < 4; k++)
			if (strcmp(mi.name, names[k]) == 0 && f->map_fd[k] < 0)
				break;
		if (k == 4 || (k == 0 && (mi.value_size != 8 || mi.max_entries != N_COUNTERS))) {
			close(fd);
			continue;
		}
		f->map_fd[k] = fd;
	}
	return f->map_fd[0] >= 0 && f->map_fd[1] >= 0 ? 0 : -ENOENT;
}

/* Looks at the XDP programs of ifindex: ours (named sy_xdp_decap, with our
 * maps) goes to f->prog_*, any other to f->other_*. */
static int find_prog(unsigned int ifindex, struct found *f)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct {
		uint32_t id, flag;
	} cand[3];
	int err;

	memset(f, 0, sizeof(*f));
	f->prog_fd = -1;
	for (int i = 0; i < 4; i++)
		f->map_fd[i] = -1;
	err = bpf_xdp_query((int)ifindex, 0, &q);
	if (err)
		return err;
	cand[0].id = q.drv_prog_id;
	cand[0].flag = XDP_FLAGS_DRV_MODE;
	cand[1].id = q.skb_prog_id;
	cand[1].flag = XDP_FLAGS_SKB_MODE;
	cand[2].id = q.hw_prog_id;
	cand[2].flag = XDP_FLAGS_HW_MODE;
	for (int i = 0; i < 3; i++) {
		struct bpf_prog_info info;
		uint32_t len = sizeof(info);
		int fd;

		if (!cand[i].id)
			continue;
		fd = bpf_prog_get_fd_by_id(cand[i].id);
		memset(&info, 0, sizeof(info));
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    strcmp(info.name, PROG_NAME) == 0 && f->prog_id == 0 &&
		    find_maps(fd, f) == 0) {
			f->prog_id = cand[i].id;
			f->prog_fd = fd;
			f->mode_flag = cand[i].flag;
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (!f->other_id) {
			f->other_id = cand[i].id;
			snprintf(f->other_name, sizeof(f->other_name), "%s",
				 info.name[0] ? info.name : "?");
		}
	}
	return 0;
}

/* ---- Pins ------------------------------------------------------------------- */

static void pin_dir(const char *iface, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", PIN_ROOT, iface);
}

static int is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Removes our pins of iface (and the directories left empty). Returns the
 * number of pins removed. */
static int unpin(const char *iface)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	int n = 0;

	if (!is_bpffs(BPFFS))
		return 0;
	pin_dir(iface, dir, sizeof(dir));
	for (size_t i = 0; i < sizeof(pin_names) / sizeof(pin_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, pin_names[i]);
		if (unlink(path) == 0)
			n++;
	}
	rmdir(dir); /* fails harmlessly if something else is in it */
	rmdir(PIN_ROOT);
	rmdir(BPFFS "/switchyard");
	return n;
}

static int pin_all(const char *iface, struct sy_xdp_decap *skel)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	int err;

	if (!is_bpffs(BPFFS) && mount("bpf", BPFFS, "bpf", 0, "mode=0700")) {
		err = -errno;
		err_msg("warning: cannot mount bpffs on %s: %s; not pinned", BPFFS,
			strerror(-err));
		return err;
	}
	unpin(iface); /* stale pins of an interface that went away */
	pin_dir(iface, dir, sizeof(dir));
	err = mkdir_p(dir);
	if (err) {
		err_msg("warning: cannot create %s: %s; not pinned", dir, strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/prog", dir);
	err = bpf_program__pin(skel->progs.sy_xdp_decap, path);
	if (!err) {
		struct bpf_map *maps[4] = { skel->maps.counters, skel->maps.config,
					    skel->maps.allow_dst, skel->maps.allow_src };

		for (int i = 0; i < 4 && !err; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, pin_names[i + 1]);
			err = bpf_map__pin(maps[i], path);
		}
	}
	if (err) {
		err_msg("warning: cannot pin %s: %s; not pinned", path, strerror(-err));
		unpin(iface);
	}
	return err;
}

/* ---- Commands ---------------------------------------------------------------- */

static int cmd_attach(struct opts *o)
{
	uint32_t mode = o->generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	struct decap_config cfg = {
		.gue_port = htons(o->gue_port),
		.check_dst = o->n_dst > 0,
		.check_src = o->n_src > 0,
	};
	struct sy_xdp_decap *skel;
	struct found f;
	uint32_t zero = 0, id;
	uint8_t one = 1;
	int err;

	err = find_prog(o->ifindex, &f);
	if (err) {
		err_msg("cannot query XDP on %s: %s", o->iface, strerror(-err));
		return 1;
	}
	found_close(&f);
	if (f.prog_id) {
		err_msg("already attached to %s (prog id %u, %s mode); detach first", o->iface,
			f.prog_id, mode_name(f.mode_flag));
		return 1;
	}
	if (f.other_id) {
		err_msg("%s already has an XDP program (id %u, %s) that is not sy-decap's",
			o->iface, f.other_id, f.other_name);
		return 1;
	}

	skel = sy_xdp_decap__open_and_load();
	if (!skel) {
		err_msg("cannot load the XDP program: %s (needs root; the verifier log, "
			"if any, is above)", strerror(errno));
		return 1;
	}
	err = bpf_map__update_elem(skel->maps.config, &zero, sizeof(zero), &cfg, sizeof(cfg),
				   BPF_ANY);
	for (unsigned int i = 0; !err && i < o->n_dst; i++)
		err = bpf_map__update_elem(skel->maps.allow_dst, &o->dst[i], sizeof(o->dst[i]),
					   &one, sizeof(one), BPF_ANY);
	for (unsigned int i = 0; !err && i < o->n_src; i++)
		err = bpf_map__update_elem(skel->maps.allow_src, &o->src[i], sizeof(o->src[i]),
					   &one, sizeof(one), BPF_ANY);
	if (err) {
		err_msg("cannot configure the XDP program: %s", strerror(-err));
		sy_xdp_decap__destroy(skel);
		return 1;
	}

	err = bpf_xdp_attach((int)o->ifindex, bpf_program__fd(skel->progs.sy_xdp_decap),
			     XDP_FLAGS_UPDATE_IF_NOEXIST | mode, NULL);
	if (err) {
		err_msg("cannot attach to %s in %s mode: %s%s", o->iface, mode_name(mode),
			strerror(-err),
			err == -EBUSY || err == -EEXIST
				? " (another XDP program is attached)"
				: !o->generic ? " (the driver may lack native XDP: try --mode generic)"
					      : "");
		sy_xdp_decap__destroy(skel);
		return 1;
	}
	pin_all(o->iface, skel); /* a failure is only a warning */
	if (bpf_xdp_query_id((int)o->ifindex, (int)mode, &id))
		id = 0;
	printf("sy-decap: attached to %s (prog id %u, %s mode, GUE port %u, %u allowed "
	       "destinations, %u allowed sources)\n",
	       o->iface, id, mode_name(mode), o->gue_port, o->n_dst, o->n_src);
	sy_xdp_decap__destroy(skel); /* the attachment holds the program */
	return 0;
}

static int cmd_detach(struct opts *o)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, a);
	struct found f;
	int err, pins;

	err = find_prog(o->ifindex, &f);
	if (err) {
		err_msg("cannot query XDP on %s: %s", o->iface, strerror(-err));
		return 1;
	}
	if (!f.prog_id) {
		pins = unpin(o->iface);
		found_close(&f);
		if (f.other_id)
			err_msg("not attached to %s (its XDP program id %u, %s, is not "
				"sy-decap's: left alone)%s",
				o->iface, f.other_id, f.other_name,
				pins ? "; stale pins removed" : "");
		else
			err_msg("not attached to %s%s", o->iface,
				pins ? " (stale pins removed)" : "");
		return 1;
	}
	a.old_prog_fd = f.prog_fd; /* detach only if it is still ours */
	err = bpf_xdp_detach((int)o->ifindex, f.mode_flag, &a);
	found_close(&f);
	if (err) {
		err_msg("cannot detach from %s: %s", o->iface, strerror(-err));
		return 1;
	}
	unpin(o->iface);
	printf("sy-decap: detached from %s (prog id %u, %s mode)\n", o->iface, f.prog_id,
	       mode_name(f.mode_flag));
	return 0;
}

/* Addresses of an allow map, formatted into out[] (at most max). */
static unsigned int list_addrs(int fd, char out[][INET6_ADDRSTRLEN], unsigned int max)
{
	struct decap_addr key, next;
	unsigned int n = 0;
	void *prev = NULL;

	if (fd < 0)
		return 0;
	while (n < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (!inet_ntop(next.family == 4 ? AF_INET : AF_INET6, next.addr, out[n],
			       INET6_ADDRSTRLEN))
			snprintf(out[n], INET6_ADDRSTRLEN, "?");
		n++;
		key = next;
		prev = &key;
	}
	return n;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int cmd_status(struct opts *o)
{
	static char dst[MAX_ALLOW][INET6_ADDRSTRLEN], src[MAX_ALLOW][INET6_ADDRSTRLEN];
	uint64_t totals[N_COUNTERS] = { 0 };
	struct decap_config cfg = { 0 };
	unsigned int n_dst = 0, n_src = 0;
	uint32_t zero = 0;
	struct found f;
	int err, ncpus;

	err = find_prog(o->ifindex, &f);
	if (err) {
		err_msg("cannot query XDP on %s: %s", o->iface, strerror(-err));
		return 1;
	}
	if (f.prog_id) {
		uint64_t *vals;

		ncpus = libbpf_num_possible_cpus();
		if (ncpus <= 0) {
			err_msg("cannot count CPUs: %s", strerror(-ncpus));
			found_close(&f);
			return 1;
		}
		vals = calloc((size_t)ncpus, sizeof(*vals));
		if (!vals) {
			err_msg("out of memory");
			found_close(&f);
			return 1;
		}
		for (uint32_t k = 0; k < N_COUNTERS; k++) {
			if (bpf_map_lookup_elem(f.map_fd[0], &k, vals)) {
				err_msg("cannot read counter %s: %s", counter_names[k],
					strerror(errno));
				free(vals);
				found_close(&f);
				return 1;
			}
			for (int c = 0; c < ncpus; c++)
				totals[k] += vals[c];
		}
		free(vals);
		if (bpf_map_lookup_elem(f.map_fd[1], &zero, &cfg))
			memset(&cfg, 0, sizeof(cfg));
		if (cfg.check_dst)
			n_dst = list_addrs(f.map_fd[2], dst, MAX_ALLOW);
		if (cfg.check_src)
			n_src = list_addrs(f.map_fd[3], src, MAX_ALLOW);
	}
	found_close(&f);

	unsigned int port = cfg.gue_port ? ntohs(cfg.gue_port) : SY_GUE_DEFAULT_PORT;
	char dir[PATH_MAX], prog_pin[PATH_MAX + 8];
	bool pinned;

	pin_dir(o->iface, dir, sizeof(dir));
	snprintf(prog_pin, sizeof(prog_pin), "%s/prog", dir);
	pinned = f.prog_id && is_bpffs(BPFFS) && access(prog_pin, F_OK) == 0;

	if (o->json) {
		printf("{\"iface\":");
		json_str(o->iface);
		printf(",\"ifindex\":%u,\"attached\":%s", o->ifindex, f.prog_id ? "true" : "false");
		if (f.prog_id) {
			printf(",\"prog_id\":%u,\"mode\":\"%s\",\"gue_port\":%u", f.prog_id,
			       mode_name(f.mode_flag), port);
			printf(",\"pin_dir\":");
			if (pinned)
				json_str(dir);
			else
				printf("null");
			printf(",\"allow_dst\":[");
			for (unsigned int i = 0; i < n_dst; i++)
				printf("%s\"%s\"", i ? "," : "", dst[i]);
			printf("],\"allow_src\":[");
			for (unsigned int i = 0; i < n_src; i++)
				printf("%s\"%s\"", i ? "," : "", src[i]);
			printf("],\"counters\":{");
			for (size_t k = 0; k < N_COUNTERS; k++)
				printf("%s\"%s\":%llu", k ? "," : "", counter_names[k],
				       (unsigned long long)totals[k]);
			printf("}");
		} else if (f.other_id) {
			printf(",\"other_prog_id\":%u", f.other_id);
		}
		printf("}\n");
		return 0;
	}
	printf("iface %s\n", o->iface);
	printf("attached %s\n", f.prog_id ? "yes" : "no");
	if (!f.prog_id) {
		if (f.other_id)
			printf("other_prog_id %u\n", f.other_id);
		return 0;
	}
	printf("prog_id %u\n", f.prog_id);
	printf("mode %s\n", mode_name(f.mode_flag));
	printf("gue_port %u\n", port);
	printf("pin_dir %s\n", pinned ? dir : "-");
	if (!n_dst)
		printf("allow_dst any\n");
	for (unsigned int i = 0; i < n_dst; i++)
		printf("allow_dst %s\n", dst[i]);
	if (!n_src)
		printf("allow_src any\n");
	for (unsigned int i = 0; i < n_src; i++)
		printf("allow_src %s\n", src[i]);
	for (size_t k = 0; k < N_COUNTERS; k++)
		printf("%s %llu\n", counter_names[k], (unsigned long long)totals[k]);
	return 0;
}

int main(int argc, char **argv)
{
	static struct opts o; /* two 5 KiB address lists */
	const char *cmd;
	int rc;

	if (argc < 2)
		return usage_err("missing command (attach, detach or status)");
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("sy-decap %s\n", SY_VERSION);
		return 0;
	}
	if (strcmp(cmd, "attach") && strcmp(cmd, "detach") && strcmp(cmd, "status"))
		return usage_err("unknown command '%s' (attach, detach or status)", cmd);
	rc = parse_opts(cmd, argc - 1, argv + 1, &o);
	if (rc)
		return rc;
	libbpf_set_print(libbpf_print);
	if (strcmp(cmd, "attach") == 0)
		return cmd_attach(&o);
	if (strcmp(cmd, "detach") == 0)
		return cmd_detach(&o);
	return cmd_status(&o);
}
