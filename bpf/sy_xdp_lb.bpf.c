// SPDX-License-Identifier: BSD-3-Clause
/* The XDP fallback path: the load balancer of sy-dataplane (dataplane/lb.c)
 * as one XDP program, with the same behaviour packet for packet. The
 * classification and the rewrites are the shared packet core's
 * (switchyard/pkt_parse.h, pkt_encap.h, pkt_icmp_reply.h: the very code
 * sy-dataplane runs); the lookups between them are this program's:
 *
 *   - the same classification and drop reasons (Ethernet, up to two VLAN
 *     tags, IPv4 with options, IPv6 with up to 8 extension headers incl. AH,
 *     TCP, UDP, ICMP errors about a flow, fragments);
 *   - the same VIP lookup (exact service, then the all-ports one; "address
 *     entries" SY_VIP_ADDR_KEY for fragments and "is this a VIP address"),
 *     through one lookup of the destination address first (sy_vip_addrs):
 *     the host's own traffic costs one lookup, and so does a VIP address
 *     with one service per protocol;
 *   - the same backend for a flow: Maglev table[flow_hash % M] with THE flow
 *     hash of include/switchyard/flow_hash.h, and connection tracking that
 *     keeps a flow on its backend while the backend is in the service;
 *   - the same output bytes (ipip / gue / l2dsr, ICMP frag-needed and
 *     packet-too-big answers, Ethernet padding trimmed);
 *   - the same counters (indices of include/switchyard/counters.h) in a
 *     per-CPU array, plus per-VIP and per-backend per-CPU stats.
 *
 * Verdicts: tx -> XDP_TX (or bpf_redirect to sy_config.tx_ifindex), kernel
 * -> XDP_PASS, drop -> XDP_DROP. Until sy_config[0].configured is set the
 * program passes everything and counts nothing.
 *
 * Maps: include/switchyard/xdp_maps.h (the contract with bpf/xdp_lb.c).
 *
 * Differences from the DPDK path that cannot be avoided:
 *   - Conntrack is a set-associative table per CPU (sy_conntrack), with
 *     the DPDK path's eviction within a set (expired ways first, then the
 *     oldest live one, a flow seen again counted younger, counted in
 *     ct_evictions) but one set per flow, where
 *     the DPDK path has two lines and moves entries between them. Expiry is
 *     in CLOCK_MONOTONIC_COARSE nanoseconds (ct_now()).
 *   - Frames are linear (the program is not frags-aware); a frame longer than
 *     SY_FRAME_OFF_MAX cannot reach XDP without frags and goes to the kernel.
 *
 * Verifier notes: the front of every frame (classify_frame(): the shared
 * classification with its IPv6 extension header walk, the VIP address
 * lookup, the clock), the checksum of a packet range (sy_frame_csum) and
 * the service's flow hash (service_flow_hash) are global functions, each
 * verified once on its own, so that their paths do not multiply the main
 * program's. Offsets into the packet are scalars bounded by
 * SY_FRAME_OFF_MAX and turned into pointers by sy_frame_at(), which checks
 * them against data_end. The program loads on Debian 12's kernel (6.1) as
 * on newer ones: tests/bpf/test_bpf_on_kernel.sh runs the BPF tests there
 * (a chain of calls within 512 bytes of stack with each frame rounded up
 * to 32, no loop closed by a fall-through, bounds the verifier of 6.1 can
 * see).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <switchyard/counters.h>
#include <switchyard/ct_guard.h>
#include <switchyard/flow_hash.h>
#include <switchyard/icmp_error.h>
#include <switchyard/least_conns.h>
#include <switchyard/pkt_classify.h>
#include <switchyard/pkt_frag.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/pkt_icmp_reply.h>
#include <switchyard/pkt_parse.h>
#include <switchyard/pkt_quic.h>
#include <switchyard/xdp_maps.h>

_Static_assert(SY_C__COUNT <= SY_LCORE_NCOUNTERS, "counter indices fit the map");

/* Conntrack timeouts when sy_config leaves them 0 (conntrack.h defaults). */
#define CT_TCP_MS 900000u
#define CT_TCP_FIN_MS 10000u
#define CT_UDP_MS 300000u

/* ---- Maps (include/switchyard/xdp_maps.h) ---------------------------------- */

struct sy_table_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* a template: inner maps have table_size entries */
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u64); /* backend ref (slot and uid: sy_xdp_ref()), 0 = none */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SY_XDP_MAX_VIP_KEYS);
	__type(key, struct sy_vip_key);
	__type(value, struct sy_xdp_service);
} sy_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SY_XDP_MAX_SERVICES); /* addresses <= services */
	__type(key, struct sy_xdp_addr_key);
	__type(value, struct sy_xdp_vip_addr);
} sy_vip_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SY_XDP_VIP_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sy_xdp_vip_slot);
} sy_vip_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SY_XDP_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct sy_table_inner);
} sy_tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SY_XDP_MAX_BACKENDS);
	__type(key, __u64);
	__type(value, struct sy_xdp_backend);
} sy_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SY_XDP_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct sy_xdp_backend);
} sy_be_slots SEC(".maps");

