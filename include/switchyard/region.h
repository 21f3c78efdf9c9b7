/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The shared-table region: the ABI between sy-control (one writer) and
 * sy-dataplane (reader lcores in another process). See docs/region.md.
 *
 * The region is one file (tmpfs or hugetlbfs) mapped by both processes at
 * different addresses, so every reference inside it is an offset from the
 * region's base, never a pointer.
 *
 *   [header][lcore slots][ports][lcore stats][writer state][heap .......]
 *
 * The heap holds immutable snapshot objects: a root (struct sy_snapshot) that
 * indexes service objects (struct sy_service, each with its backends, its
 * Maglev table and its uid index in the same allocation). The writer builds
 * new objects beside the old ones and publishes a new root with one release
 * store of header->root_off. Readers load the root once per burst (acquire)
 * and record the root's generation in their lcore slot: that store is their
 * quiescent point. An object unlinked at generation g is reused only once
 * every online reader has recorded a generation >= g (QSBR).
 *
 * Readers never lock, never allocate and make no system calls on this path.
 */
#ifndef SWITCHYARD_REGION_H
#define SWITCHYARD_REGION_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flow_hash.h"
#include "maglev.h"
#include "port_stats.h"
#include "region_types.h"

#define SY_REGION_MAGIC 0x4e4f494745525953ull /* "SYREGION" little-endian */
#define SY_REGION_ABI_VERSION 5u /* 4: the port counter block (ports_off), region_id;
				  * 5: QUIC server IDs (sy_service.quic_off) */
#define SY_SNAPSHOT_MAGIC 0x544f4e5350414e53ull /* "SNAPSNOT" */
#define SY_SERVICE_MAGIC 0x4543495652455359ull  /* "YSERVICE" */

#define SY_CACHE_LINE 64
#define SY_REGION_PAGE 4096u /* heap allocation granule */
#define SY_NAME_MAX 64       /* service name, NUL included */
#define SY_INSTANCE_MAX 64

/* Limits chosen when the region is created; fixed for its lifetime. */
struct sy_region_limits {
	uint32_t max_lcores;   /* reader slots (one per dataplane lcore) */
	uint32_t max_services; /* per-VIP counter slots */
	uint32_t max_backends; /* per-backend counter slots, all services */
	uint32_t pad;
	uint64_t heap_size;    /* bytes for snapshot objects */
};


#define SY_BACKEND_DRAINING 0x1u /* weight 0: keeps flows, takes no new ones */

struct sy_backend {
	struct sy_backend_id id;
	uint32_t weight;
	uint32_t slot;   /* per-backend counter index, stable while it exists */
	uint64_t uid;    /* never reused in this region: conntrack's reference */
	uint8_t mac[6];  /* next hop (l2dsr: the backend itself) */
	uint8_t flags;   /* SY_BACKEND_* */
	uint8_t pad;
	uint32_t server_id; /* QUIC server ID (pkt_quic.h), 0 = none */
};

/* QUIC server ID -> index into the service's backend array, sorted by ID. */
struct sy_quic_ref {
	uint32_t server_id;
	uint32_t index;
};

/* uid -> index into the service's backend array, sorted by uid. */
struct sy_backend_ref {
	uint64_t uid;
	uint32_t index;
	uint32_t pad;
};

struct sy_service {
	uint64_t magic;        /* SY_SERVICE_MAGIC */
	uint64_t version;      /* generation that published this object */
	char name[SY_NAME_MAX];
	struct sy_vip_key vip;
	uint32_t slot;         /* per-VIP counter index, stable while it exists */
	uint8_t fwd_mode;      /* enum sy_fwd_mode */
	uint8_t flags;         /* enum sy_hash_fields in the low bits (sy_service_hash_fields),
			        * SY_SERVICE_ROUND_ROBIN, SY_SERVICE_LEAST_CONNS,
			        * SY_SERVICE_QUIC */
	uint16_t gue_port;     /* outer UDP destination port, network order */
	uint32_t hash_seed;    /* fleet flow-hash seed */
	uint32_t table_size;   /* Maglev M (prime) */
	uint32_t n_backends;
	uint32_t encap_src4;   /* outer IPv4 source, wire order */
	uint32_t encap_src6[4];/* outer IPv6 source, wire order */
	uint64_t digest;       /* sy_maglev_digest of this table */
	uint64_t backends_off; /* struct sy_backend[n_backends], canonical order */
	uint64_t refs_off;     /* struct sy_backend_ref[n_backends], by uid */
	uint64_t table_off;    /* uint32_t[table_size], backend index or NONE */
	uint64_t quic_off;     /* struct sy_quic_ref[n_quic], by server ID */
	uint32_t n_quic;       /* backends with a QUIC server ID */
	uint32_t pad;
	uint64_t object_size;  /* bytes from this header to the table's end */
	uint64_t checksum;     /* FNV-1a of the object with this field zero */
};

