/* SPDX-License-Identifier: BSD-3-Clause
 *
 * QUIC connection-ID routing, the one copy for both packet paths
 * (docs/dataplane.md, "QUIC connection IDs"). For a UDP service marked
 * `quic: true`:
 *
 *   - a long-header packet (first byte & 0x80: Initial, 0-RTT, Handshake,
 *     Retry) is balanced by the service's hash as any UDP packet
 *     (SY_QUIC_HASH, not counted);
 *   - a short-header packet (0x80 clear, fixed bit 0x40 set) carries, in the
 *     first bytes of its destination connection ID, the server ID its
 *     backend chose (Katran's encoding, below): it goes to the backend
 *     registered with that ID (SY_QUIC_SERVER_ID, quic_cid_routed);
 *   - a short-header packet whose ID is unusable (too short, fixed bit
 *     clear, a CID version other than 1 or 2, ID 0) or whose ID no backend
 *     of the service has is balanced by the hash (SY_QUIC_UNKNOWN,
 *     quic_cid_unknown).
 *
 * The connection-ID encoding (the backend writes it, we only read it): the
 * top two bits of the CID's first byte are its version.
 *   version 1 (01): a 16-bit server ID in the 16 bits after them:
 *                   cid[0] low 6 bits, cid[1], cid[2] top 2 bits;
 *   version 2 (10): a 24-bit server ID in cid[1..3] (big-endian).
 * A short header has no CID length: as Katran, the packet must hold at
 * least SY_QUIC_MIN_CID_LEN bytes after the first byte.
 *
 * The ID -> backend tables are the drivers': a sorted array in the service
 * object (region.h, sy_service_quic_backend()) for the DPDK path, the
 * sy_quic_ids hash map for XDP (xdp_maps.h).
 */
#ifndef SWITCHYARD_PKT_QUIC_H
#define SWITCHYARD_PKT_QUIC_H

#include "counters.h"
#include "pkt_frame.h"
#include "pkt_parse.h"

/* Server IDs a backend may register: 1 .. 2^24 - 1 (version 2's field;
 * a version-1 CID can carry IDs up to 0xffff only). 0 means "none". */
#define SY_QUIC_SERVER_ID_MAX 0xffffffu
#define SY_QUIC_SERVER_ID_V1_MAX 0xffffu
#define SY_QUIC_MIN_CID_LEN 8u

#define SY_QUIC_CID_V1 1u
#define SY_QUIC_CID_V2 2u

enum sy_quic_route {
	SY_QUIC_HASH = 0,      /* a long header: the service's hash as today */
	SY_QUIC_SERVER_ID = 1, /* a short header with a server ID */
	SY_QUIC_UNKNOWN = 2,   /* a short header without a usable ID: hash, counted */
};

/* The server ID of a connection ID's first 4 bytes, 0 if its version is
 * neither 1 nor 2. */
static __sy_always_inline uint32_t sy_quic_cid_server_id(const uint8_t *cid)
{
	uint32_t version = cid[0] >> 6;

	if (version == SY_QUIC_CID_V1)
		return (uint32_t)(cid[0] & 0x3f) << 10 | (uint32_t)cid[1] << 2 | cid[2] >> 6;
	if (version == SY_QUIC_CID_V2)
		return (uint32_t)cid[1] << 16 | (uint32_t)cid[2] << 8 | cid[3];
	return 0;
}

/* The reverse, for tests and test clients: the first 4 bytes of a CID of
 * this version carrying server_id (the other bits 0). 0, or -1 if the ID
 * does not fit the version. */
static __sy_always_inline int sy_quic_cid_encode(uint32_t version, uint32_t server_id,
						 uint8_t *cid)
{
	if (version == SY_QUIC_CID_V1 && server_id <= SY_QUIC_SERVER_ID_V1_MAX) {
		cid[0] = (uint8_t)(0x40 | server_id >> 10);
		cid[1] = (uint8_t)(server_id >> 2);
		cid[2] = (uint8_t)((server_id & 3) << 6);
		cid[3] = 0;
		return 0;
	}
	if (version == SY_QUIC_CID_V2 && server_id <= SY_QUIC_SERVER_ID_MAX) {
		cid[0] = 0x80;
		cid[1] = (uint8_t)(server_id >> 16);
		cid[2] = (uint8_t)(server_id >> 8);
		cid[3] = (uint8_t)server_id;
		return 0;
	}
	return -1;
}

/* How a whole UDP packet of a quic service is routed; *server_id is set
 * for SY_QUIC_SERVER_ID. Reads up to 5 bytes of the UDP payload. */
static __sy_always_inline enum sy_quic_route sy_quic_route(sy_frame *f, const struct sy_parsed *p,
							   uint32_t *server_id)
{
	uint32_t off = p->l4_off + 8, end = p->l2_len + p->l3_len;
	const uint8_t *q;

	if (end <= off)
		return SY_QUIC_UNKNOWN; /* no payload: no header at all */
	q = (const uint8_t *)sy_frame_at(f, sy_frame_off(off), 1);
	if (!q)
		return SY_QUIC_UNKNOWN;
	if (q[0] & 0x80)
		return SY_QUIC_HASH;
	if (!(q[0] & 0x40) || end - off < 1 + SY_QUIC_MIN_CID_LEN)
		return SY_QUIC_UNKNOWN;
	q = (const uint8_t *)sy_frame_at(f, sy_frame_off(off), 5);
	if (!q)
		return SY_QUIC_UNKNOWN;
	*server_id = sy_quic_cid_server_id(q + 1);
	return *server_id ? SY_QUIC_SERVER_ID : SY_QUIC_UNKNOWN;
}

#endif