/* The connection tables: CPU c's sets are [c x ct_sets, (c + 1) x ct_sets)
 * (bpf/xdp_lb.c sizes it: possible CPUs x sy_xdp_ct_sets(--xdp-ct-flows)). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sy_xdp_ct_set);
} sy_conntrack SEC(".maps");

/* least-connections: the counts sy-control publishes, and this CPU's own
 * new flows since (xdp_maps.h). Not pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SY_XDP_MAX_BACKENDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} sy_be_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SY_XDP_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
} sy_be_new SEC(".maps");

/* First fragments' ports for their later fragments (pkt_frag.h): one LRU
 * shared by the CPUs (xdp_maps.h says why). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SY_XDP_FRAG_ENTRIES);
	__type(key, struct sy_frag_key);
	__type(value, struct sy_xdp_frag);
} sy_frag SEC(".maps");

/* QUIC server IDs of quic services' backends (pkt_quic.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SY_XDP_MAX_BACKENDS);
	__type(key, struct sy_xdp_quic_key);
	__type(value, __u64); /* backend ref */
} sy_quic_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sy_xdp_config);
} sy_config SEC(".maps");

/* The ICMP error rate limit's token bucket, per CPU (not pinned: a new
 * program starts with a full bucket). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sy_token_bucket);
} sy_icmp_bucket SEC(".maps");

/* The new-flow guard's token bucket, per CPU (switchyard/ct_guard.h; not
 * pinned either). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sy_token_bucket);
} sy_ct_budget SEC(".maps");

/* Every counter of a CPU in one block (bpf/xdp_lb.c sets max_entries to the
 * number of possible CPUs and reads the blocks through a mapping). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sy_xdp_cpu_stats);
} sy_stats SEC(".maps");

/* ---- Small helpers ---------------------------------------------------------- */

/* Indices into the counter block are checked, then masked: the mask keeps
 * the verifier sure of the bound whatever order the compiler emits. */
_Static_assert((SY_LCORE_NCOUNTERS & (SY_LCORE_NCOUNTERS - 1)) == 0 &&
		       (SY_XDP_MAX_SERVICES & (SY_XDP_MAX_SERVICES - 1)) == 0 &&
		       (SY_XDP_MAX_BACKENDS & (SY_XDP_MAX_BACKENDS - 1)) == 0,
	       "counter block dimensions are powers of two");

/* This CPU's counters (NULL only beyond the possible CPUs). */
static __always_inline struct sy_xdp_cpu_stats *cpu_stats(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&sy_stats, &cpu);
}

static __always_inline void count_n(__u32 idx, __u64 n)
{
	struct sy_xdp_cpu_stats *st = cpu_stats();

	if (st && idx < SY_LCORE_NCOUNTERS)
		st->counters[idx & (SY_LCORE_NCOUNTERS - 1)] += n;
}

/* The per-VIP counters of a service slot, NULL if out of range. */
static __always_inline struct sy_vip_counters *vip_stats(struct sy_xdp_cpu_stats *st, __u32 slot)
{
	if (!st || slot >= SY_XDP_MAX_SERVICES)
		return NULL;
	/* keep the mask: clang drops it after the compare, and the verifier,
	 * which may see the compare on another register, needs it */
	barrier_var(slot);
	return &st->vips[slot & (SY_XDP_MAX_SERVICES - 1)];
}

/* The per-backend counters of a backend slot, NULL if out of range. The
 * mask kept as in vip_stats(): Debian 12's kernel (6.1) saw the compare on
 * a register reloaded from the stack, not on the one indexing. */
static __always_inline struct sy_backend_counters *backend_stats(struct sy_xdp_cpu_stats *st,
								 __u32 slot)
{
	if (!st || slot >= SY_XDP_MAX_BACKENDS)
		return NULL;
	barrier_var(slot);
	return &st->backends[slot & (SY_XDP_MAX_BACKENDS - 1)];
}

static __always_inline void count(__u32 idx)
{
	count_n(idx, 1);
}

/* Count what a rewrite of the shared core (switchyard/pkt_encap.h) did. */
static __always_inline int count_rewrite(struct sy_rewrite r)
{
	if (r.counter)
		count(r.counter);
	if (r.counter2)
		count(r.counter2);
	return r.verdict;
}

/* A packet too big once encapsulated: the shared core answers it (or not)
 * with this CPU's ICMP error bucket. */
static __always_inline int too_big(struct xdp_md *ctx, const struct sy_xdp_config *cfg,
				   const struct sy_parsed *p, const struct sy_out *o)
{
	__u32 zero = 0;
	struct sy_icmp_policy pol = {
		.bucket = bpf_map_lookup_elem(&sy_icmp_bucket, &zero),
		.rate = cfg->icmp_rate,
		.burst = cfg->icmp_burst,
		.mtu_action = cfg->mtu_action,
	};

	return count_rewrite(sy_icmp_too_big(ctx, p, o, &pol));
}

/* ---- Services, backends, conntrack ------------------------------------------------ */

/* Whether the key's destination is a VIP address (of a TCP or UDP
 * service; else it is the host's own traffic), and if so its services of
 * the key's protocol (TCP, else UDP) in *as. Its slot answers (xdp_maps.h,
 * "The address slots") unless it sends us to sy_vip_addrs. A copy, not a
 * pointer: one into either map would split the verifier's states for the
 * rest of the program. Inlined into classify_frame(), a global function. */
static __always_inline int vip_address(const struct sy_flow_key *key,
				       struct sy_xdp_addr_services *as)
{
	struct sy_xdp_addr_key k = {};
	const struct sy_xdp_vip_slot *slot;
	const struct sy_xdp_vip_addr *va;
	__u32 i;
	int tcp;