/* What of a flow the service hashes (flow_hash.h): 0, the 5-tuple, in
 * regions of earlier versions, whose flags were 0. */
static inline uint32_t sy_service_hash_fields(const struct sy_service *s)
{
	return s->flags & SY_HASH_FIELDS_MASK;
}

/* Open-addressing VIP index entry; service_off 0 = empty bucket. */
struct sy_vip_bucket {
	struct sy_vip_key key;
	uint64_t service_off;
};

struct sy_snapshot {
	uint64_t magic;          /* SY_SNAPSHOT_MAGIC */
	uint64_t generation;     /* strictly increasing per publish */
	uint32_t n_services;
	uint32_t n_buckets;      /* power of two */
	uint64_t services_off;   /* uint64_t[n_services], by name */
	uint64_t buckets_off;    /* struct sy_vip_bucket[n_buckets] */
	uint64_t object_size;
	uint64_t checksum;       /* FNV-1a of the object with this field zero */
};

/* One per reader lcore, on its own cache line. */
struct sy_lcore_slot {
	alignas(SY_CACHE_LINE) _Atomic uint64_t seen_gen; /* quiescent report */
	_Atomic uint32_t online;  /* 0: reclamation ignores this reader */
	_Atomic int32_t pid;      /* owner, 0 = free */
	uint32_t lcore_id;
	uint32_t pad;
	_Atomic uint64_t bursts;  /* liveness, for operators */
};

struct sy_lcore_stats {
	uint64_t counters[SY_LCORE_NCOUNTERS];
	/* followed by struct sy_vip_counters[max_services] and
	 * struct sy_backend_counters[max_backends] */
};

struct sy_region_header {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t header_size;   /* sizeof(struct sy_region_header) */
	uint64_t region_size;   /* bytes of the whole file */
	struct sy_region_limits limits;
	char instance[SY_INSTANCE_MAX];
	uint64_t slots_off;     /* struct sy_lcore_slot[max_lcores] */
	uint64_t stats_off;     /* max_lcores blocks of stats_stride bytes */
	uint64_t stats_stride;
	uint64_t writer_off;    /* writer's persistent state (retire list) */
	uint64_t writer_size;
	uint64_t heap_off;
	uint64_t heap_size;
	uint64_t ports_off;     /* struct sy_port_block, written by the dataplane */
	/* random at creation; a copy of the region (sy_writer_recreate) keeps
	 * it: a reader that finds another file at the path knows whether it is
	 * its region again (its conntrack's backend uids still hold) or a new
	 * one (they do not) */
	uint64_t region_id;
	_Atomic int32_t writer_pid; /* informational; exclusion is a flock */
	uint32_t pad;
	alignas(SY_CACHE_LINE) _Atomic uint64_t root_off; /* current sy_snapshot */
	_Atomic uint64_t generation; /* generation of that snapshot */
	/* Written by the running dataplane: where its DPDK telemetry socket is,
	 * so sy-control can ask it about tracked flows (syctl lookup). */
	alignas(SY_CACHE_LINE) _Atomic int32_t dp_pid;
	char dp_telemetry[108];
};

/* ---- Mapping (both sides) ---------------------------------------------- */

struct sy_region_map {
	uint8_t *base;
	size_t size;
	int fd;
	struct sy_region_header *hdr;
};

/* Map an existing region and validate magic, ABI version, header size and
 * file size. Returns 0, or -1 with a message naming the file in err. */
