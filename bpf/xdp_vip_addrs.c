/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Address records of the XDP program's VIP index (see xdp_vip_addrs.h).
 */
#include <stdlib.h>
#include <string.h>

#include <switchyard/pkt_hdr.h>

#include "xdp_vip_addrs.h"

int sy_xdp_addr_record_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct sy_xdp_addr_record *)a)->key,
		      &((const struct sy_xdp_addr_record *)b)->key, sizeof(struct sy_xdp_addr_key));
}

static struct sy_xdp_addr_key addr_key(const struct sy_vip_key *k)
{
	struct sy_xdp_addr_key a;

	memset(&a, 0, sizeof(a));
	memcpy(a.addr, k->addr, sizeof(a.addr));
	a.family = k->family;
	return a;
}

struct sy_xdp_addr_record *sy_xdp_addr_records(const struct sy_xdp_vip_entry *vips, size_t n,
					       size_t *n_out)
{
	/* at most one record per service: sort them by address, then merge
	 * each address's services into its first record */
	struct sy_xdp_addr_record *r = calloc(n ? n : 1, sizeof(*r));
	size_t m = 0, out = 0;

	*n_out = 0;
	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct sy_vip_key *k = &vips[i].key;
		struct sy_xdp_addr_services *as;

		/* services only (not address entries), of the protocols the
		 * program classifies */
		if ((k->family & SY_VIP_ADDR_KEY) ||
		    (k->proto != SY_IPPROTO_TCP && k->proto != SY_IPPROTO_UDP))
			continue;
		r[m].key = addr_key(k);
		as = k->proto == SY_IPPROTO_TCP ? &r[m].v.tcp : &r[m].v.udp;
		as->kind = SY_XDP_ADDR_ONE;
		as->port = k->port;
		as->svc = vips[i].v;
		m++;
	}
	qsort(r, m, sizeof(*r), sy_xdp_addr_record_cmp);
	for (size_t i = 0; i < m; i++) {
		struct sy_xdp_addr_services *to[2], *from[2] = { &r[i].v.tcp, &r[i].v.udp };

		if (out && !sy_xdp_addr_record_cmp(&r[out - 1], &r[i])) {
			/* another service of the same address */
			to[0] = &r[out - 1].v.tcp;
			to[1] = &r[out - 1].v.udp;
			for (int p = 0; p < 2; p++) {
				if (from[p]->kind == SY_XDP_ADDR_NONE)
					continue;
				if (to[p]->kind == SY_XDP_ADDR_NONE) {
					*to[p] = *from[p];
				} else {
					memset(to[p], 0, sizeof(*to[p]));
					to[p]->kind = SY_XDP_ADDR_MANY;
				}
			}
			continue;
		}
		if (out != i)
			r[out] = r[i];
		out++;
	}
	*n_out = out;
	return r;
}