	tcp = key->proto == SY_IPPROTO_TCP;
	i = sy_xdp_vip_slot_of(key->dst, key->family);
	slot = bpf_map_lookup_elem(&sy_vip_slots, &i);
	if (slot) {
		__u32 state = slot->state;

		if (state == SY_XDP_VIP_SLOT_EMPTY)
			return 0;
		if (state == SY_XDP_VIP_SLOT_ONE) {
			if (slot->key.addr[0] != key->dst[0] || slot->key.addr[1] != key->dst[1] ||
			    slot->key.addr[2] != key->dst[2] || slot->key.addr[3] != key->dst[3] ||
			    slot->key.family != key->family)
				return 0; /* the one VIP address of this slot is another */
			*as = tcp ? slot->v.tcp : slot->v.udp;
			return 1;
		}
	}
	k.family = key->family;
	__builtin_memcpy(k.addr, key->dst, sizeof(k.addr));
	va = bpf_map_lookup_elem(&sy_vip_addrs, &k);
	if (!va)
		return 0;
	*as = tcp ? va->tcp : va->udp;
	return 1;
}

/* The service of a TCP/UDP packet (or of the flow an ICMP error quotes) to
 * a VIP address, as sy_snapshot_match() and, for fragments,
 * sy_snapshot_vip_addr() find it in the region: whether there is one, and
 * its record in as->svc (where the address's one service already is). */
static __always_inline int find_service(const struct sy_parsed *p,
					struct sy_xdp_addr_services *as)
{
	struct sy_vip_key k = { .family = p->key.family, .proto = p->key.proto,
				.port = p->key.dport };
	const struct sy_xdp_service *s;

	if (as->kind == SY_XDP_ADDR_NONE)
		return 0;
	if (as->kind == SY_XDP_ADDR_ONE)
		/* the one service is also the address's fragment service */
		return !sy_frag_has_ports(p) || as->port == 0 || as->port == p->key.dport;
	__builtin_memcpy(k.addr, p->key.dst, sizeof(k.addr));
	if (!sy_frag_has_ports(p)) {
		/* fragments without their flow's ports go to the address's
		 * fragment service (no ports to match) */
		k.port = 0;
		k.family |= SY_VIP_ADDR_KEY;
		s = bpf_map_lookup_elem(&sy_vips, &k);
	} else {
		s = bpf_map_lookup_elem(&sy_vips, &k);
		if (!s && k.port != 0) {
			k.port = 0;
			s = bpf_map_lookup_elem(&sy_vips, &k);
		}
	}
	if (!s)
		return 0;
	as->svc = *s;
	return 1;
}

/* The backend a ref names, as sy_backends has it: the record in the ref's
 * slot while that slot holds the backend's current record (one array
 * lookup), else sy_backends' (the backend moved to another slot, or left:
 * then its record there says gone, or it is deleted). NULL: unknown. */
static __always_inline struct sy_xdp_backend *backend_of(__u64 ref)
{
	__u32 slot = sy_xdp_ref_slot(ref);
	__u64 uid = sy_xdp_ref_uid(ref);
	struct sy_xdp_backend *b = bpf_map_lookup_elem(&sy_be_slots, &slot);

	if (b && b->uid == uid && !(b->flags & SY_XDP_BACKEND_GONE))
		return b;
	return bpf_map_lookup_elem(&sy_backends, &uid);
}

/* Maglev: the backend of table[hash % M], or NULL (no table, index beyond
 * the inner map, empty entry, unknown uid). *ref: its ref. */
static __always_inline struct sy_xdp_backend *pick(const struct sy_xdp_service *s, __u32 hash,
						    __u64 *ref)
{
	__u32 slot = s->slot, idx;
	__u64 *u;
	void *table;

	if (!s->table_size)
		return NULL;
	table = bpf_map_lookup_elem(&sy_tables, &slot);
	if (!table)
		return NULL;
	idx = hash % s->table_size;
	u = bpf_map_lookup_elem(table, &idx);
	if (!u || !*u)
		return NULL;
	*ref = *u;
	return backend_of(*u);
}

/* A tracked flow's backend, if it is still in the service (draining or not). */
static __always_inline struct sy_xdp_backend *tracked_backend(const struct sy_xdp_service *s,
							      __u64 ref)
{
	struct sy_xdp_backend *b = backend_of(ref);

	if (!b || (b->flags & SY_XDP_BACKEND_GONE) || b->svc_slot != s->slot)
		return NULL;
	return b;
}

static __always_inline __u64 ct_timeout_ns(const struct sy_xdp_config *cfg,
					   const struct sy_parsed *p)
{
	__u32 ms;

	if (p->proto == SY_IPPROTO_TCP) {
		if (p->tcp_flags & (SY_TCP_FIN | SY_TCP_RST))
			ms = cfg->tcp_fin_ms ? cfg->tcp_fin_ms : CT_TCP_FIN_MS;
		else
			ms = cfg->tcp_ms ? cfg->tcp_ms : CT_TCP_MS;
	} else {
		ms = cfg->udp_ms ? cfg->udp_ms : CT_UDP_MS;
	}
	return (__u64)ms * 1000000;
}