int sy_region_map_open(const char *path, struct sy_region_map *m, char *err,
		       size_t errlen);
void sy_region_map_close(struct sy_region_map *m);
/* Read and validate a region's header (the same checks) without mapping or
 * locking it: what --check needs to know of a region that exists. */
int sy_region_peek(const char *path, struct sy_region_header *h, char *err, size_t errlen);

/* ---- The file behind a mapping (lib/region_file.c) ---------------------- */

enum { SY_REGION_FILE_SAME, SY_REGION_FILE_MISSING, SY_REGION_FILE_OTHER };
/* Whether path still names the file open as fd: SY_REGION_FILE_SAME, _MISSING
 * (removed), _OTHER (another file took its name), or -1 on an error. */
int sy_region_file_state(int fd, const char *path);
/* Copy the region open as from_fd (size bytes, every byte readable) into a
 * new file at path (created exclusively, mode 0660, as sparse as the
 * original). 0, or -1 with err and no file left at path. */
int sy_region_copy(int from_fd, uint64_t size, const char *path, char *err, size_t errlen);

static inline void *sy_region_ptr(const struct sy_region_map *m, uint64_t off)
{
	return m->base + off;
}

static inline struct sy_lcore_slot *sy_region_slot(const struct sy_region_map *m,
						   uint32_t lcore)
{
	return (struct sy_lcore_slot *)(m->base + m->hdr->slots_off) + lcore;
}

static inline struct sy_lcore_stats *sy_region_stats(const struct sy_region_map *m,
						     uint32_t lcore)
{
	return (struct sy_lcore_stats *)(m->base + m->hdr->stats_off +
					 m->hdr->stats_stride * lcore);
}

static inline struct sy_port_block *sy_region_ports(const struct sy_region_map *m)
{
	return (struct sy_port_block *)(m->base + m->hdr->ports_off);
}

static inline struct sy_vip_counters *sy_stats_vips(struct sy_lcore_stats *s)
{
	return (struct sy_vip_counters *)(s + 1);
}

static inline struct sy_backend_counters *
sy_stats_backends(const struct sy_region_map *m, struct sy_lcore_stats *s)
{
	return (struct sy_backend_counters *)(sy_stats_vips(s) +
					      m->hdr->limits.max_services);
}

/* Counters summed over every lcore block (also blocks of workers that are
 * gone: counters are cumulative). For sy-control and telemetry. */
static inline uint64_t sy_region_sum_counter(const struct sy_region_map *m, int c)
{
	uint64_t v = 0;

	for (uint32_t l = 0; l < m->hdr->limits.max_lcores; l++)
		v += sy_region_stats(m, l)->counters[c];
	return v;
}

static inline void sy_region_sum_vip(const struct sy_region_map *m, uint32_t slot,
				     struct sy_vip_counters *out)
{
	*out = (struct sy_vip_counters){ 0 };
	for (uint32_t l = 0; l < m->hdr->limits.max_lcores; l++) {
		const struct sy_vip_counters *x = &sy_stats_vips(sy_region_stats(m, l))[slot];

		out->pkts += x->pkts;
		out->bytes += x->bytes;
		out->drops += x->drops;
		out->new_flows += x->new_flows;
	}
}

static inline void sy_region_sum_backend(const struct sy_region_map *m, uint32_t slot,
					 struct sy_backend_counters *out)
{
	*out = (struct sy_backend_counters){ 0 };
	for (uint32_t l = 0; l < m->hdr->limits.max_lcores; l++) {
		const struct sy_backend_counters *x =
			&sy_stats_backends(m, sy_region_stats(m, l))[slot];

		out->pkts += x->pkts;
		out->bytes += x->bytes;
	}
}

/* ---- Reader side (dataplane lcores) ------------------------------------ */

struct sy_reader {
	struct sy_region_map *map;
	struct sy_lcore_slot *slot;
	uint32_t lcore;
};

/* Claim lcore slot `lcore` for this process (refused if a live process owns
 * it) and go online. */
int sy_reader_register(struct sy_region_map *m, uint32_t lcore,
		       struct sy_reader *r, char *err, size_t errlen);
