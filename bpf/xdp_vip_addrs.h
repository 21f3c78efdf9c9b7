/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The XDP program's address records (sy_vip_addrs, include/switchyard/
 * xdp_maps.h), derived from the VIP index it mirrors: one record per VIP
 * address of a TCP or UDP service, holding per protocol the address's one
 * service, or "several" (the program then looks the packet's up in
 * sy_vips). Pure functions: bpf/xdp_lb.c writes the result into the map.
 */
#ifndef SY_BPF_XDP_VIP_ADDRS_H
#define SY_BPF_XDP_VIP_ADDRS_H

#include <stddef.h>

#include <switchyard/xdp_maps.h>

/* An entry of sy_vips: a service's VIP or an address entry
 * (family | SY_VIP_ADDR_KEY). */
struct sy_xdp_vip_entry {
	struct sy_vip_key key;
	struct sy_xdp_service v;
};

/* An entry of sy_vip_addrs. */
struct sy_xdp_addr_record {
	struct sy_xdp_addr_key key;
	struct sy_xdp_vip_addr v;
};

/* The address records of the n entries of a VIP index (any order), sorted
 * by key (sy_xdp_addr_record_cmp); unused bytes are zero, so that records
 * compare with memcmp. NULL if out of memory; *n_out records. */
struct sy_xdp_addr_record *sy_xdp_addr_records(const struct sy_xdp_vip_entry *vips, size_t n,
					       size_t *n_out);

/* Order of records by key (qsort / bsearch). */
int sy_xdp_addr_record_cmp(const void *a, const void *b);

#endif