/* Conntrack time: CLOCK_MONOTONIC_COARSE in ns. A coarse read is a load
 * of the timekeeper's last tick, where bpf_ktime_get_ns() reads the
 * clocksource (kvm-clock in a VM); its tick granularity (1-4 ms) is nothing
 * beside idle timeouts of seconds. Userspace compares with the same clock
 * (sy_xdp_ct_lookup()). The coarse clock moves only with the tick, so a
 * CPU keeps its last reading with the jiffy it was taken in
 * (struct sy_xdp_cpu_clock) and takes it again within that jiffy:
 * bpf_jiffies64() is an inlined load, the helper a call (~11 ns on a host
 * whose returns go through a mitigation thunk; ~20 ns less per packet in
 * xdp_bench). A reading taken just as the tick moves may be one tick old
 * for the rest of that jiffy. Read once a frame, at the end of
 * classify_frame(), a global function: inlined into the main program, its
 * branch doubled the verifier's states past its limit. */
static __always_inline __u64 ct_now(void)
{
	struct sy_xdp_cpu_stats *st = cpu_stats();
	__u64 j = bpf_jiffies64(), now;

	if (st && st->clock.jiffies == j)
		return st->clock.now_ns;
	now = bpf_ktime_get_coarse_ns();
	if (st) {
		st->clock.jiffies = j;
		st->clock.now_ns = now;
	}
	return now;
}

/* The flow hash, computed on first use: a tracked ipip/l2dsr flow to an
 * IPv4 backend never needs it (only Maglev, GUE's source port and the IPv6
 * flow label do; the connection table has its own cheap set hash). */
struct lazy_hash {
	__u32 value;
	__u32 done;
};

/* The service's flow hash of key's fields (switchyard/flow_hash.h), out of
 * line: a global function, so that its copy of the key and jhash's words
 * live in a frame of their own (24 bytes), not the main program's. A chain
 * of calls (the main program and classify_frame()) must fit the verifier's
 * 512 bytes of stack, and Debian 12's kernel (6.1) rounds each frame up to
 * 32: the main program's 448 bytes with the hash inlined left no room to
 * grow there (424 without it; tests/bpf/test_bpf_on_kernel.sh). Called for
 * new flows, fragments, ICMP errors, GUE's source port and the IPv6 flow
 * label: never for a tracked ipip/l2dsr flow to an IPv4 backend. */
__noinline __u32 service_flow_hash(const struct sy_flow_key *key, __u32 seed, __u32 fields)
{
	if (!key) /* a global function: the verifier asks */
		return 0;
	return sy_service_flow_hash(key, seed, fields);
}

static __always_inline __u32 flow_hash(struct lazy_hash *h, const struct sy_flow_key *key,
				       const struct sy_xdp_service *s)
{
	if (!h->done) {
		h->value = service_flow_hash(key, s->hash_seed, s->flags & SY_HASH_FIELDS_MASK);
		h->done = 1;
	}
	return h->value;
}

/* The set of a flow with this set hash (sy_xdp_ct_hash()) in a CPU's
 * connection table of n_sets sets (from sy_config, which every packet
 * reads anyway), NULL beyond the possible CPUs. */
static __always_inline struct sy_xdp_ct_set *ct_set(__u32 n_sets, __u32 cpu, __u32 hash)
{
	__u64 idx = (__u64)cpu * n_sets + sy_xdp_ct_set_of(hash, n_sets);
	__u32 key = (__u32)idx;

	if (idx > 0xffffffffull)
		return NULL;
	return bpf_map_lookup_elem(&sy_conntrack, &key);
}

/* The compiler must not sink a way's key and ref stores below its expiry
 * store (a way is live once that is set, and another CPU may read it: ICMP
 * errors, syctl lookup). Such a reader takes a ref only for a backend of the
 * flow's service: a torn read can do no worse than another backend of it. */
#define ct_barrier() asm volatile("" ::: "memory")

/* Give way i of a set to the flow of key words w, backend ref. */
static __always_inline void ct_claim(struct sy_xdp_ct_set *set, __u32 i, const __u64 *w,
				     __u64 ref, __u64 expires)
{
	i &= SY_XDP_CT_WAYS - 1;
	set->expires_ns[i] = 0;
	ct_barrier();
	set->sig[i] = w[4];
	set->addr[i][0] = w[0];
	set->addr[i][1] = w[1];
	set->addr[i][2] = w[2];
	set->addr[i][3] = w[3];
	set->ref[i] = ref;
	ct_barrier();
	set->expires_ns[i] = expires;
}

/* The ref of a flow's live way in a set, 0 if none. */
static __always_inline __u64 ct_find(struct sy_xdp_ct_set *set, const __u64 *w, __u64 now)
{
	__u32 i;

	if (!set)
		return 0;
#pragma unroll
	for (i = 0; i < SY_XDP_CT_WAYS; i++)
		if (sy_xdp_ct_way_is(set, i, w) && set->expires_ns[i] >= now)
			return set->ref[i];
	return 0;
}

/* The search of the other CPUs' connection tables (bpf_loop callback). */
struct ct_search {
	__u64 w[SY_XDP_CT_KEY_WORDS];
	__u64 now;
	__u64 ref;  /* found: the backend; 0 = not found */
	__u32 hash; /* sy_xdp_ct_hash() */
	__u32 n_sets;
	__u32 self; /* this CPU, already looked at */
};