/* Go offline and free the slot. */
void sy_reader_unregister(struct sy_reader *r);

/* Start of a burst: the reader holds nothing from earlier bursts (quiescent),
 * takes the current snapshot and reports its generation. Cost: one acquire
 * load, one load from the root's first cache line and one release store. */
static inline const struct sy_snapshot *sy_reader_begin(struct sy_reader *r)
{
	uint64_t off = atomic_load_explicit(&r->map->hdr->root_off,
					    memory_order_acquire);
	const struct sy_snapshot *snap;

	if (!off)
		return NULL;
	snap = (const struct sy_snapshot *)(r->map->base + off);
	atomic_store_explicit(&r->slot->seen_gen, snap->generation,
			      memory_order_release);
	return snap;
}

/* An idle or stopping reader goes offline so it does not hold reclamation;
 * it must not touch snapshot memory until it is online again. */
static inline void sy_reader_offline(struct sy_reader *r)
{
	atomic_store_explicit(&r->slot->online, 0, memory_order_release);
}

static inline void sy_reader_online(struct sy_reader *r)
{
	/* seq_cst: the writer either sees us online or we see its newest root
	 * (see docs/region.md, "Going online"). */
	atomic_store_explicit(&r->slot->online, 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
}

/* ---- Snapshot lookups (readers and the control plane) ------------------ */

static inline uint32_t sy_vip_hash(const struct sy_vip_key *k)
{
	uint32_t w[6] = { k->addr[0], k->addr[1], k->addr[2], k->addr[3],
			  k->port, (uint32_t)k->proto | ((uint32_t)k->family << 8) };

	return sy_jhash_words(w, 6, 0x56495021u /* "VIP!" */);
}

static inline int sy_vip_key_eq(const struct sy_vip_key *a, const struct sy_vip_key *b)
{
	return a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] &&
	       a->addr[2] == b->addr[2] && a->addr[3] == b->addr[3] &&
	       a->port == b->port && a->proto == b->proto && a->family == b->family;
}

/* Exact VIP match (port 0 finds an all-ports service). NULL if none. */
static inline const struct sy_service *
sy_snapshot_find_vip(const uint8_t *base, const struct sy_snapshot *snap,
		     const struct sy_vip_key *k)
{
	const struct sy_vip_bucket *b =
		(const struct sy_vip_bucket *)(base + snap->buckets_off);
	uint32_t mask = snap->n_buckets - 1;

	for (uint32_t i = sy_vip_hash(k) & mask, n = 0; n < snap->n_buckets;
	     i = (i + 1) & mask, n++) {
		if (!b[i].service_off)
			return NULL;
		if (sy_vip_key_eq(&b[i].key, k))
			return (const struct sy_service *)(base + b[i].service_off);
	}
	return NULL;
}

/* Besides one entry per service, the VIP index holds one "address entry" per
 * (address, protocol) with a VIP: key port 0 and family | SY_VIP_ADDR_KEY.
 * It names the service that receives that address's fragments (its all-ports
 * service if any, else its lowest port's) and tells the dataplane that the
 * address is a VIP (TCP/UDP to it, of either protocol, is never passed to
 * the kernel). SY_VIP_ADDR_KEY is in region_types.h. */

static inline const struct sy_service *
sy_snapshot_vip_addr(const uint8_t *base, const struct sy_snapshot *snap,
		     const struct sy_vip_key *k)
{
	struct sy_vip_key a = *k;

	a.port = 0;
	a.family = (uint8_t)(k->family | SY_VIP_ADDR_KEY);
	return sy_snapshot_find_vip(base, snap, &a);
}

/* The service for a packet to (addr, port, proto): an exact service first,
 * then the all-ports service of (addr, proto). */
static inline const struct sy_service *
sy_snapshot_match(const uint8_t *base, const struct sy_snapshot *snap,
		  struct sy_vip_key *k)
{
	const struct sy_service *s = sy_snapshot_find_vip(base, snap, k);
	uint16_t port = k->port;

	if (s || port == 0)
		return s;
	k->port = 0;
	s = sy_snapshot_find_vip(base, snap, k);
	k->port = port;
	return s;
}

