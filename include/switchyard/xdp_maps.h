/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The XDP fallback path's BPF maps: the contract between the program
 * (bpf/sy_xdp_lb.bpf.c) and the userspace that fills and reads them
 * (bpf/xdp_lb_maps.c, used by sy-control and the tests). Compiles with
 * `clang -target bpf`.
 *
 * The maps mirror the region's current snapshot (include/switchyard/region.h):
 *
 *   sy_vips      HASH   struct sy_vip_key -> struct sy_xdp_service
 *                One entry per service VIP, plus the region's "address
 *                entries" (family | SY_VIP_ADDR_KEY, port 0), whose value is
 *                the record of the service that takes that address's
 *                fragments. A hash-map update replaces the whole value
 *                atomically (RCU): a packet sees the old or the new record.
 *   sy_vip_addrs HASH   struct sy_xdp_addr_key -> struct sy_xdp_vip_addr
 *                One entry per VIP address (TCP or UDP services): the one
 *                lookup that tells a VIP's packet from the host's own
 *                traffic, which goes to the kernel after it. Per protocol it
 *                holds the address's service record when there is exactly
 *                one (the usual VIP: address, port, protocol), so that its
 *                packets need no sy_vips lookup at all; with several, the
 *                packet looks them up in sy_vips. Derived from sy_vips by
 *                bpf/xdp_lb.c and written between its upserts and its
 *                deletions (see sy_xdp_sync()).
 *   sy_vip_slots ARRAY[SY_XDP_VIP_SLOTS] struct sy_xdp_vip_slot,
 *                BPF_F_MMAPABLE: sy_vip_addrs again, direct-mapped by a hash
 *                of the address, so that the first lookup of every packet
 *                is an inlined array index (see "The address slots" below;
 *                bpf/xdp_vip_slots.c writes it after sy_vip_addrs). Pinned.
 *   sy_tables    ARRAY_OF_MAPS, index = service slot -> inner ARRAY of
 *                uint64_t[table_size]: the Maglev table, each entry a
 *                backend ref (sy_xdp_ref(): its slot and uid; 0 = no
 *                backend). A changed table is built in a fresh inner map and
 *                swapped in with one update: packets in flight finish on the
 *                table they looked up (RCU). After the M entries, the
 *                service's backends for least-connections, in canonical
 *                order (sy_xdp_table_entries()): entry M their count n,
 *                M + 1 + i backend i's ref (0: none), M + 1 + n + i its
 *                weight; swapped with the table, so the two always agree.
 *   sy_backends  HASH   uint64_t uid -> struct sy_xdp_backend: each
 *                backend's current record, replaced whole on a change (RCU).
 *                uids are never reused in a region, so an old table or a
 *                conntrack entry can never name the wrong backend. A backend
 *                that leaves its service is first marked SY_XDP_BACKEND_GONE
 *                (its tracked flows re-hash at once), and deleted only after
 *                a grace period, once no table in flight can still name it.
 *   sy_be_slots  ARRAY[SY_XDP_MAX_BACKENDS] struct sy_xdp_backend: a copy of
 *                each backend's record at its slot, the index its refs
 *                carry, so that a packet finds its backend with one array
 *                lookup instead of a hash lookup. A slot's record is written
 *                while nothing reads it as current and then changes only in
 *                its flags byte (a one-byte store, atomic for readers): a
 *                backend whose address, MAC or slots change gets a new slot,
 *                its old slot is marked SY_XDP_BACKEND_GONE and reused only
 *                after the grace period. A slot that does not hold its ref's
 *                uid, or holds it marked gone, sends the reader to
 *                sy_backends (the program's backend_of()).
 *   sy_conntrack ARRAY[CPUs x sets] struct sy_xdp_ct_set, BPF_F_MMAPABLE:
 *                the connection tables, one per CPU: CPU c's is the sets
 *                [c x n_sets, (c + 1) x n_sets), n_sets = sy_xdp_ct_sets(
 *                --xdp-ct-flows). A flow lives in one set of its CPU's table,
 *                sy_xdp_ct_set_of(its flow hash), in any of SY_XDP_CT_WAYS
 *                ways; a full set gives its oldest live way (earliest
 *                expiry, a flow seen again counted younger: SY_XDP_CT_SEEN)
 *                to a new flow, expired ways first: the eviction of the
 *                DPDK path's table (dataplane/conntrack.c), within a set.
 *                One array, not a map per CPU: a lookup is one inlined array
 *                index, no map-in-map and no hash-map walk. A flow stays on
 *                one CPU under RSS, so each table has one writer and no
 *                lock; ICMP errors about a flow look at the other CPUs'
 *                tables too (same set index). Userspace reads and writes it
 *                through a mapping (syctl lookup, the migration of an
 *                earlier layout's tables).
 *   sy_be_conns  ARRAY[SY_XDP_MAX_BACKENDS] uint64_t, BPF_F_MMAPABLE, by
 *                sy_be_slots index: the backend's active connections as
 *                sy-control last counted them, walking every CPU's table
 *                (live ways naming it), every SY_XDP_CONNS_EVERY_MS while a
 *                service is least-connections, with the count's epoch
 *                (sy_xdp_conns_pack(); one 64-bit store each). Not pinned.
 *   sy_be_new    PERCPU_ARRAY[SY_XDP_MAX_BACKENDS] uint64_t, by sy_be_slots
 *                index: the new flows this CPU gave the backend by
 *                least-connections since the count of an epoch
 *                (sy_xdp_conns_pack() of the number and that epoch). A CPU
 *                takes the published count plus its own new flows since
 *                (sy_xdp_conns_estimate()): other CPUs' new flows show
 *                at the next count. Not pinned.
 *   sy_frag      LRU_HASH struct sy_frag_key -> struct sy_xdp_frag: the
 *                ports of first fragments, for the later fragments of their
 *                datagram (switchyard/pkt_frag.h), SY_XDP_FRAG_ENTRIES
 *                entries, kept SY_FRAG_TIMEOUT_MS_DEFAULT. One map shared by
 *                the CPUs, not one per CPU: a datagram's fragments are not
 *                sure to meet on one CPU (a NIC may hash a first fragment
 *                with its ports, veth and generic XDP run on the sender's
 *                CPU), and only fragments touch it. Pinned with the rest; a
 *                pin set without it (an earlier version) gets it created.
 *   sy_quic_ids  HASH   struct sy_xdp_quic_key -> uint64_t backend ref
 *                (sy_xdp_ref()): the QUIC server IDs of the backends of
 *                quic services (switchyard/pkt_quic.h), the region's
 *                sy_service_quic_backend(). Synced after the backends
 *                and tables: stale keys deleted, then new ones written (a
 *                service slot reused must not keep a departed one's IDs); a ref is
 *                taken only for a backend of the packet's service that is
 *                not gone (as a conntrack entry's). bpf/xdp_quic_ids.c.
 *   sy_config    ARRAY[1] struct sy_xdp_config: port MAC, MTU, timeouts,
 *                ICMP error rate, new-flow guard.
 *   sy_icmp_bucket PERCPU_ARRAY[1] struct sy_token_bucket: each CPU's ICMP
 *                error token bucket (switchyard/icmp_error.h). Not pinned.
 *   sy_ct_budget PERCPU_ARRAY[1] struct sy_token_bucket: each CPU's
 *                new-flow budget (switchyard/ct_guard.h). Not pinned.
 *   sy_stats     ARRAY, index = CPU -> struct sy_xdp_cpu_stats: that CPU's
 *                counters (indices and names of include/switchyard/counters.h,
 *                the DPDK path's), per-VIP counters by service slot and
 *                per-backend counters by the backend's counter slot, in one
 *                block. One map for every counter a packet moves: a packet
 *                touches one map's memory for its counters, not three (on a
 *                cold TLB every map is a page walk or more). BPF_F_MMAPABLE:
 *                userspace reads and resets slots in place, without copying
 *                every CPU's whole block per read. Written by its CPU only.
 */
#ifndef SWITCHYARD_XDP_MAPS_H
#define SWITCHYARD_XDP_MAPS_H

#include "ct_guard.h"
#include "flow_hash.h"
#include "region_types.h"

/* Capacity of the maps. The region's limits must not exceed these. */
#define SY_XDP_MAX_SERVICES 4096u
#define SY_XDP_MAX_VIP_KEYS (2u * SY_XDP_MAX_SERVICES) /* services + address entries */
#define SY_XDP_MAX_BACKENDS 65536u
#define SY_XDP_MAX_TABLE 1048573u /* largest Maglev M */
#define SY_XDP_CT_DEFAULT_FLOWS 262144u /* flows of each CPU's table (64 B each) */
#define SY_XDP_MAX_CPUS 1024u /* CPUs an ICMP error's flow is looked for on */

/* Value of sy_vips: everything about a service the packet path needs except
 * its table and backends. Field meanings as in struct sy_service. */
struct sy_xdp_service {
	uint32_t slot;          /* sy_tables and sy_vip_stats index */
	uint8_t fwd_mode;       /* enum sy_fwd_mode (region.h) */
	uint8_t flags;          /* struct sy_service's (region.h): enum
				 * sy_hash_fields in the low bits,
				 * SY_SERVICE_ROUND_ROBIN, SY_SERVICE_QUIC; 0 in earlier
				 * versions' pins (padding): 5-tuple, Maglev */
	uint16_t gue_port;      /* network order; 0 = SY_GUE_DEFAULT_PORT */
	uint32_t hash_seed;
	uint32_t table_size;    /* Maglev M of the table in sy_tables[slot] */
	uint32_t encap_src4;    /* wire order */
	uint32_t encap_src6[4]; /* wire order */
};

/* Key of sy_vip_addrs. */
struct sy_xdp_addr_key {
	uint32_t addr[4];       /* wire order; IPv4 in addr[0], rest 0 */
	uint8_t family;         /* SY_AF_INET / SY_AF_INET6 */
	uint8_t pad[3];         /* 0 */
};

/* How many services of one protocol a VIP address has. */
#define SY_XDP_ADDR_NONE 0 /* none: every packet of it is dropped (no_service) */
#define SY_XDP_ADDR_ONE 1  /* one: svc, on port `port` (0: all ports) */
#define SY_XDP_ADDR_MANY 2 /* several: the packet looks its own up in sy_vips */

struct sy_xdp_addr_services {
	uint8_t kind;           /* SY_XDP_ADDR_* */
	uint8_t pad;
	uint16_t port;          /* network order; SY_XDP_ADDR_ONE only */
	struct sy_xdp_service svc; /* SY_XDP_ADDR_ONE only, else zero */
};

/* Value of sy_vip_addrs. */
struct sy_xdp_vip_addr {
	struct sy_xdp_addr_services tcp, udp;
};

/* ---- The address slots (sy_vip_slots) -------------------------------------
 * A direct-mapped copy of sy_vip_addrs that the program reads with one
 * inlined array index instead of a hash-map call (jhash of the key, bucket
 * walk: ~30 ns of an established packet's path here): slot
 * sy_xdp_vip_slot_of(address) holds the one VIP address that maps there
 * with its record, says that no VIP address maps there (the host's own
 * traffic is answered without any lookup), or sends the packet to
 * sy_vip_addrs (two addresses collide; a slot in transition; a map nobody
 * has written yet, since zero is ASK).
 *
 * A slot's key and record are written only while nothing reads them: a
 * slot that holds an address is first set to ASK or EMPTY (a 4-byte store,
 * in the same sync that changes sy_vip_addrs, after it), and rewritten
 * only after the grace period (bpf/xdp_vip_slots.c). A slot is 128 bytes
 * and a TCP packet reads only its first line (state, key, TCP half). */
#define SY_XDP_VIP_SLOTS 8192u   /* 2 x SY_XDP_MAX_SERVICES: few collisions */
#define SY_XDP_VIP_SLOT_ASK 0u   /* look the address up in sy_vip_addrs */
#define SY_XDP_VIP_SLOT_EMPTY 1u /* no VIP address maps to this slot */
#define SY_XDP_VIP_SLOT_ONE 2u   /* key's record is v */

struct sy_xdp_vip_slot {
	uint32_t state;              /* SY_XDP_VIP_SLOT_* */
	struct sy_xdp_addr_key key;  /* SY_XDP_VIP_SLOT_ONE: the address */
	struct sy_xdp_vip_addr v;    /* SY_XDP_VIP_SLOT_ONE: its record */
	uint8_t pad[24];             /* 0 */
};

_Static_assert(sizeof(struct sy_xdp_vip_slot) == 128, "two cache lines a slot");
_Static_assert(__builtin_offsetof(struct sy_xdp_vip_slot, v.udp) == 64, "a TCP packet reads one line");
_Static_assert((SY_XDP_VIP_SLOTS & (SY_XDP_VIP_SLOTS - 1)) == 0, "slots: a power of two");

/* The slot of an address (key->addr, key->family): a multiply-add of its
 * words, top bits. The program and bpf/xdp_vip_slots.c both use it. */
static inline uint32_t sy_xdp_vip_slot_of(const uint32_t addr[4], uint8_t family)
{
	uint64_t h = (uint64_t)addr[0] * 0x9e3779b97f4a7c15ull + (uint64_t)addr[1] * 0xc2b2ae3d27d4eb4full +
		     (uint64_t)addr[2] * 0x165667b19e3779f9ull + (uint64_t)addr[3] * 0xd6e8feb86659fd93ull +
		     (uint64_t)family * 0xff51afd7ed558ccdull;

	return (uint32_t)(h >> 51) & (SY_XDP_VIP_SLOTS - 1); /* 13 bits */
}

#define SY_XDP_BACKEND_DRAINING 0x1u /* weight 0: keeps flows, takes no new ones */
#define SY_XDP_BACKEND_GONE 0x2u     /* sy_backends: left its service, tracked flows
				      * re-hash; sy_be_slots: not (or no longer)
				      * the backend's current record */

/* Value of sy_backends and sy_be_slots. */
struct sy_xdp_backend {
	uint64_t uid;       /* the backend (sy_be_slots: 0 = a slot never used) */
	uint32_t addr[4];   /* wire order; IPv4 in addr[0] */
	uint8_t family;     /* SY_AF_INET / SY_AF_INET6 */
	uint8_t flags;      /* SY_XDP_BACKEND_* */
	uint8_t mac[6];     /* next hop (l2dsr: the backend itself) */
	uint32_t svc_slot;  /* the service it belongs to */
	uint32_t stats_slot;/* its counters in sy_stats (the region's counter slot) */
	uint32_t slot;      /* its sy_be_slots index */
	uint32_t pad;       /* 0 */
};

/* A backend ref, as tables and conntrack entries hold it: the uid (unique
 * in a region, below 2^48: one a second would take nine million years) and
 * the backend's slot in sy_be_slots when the ref was taken. */
#define SY_XDP_UID_BITS 48
#define SY_XDP_UID_MAX ((1ull << SY_XDP_UID_BITS) - 1)
_Static_assert(SY_XDP_MAX_BACKENDS <= 1u << (64 - SY_XDP_UID_BITS), "a slot fits in a ref");

static inline uint64_t sy_xdp_ref(uint32_t slot, uint64_t uid)
{
	return (uint64_t)slot << SY_XDP_UID_BITS | (uid & SY_XDP_UID_MAX);
}

static inline uint32_t sy_xdp_ref_slot(uint64_t ref)
{
	return (uint32_t)(ref >> SY_XDP_UID_BITS);
}

static inline uint64_t sy_xdp_ref_uid(uint64_t ref)
{
	return ref & SY_XDP_UID_MAX;
}

/* Entries of a service's inner table map: the Maglev table (m) and its n
 * backends' refs and weights for least-connections (sy_tables above). */
static inline uint32_t sy_xdp_table_entries(uint32_t m, uint32_t n)
{
	return m + 1 + 2 * n;
}

/* ---- Active connections for least-connections (sy_be_conns, sy_be_new) -- */
#define SY_XDP_CONNS_EVERY_MS 1000u /* sy-control's count of the tables */

/* A count (32 bits) with its epoch (32 bits), in one word. */
static inline uint64_t sy_xdp_conns_pack(uint32_t n, uint32_t epoch)
{
	return (uint64_t)epoch << 32 | n;
}

/* A CPU's view of a backend's active connections: the published count plus
 * the CPU's own new flows to it since that count (those of an earlier
 * epoch are in the count already, or were ended before it). */
static inline uint32_t sy_xdp_conns_estimate(uint64_t published, uint64_t own)
{
	uint32_t n = (uint32_t)published;

	if ((own >> 32) == (published >> 32))
		n += (uint32_t)own;
	return n;
}

/* own after one more new flow to the backend, in the published epoch. */
static inline uint64_t sy_xdp_conns_own_next(uint64_t published, uint64_t own)
{
	uint32_t epoch = (uint32_t)(published >> 32);

	return (own >> 32) == epoch ? own + 1 : sy_xdp_conns_pack(1, epoch);
}
/* Key of sy_quic_ids. */
struct sy_xdp_quic_key {
	uint32_t svc_slot;  /* the service's slot */
	uint32_t server_id; /* 1 .. SY_QUIC_SERVER_ID_MAX */
};

/* Entries of sy_frag: datagrams in flight whose first fragment was seen. */
#define SY_XDP_FRAG_ENTRIES 16384u

/* Value of sy_frag (key: struct sy_frag_key of switchyard/pkt_frag.h). */
struct sy_xdp_frag {
	uint16_t sport;      /* the first fragment's ports, wire order */
	uint16_t dport;
	uint32_t pad;        /* 0 */
	uint64_t expires_ns; /* CLOCK_MONOTONIC_COARSE ns, as sy_conntrack */
};

/* ---- The connection tables (sy_conntrack) ---------------------------------
 * A set of 8 ways, 512 bytes (8 cache lines, never across a page), laid out
 * by field: what a miss reads (the ways' signatures, then their deadlines)
 * is two lines, a hit four (signature, rest of the key, deadline, ref).
 * A flow key is stored as the five 64-bit words of its struct sy_flow_key
 * (IPv4 keys have zero words where IPv6 addresses go on): word 4 (ports,
 * protocol, family) is the way's signature, words 0-3 the addresses.
 * 64 bytes a flow, IPv4 or IPv6. */
#define SY_XDP_CT_WAYS 8u
#define SY_XDP_CT_KEY_WORDS 5u

/* Value of sy_conntrack: one set. Way i is field[i] of every field. */
struct sy_xdp_ct_set {
	uint64_t expires_ns[SY_XDP_CT_WAYS]; /* deadline, CLOCK_MONOTONIC_COARSE ns
					      * (bpf_ktime_get_coarse_ns()); 0 = free */
	uint64_t sig[SY_XDP_CT_WAYS];        /* key word 4 (0: never used) */
	uint64_t ref[SY_XDP_CT_WAYS];        /* backend (sy_xdp_ref()) */
	uint64_t addr[SY_XDP_CT_WAYS][4];    /* key words 0-3 */
	uint64_t pad[SY_XDP_CT_WAYS];        /* 0 */
};

_Static_assert(sizeof(struct sy_flow_key) == SY_XDP_CT_KEY_WORDS * 8, "a flow key is 5 words");
_Static_assert(sizeof(struct sy_xdp_ct_set) == 64 * SY_XDP_CT_WAYS, "64 bytes a way");

/* Sets of a table of `flows` flows: flows / ways, rounded up. */
static inline uint32_t sy_xdp_ct_sets(uint32_t flows)
{
	uint32_t n = (uint32_t)(((uint64_t)flows + SY_XDP_CT_WAYS - 1) / SY_XDP_CT_WAYS);

	return n ? n : 1;
}

/* The set of a flow: its flow hash scaled to the set count (multiply-shift,
 * as sy_ct_line1() on the DPDK path: any count, no division). */
static inline uint32_t sy_xdp_ct_set_of(uint32_t hash, uint32_t n_sets)
{
	return (uint32_t)(((uint64_t)hash * n_sets) >> 32);
}

/* A flow key as the words a way stores: the memory image of struct
 * sy_flow_key, built from 32-bit loads (the key may sit 4-aligned). */
static inline void sy_xdp_ct_key(const struct sy_flow_key *k, uint64_t w[SY_XDP_CT_KEY_WORDS])
{
	w[0] = (uint64_t)k->src[0] | (uint64_t)k->src[1] << 32;
	w[1] = (uint64_t)k->src[2] | (uint64_t)k->src[3] << 32;
	w[2] = (uint64_t)k->dst[0] | (uint64_t)k->dst[1] << 32;
	w[3] = (uint64_t)k->dst[2] | (uint64_t)k->dst[3] << 32;
	w[4] = (uint64_t)k->sport | (uint64_t)k->dport << 16 | (uint64_t)k->proto << 32 |
	       (uint64_t)k->family << 40;
}

/* The hash that picks a flow's set: a keyed multiply-xorshift mix of the
 * key words (the service's seed), not THE flow hash (flow_hash.h): jhash
 * has no rotate instruction in BPF and its chain of ~70 dependent
 * operations was ~55 ns of the established path's ~215 (perf/README.md,
 * xdp_bench); this is three multiplies. A tracked flow's packet computes
 * only this; a new flow also the flow hash, for Maglev. */
static inline uint32_t sy_xdp_ct_hash(const uint64_t w[SY_XDP_CT_KEY_WORDS], uint32_t seed)
{
	uint64_t h = (w[0] ^ w[4] ^ seed) * 0x9e3779b97f4a7c15ull;

	h = (h ^ (h >> 29) ^ w[1] ^ w[2]) * 0xc2b2ae3d27d4eb4full;
	h = (h ^ (h >> 32) ^ w[3]) * 0x165667b19e3779f9ull;
	return (uint32_t)((h ^ (h >> 29)) >> 32);
}

/* Whether way i of a set holds the key w (live or not). A way never used
 * has a zero signature, which no flow has (its family is never 0). */
static inline int sy_xdp_ct_way_is(const struct sy_xdp_ct_set *set, uint32_t i,
				   const uint64_t w[SY_XDP_CT_KEY_WORDS])
{
	const uint64_t *a = set->addr[i];

	return set->sig[i] == w[4] &&
	       !((a[0] ^ w[0]) | (a[1] ^ w[1]) | (a[2] ^ w[2]) | (a[3] ^ w[3]));
}

/* Bit 0 of a way's expires_ns: its flow was seen again after the packet
 * that inserted it (a hit sets it, an insert clears it; a deadline 1 ns off
 * matters to no one). */
#define SY_XDP_CT_SEEN 1ull

/* Where a new flow goes, by the deadline of the way it would take: a free
 * way (0) first, then an expired one (1), then the oldest live one (its
 * deadline, SY_CT_SEEN_BONUS_MS later if its flow was seen again: a sweep
 * of new flows evicts its own kind, ct_guard.h): the way of the lowest
 * rank. */
static inline uint64_t sy_xdp_ct_rank(uint64_t expires_ns, uint64_t now)
{
	if (expires_ns < now)
		return expires_ns != 0;
	return expires_ns + ((expires_ns & SY_XDP_CT_SEEN) ? SY_CT_SEEN_BONUS_MS * 1000000ull : 0);
}

/* A CPU's last reading of the conntrack clock (bpf_ktime_get_coarse_ns())
 * and the jiffy it was taken in (bpf_jiffies64()). The coarse clock moves
 * with the tick, so within one jiffy the program takes this reading again
 * instead of calling the helper. Written by its CPU's program only. */
struct sy_xdp_cpu_clock {
	uint64_t jiffies;
	uint64_t now_ns;
	uint64_t pad[6];
};

/* Value of sy_stats[cpu]: each CPU writes its own block only (the blocks
 * are multiples of 64 bytes: no line is shared between CPUs). */
struct sy_xdp_cpu_stats {
	uint64_t counters[SY_LCORE_NCOUNTERS];
	struct sy_xdp_cpu_clock clock; /* not a counter: the program's clock */
	struct sy_vip_counters vips[SY_XDP_MAX_SERVICES];
	struct sy_backend_counters backends[SY_XDP_MAX_BACKENDS];
};

/* Value of sy_config[0]. Until sy-control has written it (configured == 0)
 * the program passes everything to the kernel. */
struct sy_xdp_config {
	uint8_t port_mac[6];   /* source MAC of what we send */
	uint16_t mtu;          /* egress L3 MTU */
	uint8_t mtu_action;    /* enum sy_mtu_action (pkt_icmp_reply.h): 0 ICMP, 1 drop */
	uint8_t configured;
	uint16_t pad;
	uint32_t tx_ifindex;   /* 0: XDP_TX back out of the receiving port;
				* else bpf_redirect() to this interface */
	uint32_t tcp_ms;       /* conntrack idle timeouts, as the DPDK path */
	uint32_t tcp_fin_ms;
	uint32_t udp_ms;
	uint32_t icmp_rate;    /* ICMP errors per second per CPU; 0 = default */
	uint32_t icmp_burst;   /* (switchyard/icmp_error.h) */
	uint32_t ct_sets;      /* sets of each CPU's table in sy_conntrack
				* (written by sy_xdp_configure()) */
	/* appended (a pinned sy_config of the shorter layout is replaced,
	 * as every pin of another layout: bpf/xdp_lb.c) */
	struct sy_ct_guard ct_guard; /* new-flow guard per CPU; zeroed: off */
	uint32_t pad1;
};

#endif