static long ct_search_cpu(__u32 cpu, void *data)
{
	struct ct_search *cs = data;

	struct sy_xdp_ct_set *set;

	if (cpu == cs->self)
		return 0;
	set = ct_set(cs->n_sets, cpu, cs->hash);
	if (!set)
		return 1; /* beyond the possible CPUs */
	cs->ref = ct_find(set, cs->w, cs->now);
	return cs->ref != 0;
}

/* The backend of a new flow that another CPU tracks, NULL if none: without
 * RSS (veth, generic XDP) a flow's packets may come on either CPU, and a
 * round-robin turn or least-connections choice of its own on each would
 * split the connection. */
static __always_inline struct sy_xdp_backend *
tracked_on_other_cpu(const struct sy_xdp_config *cfg, const struct sy_xdp_service *s,
		     const __u64 *w, __u64 now)
{
	struct ct_search cs = { .now = now, .n_sets = cfg->ct_sets,
				.self = bpf_get_smp_processor_id() };

	__builtin_memcpy(cs.w, w, sizeof(cs.w));
	cs.hash = sy_xdp_ct_hash(w, s->hash_seed);
	bpf_loop(SY_XDP_MAX_CPUS, ct_search_cpu, &cs, 0);
	return cs.ref ? tracked_backend(s, cs.ref) : NULL;
}

/* The walk of a service's backends for least-connections (bpf_loop
 * callback): its table map's entries after the Maglev table (xdp_maps.h). */
struct lc_walk {
	void *table;
	__u32 refs;  /* index of backend 0's ref: M + 1 */
	__u32 n;     /* backends */
	__u64 best_ref;
	struct sy_least_conns lc;
};

static long lc_offer(__u32 i, void *data)
{
	struct lc_walk *lw = data;
	__u32 k = lw->refs + i, kw = lw->refs + lw->n + i, slot, before = lw->lc.best;
	__u64 *ref = bpf_map_lookup_elem(lw->table, &k), *weight, *pub, *own;

	weight = bpf_map_lookup_elem(lw->table, &kw);
	if (!ref || !weight)
		return 1;
	if (!*ref)
		return 0; /* not mirrored: no backend to offer */
	slot = sy_xdp_ref_slot(*ref);
	pub = bpf_map_lookup_elem(&sy_be_conns, &slot);
	own = bpf_map_lookup_elem(&sy_be_new, &slot);
	sy_least_conns_offer(&lw->lc, i, sy_xdp_conns_estimate(pub ? *pub : 0, own ? *own : 0),
			     (__u32)*weight);
	if (lw->lc.best != before)
		lw->best_ref = *ref;
	return 0;
}

/* least-connections: the service's backend with the fewest connections per
 * weight as this CPU sees them (switchyard/least_conns.h), and the CPU's
 * count of its own new flows to it moved on; NULL if none (the caller keeps
 * Maglev's). */
static __always_inline struct sy_xdp_backend *least_conns(const struct sy_xdp_service *s,
							  __u64 *ref)
{
	struct lc_walk lw = { .refs = s->table_size + 1 };
	__u32 slot = s->slot, m = s->table_size;
	struct sy_xdp_backend *b;
	__u64 *n, *pub, *own;

	lw.table = bpf_map_lookup_elem(&sy_tables, &slot);
	if (!lw.table)
		return NULL;
	n = bpf_map_lookup_elem(lw.table, &m);
	if (!n || !*n || *n > SY_XDP_MAX_BACKENDS)
		return NULL;
	lw.n = (__u32)*n;
	sy_least_conns_init(&lw.lc);
	bpf_loop(lw.n, lc_offer, &lw, 0);
	if (lw.lc.best == SY_LEAST_CONNS_NONE)
		return NULL;
	b = tracked_backend(s, lw.best_ref);
	if (!b)
		return NULL;
	*ref = sy_xdp_ref(b->slot, b->uid);
	slot = b->slot;
	pub = bpf_map_lookup_elem(&sy_be_conns, &slot);
	own = bpf_map_lookup_elem(&sy_be_new, &slot);
	if (pub && own)
		*own = sy_xdp_conns_own_next(*pub, *own);
	return b;
}

/* Backend of a TCP/UDP flow, tracking it (lb.c select_tracked()). NULL if
 * the service has no backend for it. */
