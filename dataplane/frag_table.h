/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A worker's memory of first fragments (switchyard/pkt_frag.h): datagram
 * identity -> the first fragment's ports, for a few seconds. Per worker,
 * like the connection table: the NIC's RSS hashes every fragment of a
 * datagram on its addresses alone (RTE_ETH_RSS_FRAG_IPV4/IPV6, part of the
 * RTE_ETH_RSS_IP that port.c asks for), so all of them reach one worker.
 *
 * Fixed size, inside struct sy_lb (zeroed = empty, no allocation): 256 sets
 * of 4 entries of 48 bytes (48 KiB). An insert takes its key's own entry,
 * else a free or expired one of the set, else the one closest to expiry:
 * fragments in flight are few, and a first fragment pushed out early only
 * sends its later ones to the 3-tuple fallback (counted, frag_untracked).
 */
#ifndef SY_DATAPLANE_FRAG_TABLE_H
#define SY_DATAPLANE_FRAG_TABLE_H

#include <stdint.h>

#include <switchyard/pkt_frag.h>

#define SY_FRAG_SETS 256u
#define SY_FRAG_WAYS 4u

struct sy_frag_entry {
	struct sy_frag_key key;
	struct sy_frag_ports ports;
	uint32_t expires; /* ms tick; 0 = free */
};

struct sy_frag_table {
	struct sy_frag_entry e[SY_FRAG_SETS * SY_FRAG_WAYS];
	uint32_t timeout_ms; /* 0: SY_FRAG_TIMEOUT_MS_DEFAULT */
};

/* The set key lives in (its hash's low bits). */
uint32_t sy_frag_table_set_of(const struct sy_frag_key *key);

/* The ports remembered for key at now: 1 and *ports, or 0. */
int sy_frag_table_lookup(const struct sy_frag_table *t, const struct sy_frag_key *key,
			 uint32_t now, struct sy_frag_ports *ports);

/* Remember ports for key until now + the timeout. */
void sy_frag_table_insert(struct sy_frag_table *t, const struct sy_frag_key *key,
			  struct sy_frag_ports ports, uint32_t now);

#endif
