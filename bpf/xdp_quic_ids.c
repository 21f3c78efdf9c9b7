/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The QUIC server IDs of a snapshot as sy_quic_ids entries (xdp_quic_ids.h).
 */
#include <stdlib.h>

#include <switchyard/flow_hash.h>

#include "xdp_quic_ids.h"

int sy_xdp_quic_entry_cmp(const void *a, const void *b)
{
	const struct sy_xdp_quic_key *x = &((const struct sy_xdp_quic_entry *)a)->key;
	const struct sy_xdp_quic_key *y = &((const struct sy_xdp_quic_entry *)b)->key;

	if (x->svc_slot != y->svc_slot)
		return x->svc_slot < y->svc_slot ? -1 : 1;
	return x->server_id < y->server_id ? -1 : x->server_id > y->server_id;
}

struct sy_xdp_quic_entry *sy_xdp_quic_entries(const uint8_t *base, const struct sy_snapshot *snap,
					      size_t *n_out)
{
	struct sy_xdp_quic_entry *e;
	size_t n = 0, k = 0;

	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(base, snap, i);

		if (s->flags & SY_SERVICE_QUIC)
			n += s->n_quic;
	}
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return NULL;
	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(base, snap, i);
		const struct sy_quic_ref *r = (const struct sy_quic_ref *)(base + s->quic_off);
		const struct sy_backend *b = sy_service_backends(base, s);

		if (!(s->flags & SY_SERVICE_QUIC))
			continue;
		for (uint32_t j = 0; j < s->n_quic; j++, k++) {
			e[k].key = (struct sy_xdp_quic_key){ .svc_slot = s->slot,
							     .server_id = r[j].server_id };
			e[k].uid = b[r[j].index].uid;
		}
	}
	qsort(e, n, sizeof(*e), sy_xdp_quic_entry_cmp);
	*n_out = n;
	return e;
}