static __always_inline struct sy_xdp_backend *
select_tracked(const struct sy_xdp_config *cfg, const struct sy_xdp_service *s,
	       const struct sy_parsed *p, struct lazy_hash *hash, __u64 now)
{
	__u64 ref = 0, w[SY_XDP_CT_KEY_WORDS], rank, best = ~0ull, exp = 0;
	__u32 slot = s->slot, i, hit = SY_XDP_CT_WAYS, victim = 0, bypass, zero = 0;
	struct sy_xdp_ct_set *set;
	struct sy_xdp_backend *b;
	struct sy_vip_counters *vc;

	sy_xdp_ct_key(&p->key, w);
	set = ct_set(cfg->ct_sets, bpf_get_smp_processor_id(), sy_xdp_ct_hash(w, s->hash_seed));
	/* one pass over the set: the flow's way, else where a new one goes */
	if (set) {
#pragma unroll
		for (i = 0; i < SY_XDP_CT_WAYS; i++) {
			if (sy_xdp_ct_way_is(set, i, w)) {
				hit = i;
				break;
			}
			rank = sy_xdp_ct_rank(set->expires_ns[i], now);
			if (rank < best) {
				best = rank;
				victim = i;
			}
		}
	}
	if (hit < SY_XDP_CT_WAYS) {
		hit &= SY_XDP_CT_WAYS - 1;
		exp = set->expires_ns[hit];
	}
	if (hit < SY_XDP_CT_WAYS && exp >= now) {
		__u64 r = set->ref[hit];

		b = tracked_backend(s, r);
		if (!b) {
			/* its backend left: re-hash */
			b = pick(s, flow_hash(hash, &p->key, s), &ref);
			if (!b)
				return NULL;
			count(SY_C_CT_RESELECT);
			set->ref[hit] = ref;
		} else if (b->slot != sy_xdp_ref_slot(r)) {
			/* its record moved to another slot: follow it */
			set->ref[hit] = sy_xdp_ref(b->slot, b->uid);
		}
		count(SY_C_CT_HIT);
		set->expires_ns[hit] = (now + ct_timeout_ns(cfg, p)) | SY_XDP_CT_SEEN;
		return b;
	}
	b = pick(s, flow_hash(hash, &p->key, s), &ref);
	if (!b) {
		if (hit < SY_XDP_CT_WAYS && exp)
			set->expires_ns[hit] = 0; /* as lb.c frees its own expired entry */
		return NULL;
	}
	/* the new-flow guard: over the budget, forwarded untracked */
	bypass = sy_ct_guard_check(&cfg->ct_guard, bpf_map_lookup_elem(&sy_ct_budget, &zero),
				   (__u32)(now / 1000000), p->proto, p->tcp_flags);
	if (bypass) {
		count(SY_C_CT_BYPASS);
		if (bypass != SY_C_CT_BYPASS)
			count(bypass);
		return b;
	}
	vc = vip_stats(cpu_stats(), slot);
	if ((s->flags & (SY_SERVICE_ROUND_ROBIN | SY_SERVICE_LEAST_CONNS)) && vc) {
		/* tracked from here on: the next table entry (flow_hash.h) or
		 * the fewest connections (least_conns.h), unless another CPU
		 * tracks the flow */
		struct sy_xdp_backend *other = tracked_on_other_cpu(cfg, s, w, now), *lc;
		__u64 lc_ref = 0;

		if (other) {
			b = other;
			ref = sy_xdp_ref(b->slot, b->uid);
		} else if (s->flags & SY_SERVICE_LEAST_CONNS) {
			lc = least_conns(s, &lc_ref);
			if (lc) { /* else Maglev's, as an untracked packet's */
				b = lc;
				ref = lc_ref;
			}
		} else {
			b = pick(s, sy_round_robin_slot(vc->new_flows, s->table_size), &ref);
			if (!b)
				return NULL;
		}
	}
	if (set) {
		if (hit < SY_XDP_CT_WAYS) {
			/* its own way, expired (or freed) */
			victim = hit;
			if (exp)
				count(SY_C_CT_EXPIRED);
		} else if (best == 1) {
			count(SY_C_CT_EXPIRED); /* another flow's expired way */
		} else if (best > 1) {
			count(SY_C_CT_EVICT); /* every way live: the oldest goes */
		}
		ct_claim(set, victim, w, ref, (now + ct_timeout_ns(cfg, p)) & ~SY_XDP_CT_SEEN);
	}
	count(SY_C_CT_NEW);
	if (vc)
		vc->new_flows++;
	return b;
}

/* Backend of the flow an ICMP error is about, changing nothing (lb.c
 * sy_lb_predict()): tracked on this CPU, else on another one (RSS steers
 * the error by its own headers, so it may arrive elsewhere: *other = 1),
 * else Maglev. A ref read from another CPU's table, which that CPU may be
 * rewriting, is taken only if it names a backend of this service now. */
static __always_inline struct sy_xdp_backend *predict(const struct sy_xdp_config *cfg,
						       const struct sy_xdp_service *s,
						       const struct sy_flow_key *key, __u32 hash,
						       int *other, __u64 now)
{
	struct ct_search cs = { .now = now, .n_sets = cfg->ct_sets,
				.self = bpf_get_smp_processor_id() };
	struct sy_xdp_backend *b;
	__u64 ref;

	sy_xdp_ct_key(key, cs.w);
	cs.hash = sy_xdp_ct_hash(cs.w, s->hash_seed);
	ref = ct_find(ct_set(cs.n_sets, cs.self, cs.hash), cs.w, cs.now);
	if (ref) {
		b = tracked_backend(s, ref);
		if (b)
			return b;
	}
	bpf_loop(SY_XDP_MAX_CPUS, ct_search_cpu, &cs, 0);
	if (cs.ref) {
		b = tracked_backend(s, cs.ref);
		if (b) {
			*other = 1;
			return b;
		}
	}
	return pick(s, hash, &ref);
}

/* ---- QUIC connection IDs (switchyard/pkt_quic.h) ------------------------------ */

/* The backend a whole UDP packet of a quic service names by its connection
 * ID's server ID, or NULL: a long header (*counter 0) or an unknown ID
 * (*counter quic_cid_unknown) go on to conntrack and the hash (lb.c
 * quic_backend()). A known ID wins over conntrack and is not tracked.
 * A function of its own (a BPF-to-BPF call, quic services only): inlined,
 * its reading of the connection ID multiplied the verifier's states with
 * the rest of the path past its 1M-instruction limit (1,000,001 processed
 * with least-connections beside it; 565,528 so). */
