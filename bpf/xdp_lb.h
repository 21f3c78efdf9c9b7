/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Userspace side of the XDP fallback path: load sy_xdp_lb.bpf.o through its
 * skeleton, pin or adopt its maps, attach it to an interface, mirror region
 * snapshots into its maps and read its counters back. Used by sy-control
 * (--dataplane xdp) and by the tests. Map layout: include/switchyard/xdp_maps.h.
 *
 * Not thread-safe: sy-control calls it under its daemon lock.
 */
#ifndef SY_BPF_XDP_LB_H
#define SY_BPF_XDP_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/region.h>
#include <switchyard/xdp_maps.h>

struct sy_xdp;

struct sy_xdp_opts {
	/* bpffs directory for the maps and the XDP link, created if missing.
	 * If it already holds them, they are adopted: the running program
	 * keeps its connection table and is replaced atomically by ours on
	 * attach. NULL: nothing pinned (tests). */
	const char *pin_dir;
	uint32_t ct_flows;  /* flows of each CPU's connection table (rounded up to
			     * whole sets of SY_XDP_CT_WAYS); 0 = SY_XDP_CT_DEFAULT_FLOWS */
	uint32_t grace_ms;  /* how long a departed backend stays in sy_backends
			     * (marked gone) before it is deleted; 0 = 2000 */
};

/* Load the program (adopting pinned maps, see above). */
int sy_xdp_open(struct sy_xdp **out, const struct sy_xdp_opts *o, char *err, size_t errlen);

/* Whether sy_xdp_open found pinned maps and a pinned link of an earlier run. */
bool sy_xdp_adopted(const struct sy_xdp *x);

/* The pinned maps sy_xdp_open found with another layout (an earlier build,
 * another --xdp-ct-flows) and replaced, empty, by this build's: their names,
 * space-separated, or "". */
const char *sy_xdp_replaced(const struct sy_xdp *x);

/* Whether sy_xdp_attach found the pinned link of an earlier run detached
 * (`bpftool link detach`, its interface deleted) and attached a new one in
 * its place. */
bool sy_xdp_relinked(const struct sy_xdp *x);

/* Write sy_config[0] (marks it configured: the program starts balancing). */
int sy_xdp_configure(struct sy_xdp *x, const struct sy_xdp_config *cfg, char *err, size_t errlen);

enum sy_xdp_attach_mode { SY_XDP_NATIVE = 0, SY_XDP_GENERIC = 1 };

/* Attach to ifname through a BPF link (pinned when pin_dir is set). With an
 * adopted link the program is swapped in place: no packet sees no program. */
int sy_xdp_attach(struct sy_xdp *x, const char *ifname, enum sy_xdp_attach_mode mode, char *err,
		  size_t errlen);

/* Mirror a region snapshot into the maps: backends first, then each changed
 * service's table (a new inner map swapped in), then the VIP records; what
 * left is removed last. Unchanged services (same object version) cost
 * nothing. 0, or -1 with err (the maps then hold a consistent mix: every
 * table names backends that exist). */
int sy_xdp_sync(struct sy_xdp *x, const uint8_t *base, const struct sy_snapshot *snap, char *err,
		size_t errlen);

/* Delete departed backends whose grace period is over; while a service is
 * least-connections, count the active connections every
 * SY_XDP_CONNS_EVERY_MS. Call periodically. */
void sy_xdp_tick(struct sy_xdp *x);

/* Count every CPU's live connections per backend and publish the counts
 * in sy_be_conns, in a new epoch (xdp_maps.h): 0, or -1 (out of memory). */
int sy_xdp_count_conns(struct sy_xdp *x);
/* Publish `conns` for the backend with this uid, in the current epoch
 * (tests: both paths given the same counts): 0, or -1 if it is not one of
 * the last sync's. */
int sy_xdp_set_conns(struct sy_xdp *x, uint64_t uid, uint32_t conns);
/* The published count of the backend with this uid, -1 if unknown. */
int64_t sy_xdp_conns(struct sy_xdp *x, uint64_t uid);

int sy_xdp_prog_fd(const struct sy_xdp *x);

/* Whether the program's link is still attached to its interface (an
 * interface deleted, or `bpftool link detach`, detaches it). */
bool sy_xdp_attached(const struct sy_xdp *x);

/* Counters summed over CPUs (indices of include/switchyard/counters.h). */
void sy_xdp_read_counters(struct sy_xdp *x, uint64_t out[SY_LCORE_NCOUNTERS]);
void sy_xdp_read_vip(struct sy_xdp *x, uint32_t slot, struct sy_vip_counters *out);
void sy_xdp_read_backend(struct sy_xdp *x, uint32_t slot, struct sy_backend_counters *out);

/* Copy every counter of the snapshot's services and backends into a region
 * stats block, so that readers of the region (metrics, syctl) show the XDP
 * path's figures exactly as they show the DPDK path's. */
void sy_xdp_export_stats(struct sy_xdp *x, const struct sy_region_map *m,
			 const struct sy_snapshot *snap, struct sy_lcore_stats *block);

/* Conntrack entry of a flow on any CPU: 1 and the backend uid, or 0. seed:
 * the hash seed of the flow's service (its set follows from the flow hash). */
int sy_xdp_ct_lookup(struct sy_xdp *x, const struct sy_flow_key *key, uint32_t seed,
		     uint64_t *uid);

/* The XDP maps' record of backend uid (sy_backends): 1 and *out, or 0 if
 * they hold none. For diagnostics: what the program would forward to. */
int sy_xdp_backend_record(struct sy_xdp *x, uint64_t uid, struct sy_xdp_backend *out);

/* What sy_xdp_ct_migrate() did. */
struct sy_xdp_ct_migration {
	uint32_t tables;  /* CPUs whose earlier-layout table was read */
	uint64_t live;    /* live flows in them */
	uint64_t kept;    /* of those, now in our tables (the rest: their service
			   * left, or their set was full) */
};

/* Pinned connection tables of the earlier layout (an LRU hash per CPU, up
 * to f5f4934) found by sy_xdp_open(): copy their live flows into this
 * build's tables, each into the same CPU's table, then let them go (their
 * pin is already removed). Call after the first sy_xdp_sync() (a flow's
 * set follows from its service's seed, read from sy_vips) and before
 * sy_xdp_attach() (nothing of ours writes the tables yet). 1 if there were
 * such tables (*m says what moved), else 0. */
int sy_xdp_ct_migrate(struct sy_xdp *x, struct sy_xdp_ct_migration *m);

/* Stop: detach and unpin everything, or (keep = true) leave the program
 * attached and its maps pinned for the next sy-control to adopt. */
void sy_xdp_close(struct sy_xdp *x, bool keep);

#endif
