/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The XDP program's QUIC server IDs (sy_quic_ids, include/switchyard/
 * xdp_maps.h), derived from a snapshot: one entry per backend with a server
 * ID in a quic service. bpf/xdp_lb.c syncs them after the backends and
 * tables: the keys that left deleted first, then the new ones written.
 */
#ifndef SY_BPF_XDP_QUIC_IDS_H
#define SY_BPF_XDP_QUIC_IDS_H

#include <stddef.h>

#include <switchyard/region.h>
#include <switchyard/xdp_maps.h>

struct sy_xdp_quic_entry {
	struct sy_xdp_quic_key key;
	uint64_t uid; /* the backend */
	uint64_t ref; /* the value written: sy_xdp_ref(its sy_be_slots slot, uid) */
};

/* The entries of snap's quic services, sorted by key
 * (sy_xdp_quic_entry_cmp). NULL only if out of memory; *n_out entries. */
struct sy_xdp_quic_entry *sy_xdp_quic_entries(const uint8_t *base, const struct sy_snapshot *snap,
					      size_t *n_out);

int sy_xdp_quic_entry_cmp(const void *a, const void *b);

#endif