static __noinline struct sy_xdp_backend *quic_backend(struct xdp_md *ctx,
							   const struct sy_xdp_service *s,
							   const struct sy_parsed *p,
							   __u32 *counter)
{
	struct sy_xdp_quic_key k = { .svc_slot = s->slot };
	struct sy_xdp_backend *b;
	__u64 *ref;

	*counter = 0;
	if (p->is_frag || p->proto != SY_IPPROTO_UDP)
		return NULL;
	switch (sy_quic_route(ctx, p, &k.server_id)) {
	case SY_QUIC_HASH:
		return NULL;
	case SY_QUIC_SERVER_ID:
		ref = bpf_map_lookup_elem(&sy_quic_ids, &k);
		b = ref ? tracked_backend(s, *ref) : NULL;
		if (b) {
			*counter = SY_C_QUIC_CID_ROUTED;
			return b;
		}
		break;
	default:
		break;
	}
	*counter = SY_C_QUIC_CID_UNKNOWN;
	return NULL;
}

/* ---- Fragments (switchyard/pkt_frag.h) --------------------------------------- */

/* A fragment's service: a later fragment takes its first's ports if
 * sy_frag remembers them; a first fragment of a VIP service is remembered
 * (lb.c fragment_service()). */
static __always_inline int
fragment_service(struct xdp_md *ctx, struct sy_parsed *p, struct sy_xdp_addr_services *as,
		 __u64 now)
{
	enum sy_frag_step step = sy_frag_step(p);
	int found;
	struct sy_xdp_frag *e;
	struct sy_frag_key k;

	if (step != SY_FRAG_NONE && sy_frag_key_of(ctx, p, &k))
		step = SY_FRAG_NONE;
	if (step == SY_FRAG_LOOKUP) {
		e = bpf_map_lookup_elem(&sy_frag, &k);
		if (e && e->expires_ns >= now) {
			struct sy_frag_ports v = { .sport = e->sport, .dport = e->dport };

			sy_frag_follow(p, v);
		}
	}
	found = sy_class_has_service(p) && find_service(p, as);
	if (found && step == SY_FRAG_REMEMBER) {
		struct sy_xdp_frag v = {
			.sport = p->key.sport,
			.dport = p->key.dport,
			.expires_ns = now + (__u64)SY_FRAG_TIMEOUT_MS_DEFAULT * 1000000,
		};

		bpf_map_update_elem(&sy_frag, &k, &v, BPF_ANY);
	}
	return found;
}

/* ---- The packet path (lb.c sy_lb_process()) ------------------------------------ */

/* The front of the program for every frame, in one call: the shared
 * classification (switchyard/pkt_parse.h, inlined here) and, for a frame
 * that may be ours, the VIP address lookup (vip_address()) and the
 * conntrack time (ct_now(), which every frame to a VIP address needs).
 * Returns SY_V_KERNEL for the host's frames (not IP, its protocols, not
 * to a VIP address), SY_V_DROP with p->reason, or, for a frame to a VIP
 * address (*p and *as filled), the conntrack time, nanoseconds since boot,
 * which is above both. Returned, not stored through a pointer: the main
 * program's frame and this function's are a chain of calls within the
 * verifier's 512 bytes (448 + 64 on 6.1, which rounds frames up to 32).
 * A global function, verified once on its own: the parser's paths, and
 * the clock's branch after them, do not multiply the main program's. One call, not three (the parser, the
 * lookup and the clock were each a global function): every call returns
 * through the kernel's return thunk, which on hosts with AMD's SRSO
 * mitigation (Safe RET) costs ~7 ns a call (xdp_bench: established 119.6
 * -> 105.0 ns above the floor, non-VIP 34.9 -> 28.6; perf/README.md). */
__noinline __u64 classify_frame(struct xdp_md *ctx, struct sy_parsed *p,
				struct sy_xdp_addr_services *as, __u32 len)
{
	__u64 now;
	int v;

	if (!ctx || !p || !as) /* a global function: the verifier asks */
		return SY_V_KERNEL;
	v = sy_parse_frame_general(ctx, p, len);
	if (v != SY_V_TX)
		return v;
	/* the shared decisions (switchyard/pkt_classify.h) around our
	 * lookups; echo and the like are the host's without any */
	if (!sy_class_may_be_ours(p))
		return SY_V_KERNEL;
	/* the one lookup for the host's own traffic: not a VIP address */
	if (!vip_address(&p->key, as))
		return SY_V_KERNEL;
	now = ct_now();
	return now > SY_V_DROP ? now : SY_V_DROP + 1;
}