static inline const struct sy_service *
sy_snapshot_service(const uint8_t *base, const struct sy_snapshot *snap, uint32_t i)
{
	const uint64_t *offs = (const uint64_t *)(base + snap->services_off);

	return (const struct sy_service *)(base + offs[i]);
}

/* The service named `name` in snap (may be NULL), or NULL: a snapshot lists
 * its services by name (strcmp order), so this is a binary search. */
static inline const struct sy_service *
sy_snapshot_find_name(const uint8_t *base, const struct sy_snapshot *snap, const char *name)
{
	uint32_t lo = 0, hi = snap ? snap->n_services : 0;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct sy_service *s = sy_snapshot_service(base, snap, mid);
		int c = strcmp(s->name, name);

		if (c == 0)
			return s;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static inline const struct sy_backend *sy_service_backends(const uint8_t *base,
							   const struct sy_service *s)
{
	return (const struct sy_backend *)(base + s->backends_off);
}

static inline const uint32_t *sy_service_table(const uint8_t *base,
					       const struct sy_service *s)
{
	return (const uint32_t *)(base + s->table_off);
}

/* Maglev selection: backend index for a flow hash, or SY_MAGLEV_NONE. */
static inline uint32_t sy_service_pick(const uint8_t *base, const struct sy_service *s,
				       uint32_t flow_hash)
{
	return sy_service_table(base, s)[flow_hash % s->table_size];
}

/* Index of the backend with this uid in the service, or SY_MAGLEV_NONE if it
 * left. Conntrack calls this only when the service's version changed. */
static inline uint32_t sy_service_find_uid(const uint8_t *base,
					   const struct sy_service *s, uint64_t uid)
{
	const struct sy_backend_ref *r =
		(const struct sy_backend_ref *)(base + s->refs_off);
	uint32_t lo = 0, hi = s->n_backends;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r[mid].uid == uid)
			return r[mid].index;
		if (r[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SY_MAGLEV_NONE;
}

/* Index of the backend registered with QUIC server ID id, or
 * SY_MAGLEV_NONE (pkt_quic.h). */
static inline uint32_t sy_service_quic_backend(const uint8_t *base, const struct sy_service *s,
					       uint32_t id)
{
	const struct sy_quic_ref *r = (const struct sy_quic_ref *)(base + s->quic_off);
	uint32_t lo = 0, hi = s->n_quic;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r[mid].server_id == id)
			return r[mid].index;
		if (r[mid].server_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SY_MAGLEV_NONE;
}

/* The same from the low 32 bits of a uid (what conntrack keeps): uids are
 * handed out in order, so the service's backends' uids lie within 2^32 of
 * its largest one and the high bits follow from it. */
static inline uint32_t sy_service_find_uid_lo(const uint8_t *base,
					      const struct sy_service *s, uint32_t uid_lo)
{
	const struct sy_backend_ref *r =
		(const struct sy_backend_ref *)(base + s->refs_off);
	uint64_t max, uid;

	if (!s->n_backends)
		return SY_MAGLEV_NONE;
	max = r[s->n_backends - 1].uid;
	uid = (max & ~(uint64_t)0xffffffff) | uid_lo;
	if (uid > max)
		uid -= (uint64_t)1 << 32; /* wraps to a uid no backend has if max < 2^32 */
	return sy_service_find_uid(base, s, uid);
}

/* FNV-1a 64 over an object whose checksum field is taken as zero: lets a
 * reader (tests, `syctl` diagnostics) verify an object it holds is intact. */
uint64_t sy_object_checksum(const void *obj, size_t size, size_t checksum_field_off);

static inline int sy_service_intact(const struct sy_service *s)
{
	return s->magic == SY_SERVICE_MAGIC &&
	       sy_object_checksum(s, s->object_size,
				  offsetof(struct sy_service, checksum)) == s->checksum;
}

static inline int sy_snapshot_intact(const struct sy_snapshot *s)
{
	return s->magic == SY_SNAPSHOT_MAGIC &&
	       sy_object_checksum(s, s->object_size,
				  offsetof(struct sy_snapshot, checksum)) == s->checksum;
}

#endif