static __always_inline int process(struct xdp_md *ctx, const struct sy_xdp_config *cfg,
				   __u32 frame_len)
{
	struct sy_parsed p = {};
	struct sy_xdp_addr_services as; /* as.svc: the packet's service */
	const struct sy_xdp_service *svc = &as.svc;
	int found;
	struct sy_xdp_backend *bp, be;
	struct sy_vip_counters *vc;
	struct sy_backend_counters *bc;
	struct sy_xdp_cpu_stats *st;
	struct lazy_hash lazy = {};
	struct sy_rewrite r;
	enum sy_class_choice how;
	__u32 hash = 0, slot, quic_counter = 0;
	__u64 now; /* conntrack time, or classify_frame()'s verdict */
	int v, other_cpu = 0;

	now = classify_frame(ctx, &p, &as, frame_len);
	if (now == SY_V_DROP) {
		count(p.reason);
		return SY_V_DROP;
	}
	if (now < SY_V_DROP)
		return SY_V_KERNEL;
	if (p.is_frag)
		found = fragment_service(ctx, &p, &as, now);
	else
		found = sy_class_has_service(&p) && find_service(&p, &as);
	if (!found) {
		__u32 reason = SY_C_DROP_NO_SERVICE;

		/* a VIP address (of either protocol) is never the kernel's */
		v = sy_class_unserved(&p, 1, &reason);
		count(reason);
		return v;
	}
	slot = svc->slot;

	how = sy_class_choice(&p);
	if (how == SY_CHOOSE_FRAGMENT) {
		__u64 ref;

		hash = service_flow_hash(&p.key, svc->hash_seed,
					 sy_class_hash_fields(&p, svc->flags & SY_HASH_FIELDS_MASK));
		bp = pick(svc, hash, &ref);
	} else if (how == SY_CHOOSE_ICMP) {
		hash = service_flow_hash(&p.key, svc->hash_seed,
					 sy_class_hash_fields(&p, svc->flags & SY_HASH_FIELDS_MASK));
		bp = predict(cfg, svc, &p.key, hash, &other_cpu, now);
	} else {
		bp = NULL;
		if (svc->flags & SY_SERVICE_QUIC)
			bp = quic_backend(ctx, svc, &p, &quic_counter);
		/* the flow hash only if a lookup misses or the rewrite reads it */
		if (!bp)
			bp = select_tracked(cfg, svc, &p, &lazy, now);
	}
	if (!bp) {
		count(SY_C_DROP_NO_BACKEND);
		vc = vip_stats(cpu_stats(), slot);
		if (vc)
			vc->drops++;
		return SY_V_DROP;
	}
	be = *bp;

	/* the rewrite: the shared core's (switchyard/pkt_encap.h) */
	if (svc->fwd_mode == SY_FWD_L2DSR) {
		r = sy_l2dsr_write(ctx, &p, be.mac, cfg->port_mac);
	} else {
		struct sy_out out = {
			.port_mac = cfg->port_mac,
			.next_hop = be.mac,
			.src = be.family == SY_AF_INET ? &svc->encap_src4 : svc->encap_src6,
			.dst = be.addr,
			.hash = hash,
			.mtu = cfg->mtu,
			.gue_port = svc->gue_port,
			.family = be.family,
			.fwd_mode = svc->fwd_mode,
		};

		if (how == SY_CHOOSE_TRACKED && sy_encap_uses_hash(&out))
			out.hash = flow_hash(&lazy, &p.key, svc);
		r = sy_encap_write(ctx, &p, &out);
		if (r.counter == SY_C_DROP_MTU)
			return too_big(ctx, cfg, &p, &out);
	}
	if (r.verdict != SY_V_TX)
		return count_rewrite(r);
	/* how the backend was chosen is counted for what was forwarded */
	if (how != SY_CHOOSE_TRACKED || p.is_frag) {
		__u32 c[3];

		sy_class_forward_counters(&p, how, c);
		if (c[0])
			count(c[0]);
		if (c[1])
			count(c[1]);
		if (c[2])
			count(c[2]);
	}
	if (other_cpu)
		count(SY_C_ICMP_CT_OTHER);
	if (quic_counter)
		count(quic_counter);
	st = cpu_stats();
	if (!st)
		return SY_V_TX;
	st->counters[SY_C_FWD_PKTS]++;
	vc = vip_stats(st, slot);
	if (vc) {
		vc->pkts++;
		vc->bytes += frame_len;
	}
	bc = backend_stats(st, be.stats_slot);
	if (bc) {
		bc->pkts++;
		bc->bytes += frame_len;
	}
	return SY_V_TX;
}

/* The frame's length: data to data_end, the whole frame of a program that
 * is not frags-aware (what bpf_xdp_get_buff_len() returns then, without
 * its call). */
static __always_inline __u32 frame_bytes(const struct xdp_md *ctx)
{
	return ctx->data_end - ctx->data;
}

SEC("xdp")
int sy_xdp_lb(struct xdp_md *ctx)
{
	__u32 zero = 0, len;
	const struct sy_xdp_config *cfg = bpf_map_lookup_elem(&sy_config, &zero);
	struct sy_xdp_cpu_stats *st;
	int v;

	if (!cfg || !cfg->configured)
		return XDP_PASS; /* sy-control has not configured us yet */
	/* linear frames (not frags-aware): the length without a helper call */
	len = frame_bytes(ctx);
	st = cpu_stats(); /* one lookup for the counters of every packet */
	if (st) {
		st->counters[SY_C_RX_PKTS]++;
		st->counters[SY_C_RX_BYTES] += len;
	}
	v = process(ctx, cfg, len);
	if (v == SY_V_TX) {
		if (st) {
			st->counters[SY_C_TX_PKTS]++;
			st->counters[SY_C_TX_BYTES] += frame_bytes(ctx);
		}
		if (cfg->tx_ifindex)
			return bpf_redirect(cfg->tx_ifindex, 0);
		return XDP_TX;
	}
	if (v == SY_V_KERNEL) {
		if (st)
			st->counters[SY_C_TO_KERNEL]++;
		return XDP_PASS;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
