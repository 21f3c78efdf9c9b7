/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Writer side of the shared-table region. See include/switchyard/region_writer.h
 * for the API and docs/region.md for the protocol.
 *
 * Everything the writer needs to resume after a crash is either reachable
 * from the published root or in the retire list kept inside the region; the
 * page and slot bitmaps are rebuilt from those two on adoption.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <switchyard/pkt_quic.h>
#include <switchyard/region_writer.h>

/* ---- Persistent writer state (inside the region) ----------------------- */

enum retire_kind {
	RETIRE_PAGES = 1,        /* an unlinked snapshot or service object */
	RETIRE_SERVICE_SLOT = 2, /* per-VIP counter slot of a removed service */
	RETIRE_BACKEND_SLOT = 3, /* per-backend counter slot of a gone backend */
};

struct retired {
	uint64_t gen;  /* generation of the root that unlinked it */
	uint64_t off;  /* RETIRE_PAGES: object offset */
	uint32_t npages;
	uint32_t slot; /* RETIRE_*_SLOT */
	uint32_t kind;
	uint32_t pad;
};

struct writer_state {
	uint64_t next_uid;
	uint32_t retire_cap;
	uint32_t retire_count; /* entries [0, count) are valid */
	struct retired retire[];
};

/* ---- Private writer state ---------------------------------------------- */

struct staged {
	char name[SY_NAME_MAX];
	bool remove;
	struct sy_service_spec spec; /* spec.backends points into backends */
	struct sy_backend_spec *backends; /* canonical order */
	/* The Maglev table over backends (indices into it) and its digest,
	 * built when staged so that the commit only copies it; NULL when the
	 * spec matched the published service then, or for a removal. */
	uint32_t *table;
	uint64_t digest;
};

struct sy_writer {
	struct sy_region_map map;
	struct sy_writer_opts opts;
	struct writer_state *ws;
	uint64_t *pages;     /* heap page bitmap: 1 = in use */
	uint64_t n_pages;
	uint64_t used_pages;
	uint64_t hint;       /* first-fit search start */
	uint8_t *svc_slots;  /* 1 = in use */
	uint8_t *be_slots;
	uint32_t be_hint;
	struct staged *stage;
	uint32_t n_stage, cap_stage;
	bool locked; /* holds the writer flock */
};

#define PAGE SY_REGION_PAGE

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* ---- Heap pages --------------------------------------------------------- */

static bool page_used(const struct sy_writer *w, uint64_t p)
{
	return w->pages[p / 64] >> (p % 64) & 1;
}

static void mark_pages(struct sy_writer *w, uint64_t first, uint64_t n, bool used)
{
	for (uint64_t p = first; p < first + n; p++) {
		if (used)
			w->pages[p / 64] |= 1ull << (p % 64);
		else
			w->pages[p / 64] &= ~(1ull << (p % 64));
	}
	w->used_pages += used ? n : -n;
}

static uint64_t heap_off_of_page(const struct sy_writer *w, uint64_t p)
{
	return w->map.hdr->heap_off + p * PAGE;
}

static uint64_t page_of_off(const struct sy_writer *w, uint64_t off)
{
	return (off - w->map.hdr->heap_off) / PAGE;
}

/* First fit from a rotating hint. Returns a region offset, 0 if full. */
static uint64_t heap_alloc(struct sy_writer *w, uint64_t bytes)
{
	uint64_t need = round_up(bytes, PAGE) / PAGE;

	for (int pass = 0; pass < 2; pass++) {
		uint64_t start = pass ? 0 : w->hint, end = pass ? w->hint : w->n_pages;
		uint64_t run = 0;

		for (uint64_t p = start; p < end; p++) {
			if (run == 0 && p % 64 == 0 && w->pages[p / 64] == ~0ull) {
				p += 63; /* skip a full word */
				continue;
			}
			run = page_used(w, p) ? 0 : run + 1;
			if (run == need) {
				uint64_t first = p + 1 - need;

				mark_pages(w, first, need, true);
				w->hint = p + 1 < w->n_pages ? p + 1 : 0;
				return heap_off_of_page(w, first);
			}
		}
	}
	return 0;
}

static void heap_free(struct sy_writer *w, uint64_t off, uint64_t bytes)
{
	uint64_t n = round_up(bytes, PAGE) / PAGE;

	if (w->opts.poison_on_free)
		memset(w->map.base + off, 0xa5, n * PAGE);
	mark_pages(w, page_of_off(w, off), n, false);
}

/* ---- Counter slots ------------------------------------------------------ */

static int slot_alloc(uint8_t *used, uint32_t n, uint32_t *hint)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (*hint + i) % n;

		if (!used[s]) {
			used[s] = 1;
			*hint = (s + 1) % n;
			return (int)s;
		}
	}
	return -1;
}

/* A reused slot starts from zero for every lcore, so per-slot counters read
 * by sy-control never mix two owners. Safe: the grace period has passed, so
 * no reader still counts into it. */
static void slot_zero_counters(struct sy_writer *w, bool service, uint32_t slot)
{
	for (uint32_t l = 0; l < w->map.hdr->limits.max_lcores; l++) {
		struct sy_lcore_stats *s = sy_region_stats(&w->map, l);

		if (service)
			memset(&sy_stats_vips(s)[slot], 0, sizeof(struct sy_vip_counters));
		else
			memset(&sy_stats_backends(&w->map, s)[slot], 0,
			       sizeof(struct sy_backend_counters));
	}
}

/* ---- Layout and creation ------------------------------------------------ */

struct layout {
	uint64_t slots_off, ports_off, stats_off, stats_stride, writer_off, writer_size;
	uint64_t heap_off, heap_size, total;
	uint32_t retire_cap;
};

static int check_limits(const struct sy_region_limits *l, char *err, size_t errlen)
{
	if (l->max_lcores < 1 || l->max_lcores > 1024 || l->max_services < 1 ||
	    l->max_services > 65536 || l->max_backends < 1 ||
	    l->max_backends > (1u << 24) || l->heap_size < (1u << 20) ||
	    l->heap_size > (64ull << 30)) {
		snprintf(err, errlen,
			 "region limits out of range: lcores 1..1024 (%u), services 1..65536 (%u), backends 1..16777216 (%u), heap 1 MiB..64 GiB (%llu)",
			 l->max_lcores, l->max_services, l->max_backends,
			 (unsigned long long)l->heap_size);
		return -1;
	}
	return 0;
}

static struct layout compute_layout(const struct sy_region_limits *l)
{
	struct layout o;
	uint64_t off = round_up(sizeof(struct sy_region_header), PAGE);

	o.slots_off = off;
	off = round_up(off + (uint64_t)l->max_lcores * sizeof(struct sy_lcore_slot), PAGE);
	o.ports_off = off;
	off = round_up(off + sizeof(struct sy_port_block), PAGE);
	o.stats_off = off;
	o.stats_stride = round_up(sizeof(struct sy_lcore_stats) +
					  (uint64_t)l->max_services * sizeof(struct sy_vip_counters) +
					  (uint64_t)l->max_backends * sizeof(struct sy_backend_counters),
				  SY_CACHE_LINE);
	off = round_up(off + o.stats_stride * l->max_lcores, PAGE);
	/* Worst case in flight: every backend and service slot retired, plus
	 * the objects of a few generations. */
	o.retire_cap = l->max_backends + 4 * l->max_services + 1024;
	o.writer_off = off;
	o.writer_size = round_up(sizeof(struct writer_state) +
					 (uint64_t)o.retire_cap * sizeof(struct retired),
				 PAGE);
	off += o.writer_size;
	o.heap_off = off;
	o.heap_size = round_up(l->heap_size, PAGE);
	/* hugetlbfs wants whole huge pages; 2 MiB also suits tmpfs. */
	o.total = round_up(off + o.heap_size, 2u << 20);
	o.heap_size = o.total - o.heap_off;
	return o;
}

static struct sy_writer *writer_alloc(const struct sy_writer_opts *opts)
{
	struct sy_writer *w = calloc(1, sizeof(*w));

	if (w && opts)
		w->opts = *opts;
	return w;
}

static int writer_init_private(struct sy_writer *w, char *err, size_t errlen)
{
	const struct sy_region_header *h = w->map.hdr;

	w->ws = (struct writer_state *)(w->map.base + h->writer_off);
	w->n_pages = h->heap_size / PAGE;
	w->pages = calloc((w->n_pages + 63) / 64, sizeof(uint64_t));
	w->svc_slots = calloc(h->limits.max_services, 1);
	w->be_slots = calloc(h->limits.max_backends, 1);
	if (!w->pages || !w->svc_slots || !w->be_slots) {
		snprintf(err, errlen, "out of memory for writer bookkeeping");
		return -1;
	}
	return 0;
}

static int lock_writer(int fd, const char *path, const struct sy_region_header *h,
		       char *err, size_t errlen)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK) {
		snprintf(err, errlen, "region %s: flock: %s", path, strerror(errno));
		return -1;
	}
	snprintf(err, errlen, "region %s is held by another writer (pid %d)", path,
		 h ? atomic_load(&h->writer_pid) : 0);
	return -1;
}

void sy_writer_close(struct sy_writer *w)
{
	if (!w)
		return;
	sy_writer_discard(w);
	free(w->stage);
	if (w->map.hdr && w->locked)
		atomic_store(&w->map.hdr->writer_pid, 0);
	sy_region_map_close(&w->map); /* closing the fd drops the flock */
	free(w->pages);
	free(w->svc_slots);
	free(w->be_slots);
	free(w);
}

int sy_writer_create(const char *path, const char *instance,
		     const struct sy_region_limits *lim,
		     const struct sy_writer_opts *opts, struct sy_writer **out,
		     char *err, size_t errlen)
{
	struct sy_region_limits l = lim ? *lim : SY_REGION_DEFAULT_LIMITS;
	struct sy_writer *w = NULL;
	struct sy_region_header *h;
	struct layout o;
	void *base;
	int fd;

	*out = NULL;
	if (check_limits(&l, err, errlen))
		return -1;
	if (!instance || strlen(instance) >= SY_INSTANCE_MAX) {
		snprintf(err, errlen, "instance name missing or longer than %d bytes",
			 SY_INSTANCE_MAX - 1);
		return -1;
	}
	o = compute_layout(&l);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (fd < 0) {
		snprintf(err, errlen, "region %s: cannot create: %s%s", path, strerror(errno),
			 errno == EEXIST ? " (adopt it, or remove it if no dataplane uses it)" : "");
		return -1;
	}
	if (lock_writer(fd, path, NULL, err, errlen))
		goto fail_unlink;
	if (ftruncate(fd, (off_t)o.total) < 0) {
		snprintf(err, errlen, "region %s: cannot size to %llu bytes: %s", path,
			 (unsigned long long)o.total, strerror(errno));
		goto fail_unlink;
	}
	base = mmap(NULL, o.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		snprintf(err, errlen, "region %s: mmap failed: %s", path, strerror(errno));
		goto fail_unlink;
	}
	h = base;
	h->abi_version = SY_REGION_ABI_VERSION;
	h->header_size = sizeof(*h);
	h->region_size = o.total;
	h->limits = l;
	snprintf(h->instance, sizeof(h->instance), "%s", instance);
	h->slots_off = o.slots_off;
	h->stats_off = o.stats_off;
	h->stats_stride = o.stats_stride;
	h->writer_off = o.writer_off;
	h->writer_size = o.writer_size;
	h->heap_off = o.heap_off;
	h->heap_size = o.heap_size;
	h->ports_off = o.ports_off; /* zero-filled: no port until a dataplane writes */
	if (getrandom(&h->region_id, sizeof(h->region_id), 0) != (ssize_t)sizeof(h->region_id))
		h->region_id = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL); /* never 0 */
	atomic_store(&h->writer_pid, (int32_t)getpid());
	((struct writer_state *)((uint8_t *)base + o.writer_off))->retire_cap = o.retire_cap;
	((struct writer_state *)((uint8_t *)base + o.writer_off))->next_uid = 1;
	/* The magic goes last: a reader never accepts a half-made region. */
	atomic_thread_fence(memory_order_release);
	h->magic = SY_REGION_MAGIC;

	w = writer_alloc(opts);
	if (!w) {
		munmap(base, o.total);
		snprintf(err, errlen, "out of memory");
		goto fail_unlink;
	}
	w->map = (struct sy_region_map){ .base = base, .size = o.total, .fd = fd, .hdr = h };
	w->locked = true;
	if (writer_init_private(w, err, errlen)) {
		sy_writer_close(w);
		unlink(path);
		return -1;
	}
	*out = w;
	return 0;
fail_unlink:
	close(fd);
	unlink(path);
	return -1;
}

/* ---- Adoption ----------------------------------------------------------- */

static int mark_object(struct sy_writer *w, uint64_t off, uint64_t size,
		       const char *what, char *err, size_t errlen)
{
	const struct sy_region_header *h = w->map.hdr;

	if (off < h->heap_off || (off - h->heap_off) % PAGE ||
	    off + size > h->heap_off + h->heap_size || size == 0) {
		snprintf(err, errlen, "%s at offset %llu (size %llu) is outside the heap: corrupt region",
			 what, (unsigned long long)off, (unsigned long long)size);
		return -1;
	}
	mark_pages(w, page_of_off(w, off), round_up(size, PAGE) / PAGE, true);
	return 0;
}

/* Mark everything the published snapshot reaches as in use. */
static int mark_reachable(struct sy_writer *w, const struct sy_snapshot *snap,
			  const char *path, char *err, size_t errlen)
{
	if (!sy_snapshot_intact(snap)) {
		snprintf(err, errlen, "region %s: published snapshot fails its checksum", path);
		return -1;
	}
	if (mark_object(w, (uint64_t)((const uint8_t *)snap - w->map.base),
			snap->object_size, "snapshot", err, errlen))
		return -1;
	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(w->map.base, snap, i);
		const struct sy_backend *b = sy_service_backends(w->map.base, s);

		if (!sy_service_intact(s) || s->slot >= w->map.hdr->limits.max_services) {
			snprintf(err, errlen, "region %s: service %u fails its checksum", path, i);
			return -1;
		}
		if (mark_object(w, (uint64_t)((const uint8_t *)s - w->map.base),
				s->object_size, "service", err, errlen))
			return -1;
		w->svc_slots[s->slot] = 1;
		for (uint32_t j = 0; j < s->n_backends; j++) {
			if (b[j].slot >= w->map.hdr->limits.max_backends) {
				snprintf(err, errlen, "region %s: service %s: backend slot %u out of range",
					 path, s->name, b[j].slot);
				return -1;
			}
			w->be_slots[b[j].slot] = 1;
			if (b[j].uid >= w->ws->next_uid)
				w->ws->next_uid = b[j].uid + 1;
		}
	}
	return 0;
}

/* Keep the retired entries whose resources are not otherwise accounted for.
 * A crash while reclaim compacted the list can leave an entry twice, or an
 * entry for something already released; marking in-use once and dropping
 * the rest makes a second release impossible. */
static void adopt_retired(struct sy_writer *w)
{
	struct writer_state *ws = w->ws;
	const struct sy_region_header *h = w->map.hdr;
	uint32_t kept = 0;

	for (uint32_t i = 0; i < ws->retire_count; i++) {
		const struct retired *r = &ws->retire[i];
		bool keep = false;

		if (r->kind == RETIRE_PAGES && r->off >= h->heap_off &&
		    (r->off - h->heap_off) % PAGE == 0 && r->npages &&
		    r->off + (uint64_t)r->npages * PAGE <= h->heap_off + h->heap_size) {
			uint64_t first = page_of_off(w, r->off);

			keep = true;
			for (uint64_t p = first; p < first + r->npages; p++)
				keep = keep && !page_used(w, p);
			if (keep)
				mark_pages(w, first, r->npages, true);
		} else if (r->kind == RETIRE_SERVICE_SLOT && r->slot < h->limits.max_services) {
			keep = !w->svc_slots[r->slot];
			w->svc_slots[r->slot] = 1;
		} else if (r->kind == RETIRE_BACKEND_SLOT && r->slot < h->limits.max_backends) {
			keep = !w->be_slots[r->slot];
			w->be_slots[r->slot] = 1;
		}
		if (keep)
			ws->retire[kept++] = *r;
	}
	ws->retire_count = kept;
}

int sy_writer_adopt(const char *path, const struct sy_writer_opts *opts,
		    struct sy_writer **out, char *err, size_t errlen)
{
	struct sy_writer *w = writer_alloc(opts);
	const struct sy_snapshot *snap;
	struct writer_state *ws;
	uint64_t gen;

	*out = NULL;
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sy_region_map_open(path, &w->map, err, errlen)) {
		free(w);
		return -1;
	}
	if (lock_writer(w->map.fd, path, w->map.hdr, err, errlen))
		goto fail;
	w->locked = true;
	if (writer_init_private(w, err, errlen))
		goto fail;
	ws = w->ws;
	gen = atomic_load(&w->map.hdr->generation);
	if (ws->retire_cap == 0 || ws->retire_count > ws->retire_cap) {
		snprintf(err, errlen, "region %s: writer state corrupt (retire list %u/%u)",
			 path, ws->retire_count, ws->retire_cap);
		goto fail;
	}
	/* Entries of a commit that was never published (crash between writing
	 * them and the root store) name objects that are still live: drop them. */
	while (ws->retire_count && ws->retire[ws->retire_count - 1].gen > gen)
		ws->retire_count--;
	snap = sy_writer_snapshot(w);
	if (snap && mark_reachable(w, snap, path, err, errlen))
		goto fail;
	adopt_retired(w);
	atomic_store(&w->map.hdr->writer_pid, (int32_t)getpid());
	*out = w;
	return 0;
fail:
	sy_writer_close(w);
	return -1;
}

int sy_writer_recreate(struct sy_writer *w, const char *path, char *err, size_t errlen)
{
	struct sy_region_map nm;

	if (w->n_stage) {
		snprintf(err, errlen, "region %s: changes are staged; re-create it between commits",
			 path);
		return -1;
	}
	if (sy_region_copy(w->map.fd, w->map.size, path, err, errlen))
		return -1;
	if (sy_region_map_open(path, &nm, err, errlen))
		goto fail;
	if (lock_writer(nm.fd, path, nm.hdr, err, errlen)) {
		sy_region_map_close(&nm);
		goto fail;
	}
	/* the copy is byte for byte this mapping (the writer state with it):
	 * the bookkeeping stays valid, only the mapping changes */
	atomic_store(&nm.hdr->writer_pid, (int32_t)getpid());
	sy_region_map_close(&w->map);
	w->map = nm;
	w->ws = (struct writer_state *)(w->map.base + w->map.hdr->writer_off);
	return 0;
fail:
	unlink(path);
	return -1;
}

/* ---- Accessors ---------------------------------------------------------- */

struct sy_region_map *sy_writer_map(struct sy_writer *w)
{
	return &w->map;
}

const struct sy_snapshot *sy_writer_snapshot(struct sy_writer *w)
{
	uint64_t off = atomic_load_explicit(&w->map.hdr->root_off, memory_order_acquire);

	return off ? (const struct sy_snapshot *)(w->map.base + off) : NULL;
}

void sy_writer_heap_usage(struct sy_writer *w, uint64_t *used, uint64_t *free_pages)
{
	*used = w->used_pages;
	*free_pages = w->n_pages - w->used_pages;
}

/* ---- Reclamation -------------------------------------------------------- */

static int pid_dead(int32_t pid)
{
	return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

/* Oldest generation an online reader may still hold. */
static uint64_t readers_min_seen(struct sy_writer *w, uint64_t oldest_pending)
{
	uint64_t min = UINT64_MAX;

	/* Pairs with sy_reader_online(): a reader we see offline will load a
	 * root at least as new as the one we published. */
	atomic_thread_fence(memory_order_seq_cst);
	for (uint32_t l = 0; l < w->map.hdr->limits.max_lcores; l++) {
		struct sy_lcore_slot *s = sy_region_slot(&w->map, l);
		int32_t pid = atomic_load(&s->pid);
		uint64_t seen;

		if (!pid || !atomic_load(&s->online))
			continue;
		seen = atomic_load_explicit(&s->seen_gen, memory_order_acquire);
		if (seen < oldest_pending && pid_dead(pid)) {
			/* A killed dataplane must not block reclamation forever. */
			atomic_store(&s->online, 0);
			atomic_compare_exchange_strong(&s->pid, &pid, 0);
			continue;
		}
		if (seen < min)
			min = seen;
	}
	return min;
}

static void release(struct sy_writer *w, const struct retired *r)
{
	switch (r->kind) {
	case RETIRE_PAGES:
		heap_free(w, r->off, (uint64_t)r->npages * PAGE);
		break;
	case RETIRE_SERVICE_SLOT:
		slot_zero_counters(w, true, r->slot);
		w->svc_slots[r->slot] = 0;
		break;
	case RETIRE_BACKEND_SLOT:
		slot_zero_counters(w, false, r->slot);
		w->be_slots[r->slot] = 0;
		break;
	}
}

uint32_t sy_writer_reclaim(struct sy_writer *w)
{
	struct writer_state *ws = w->ws;
	uint64_t min;
	uint32_t kept = 0;

	if (!ws->retire_count)
		return 0;
	min = w->opts.unsafe_eager_reclaim ? UINT64_MAX
					   : readers_min_seen(w, ws->retire[0].gen);
	/* Entries are appended in generation order. A crash while compacting
	 * can leave an entry twice; adoption drops such duplicates. */
	for (uint32_t i = 0; i < ws->retire_count; i++) {
		if (ws->retire[i].gen <= min)
			release(w, &ws->retire[i]);
		else
			ws->retire[kept++] = ws->retire[i];
	}
	ws->retire_count = kept;
	return kept;
}

/* ---- Staging ------------------------------------------------------------ */

static int backend_spec_cmp(const void *a, const void *b)
{
	return sy_backend_id_cmp(&((const struct sy_backend_spec *)a)->id,
				 &((const struct sy_backend_spec *)b)->id);
}

/* Same published content as the (canonically sorted) spec? */
static bool service_matches(const uint8_t *base, const struct sy_service *s,
			    const struct sy_service_spec *sp)
{
	const struct sy_backend *b = sy_service_backends(base, s);

	if (!sy_vip_key_eq(&s->vip, &sp->vip) || s->fwd_mode != sp->fwd_mode ||
	    s->gue_port != sp->gue_port || s->hash_seed != sp->hash_seed ||
	    sy_service_hash_fields(s) != sp->hash_fields ||
	    !(s->flags & SY_SERVICE_ROUND_ROBIN) != !sp->round_robin ||
	    !(s->flags & SY_SERVICE_LEAST_CONNS) != !sp->least_conns ||
	    !(s->flags & SY_SERVICE_QUIC) != !sp->quic ||
	    s->table_size != sp->table_size || s->encap_src4 != sp->encap_src4 ||
	    memcmp(s->encap_src6, sp->encap_src6, sizeof(s->encap_src6)) ||
	    s->n_backends != sp->n_backends)
		return false;
	for (uint32_t i = 0; i < s->n_backends; i++)
		if (sy_backend_id_cmp(&b[i].id, &sp->backends[i].id) ||
		    b[i].weight != sp->backends[i].weight ||
		    b[i].server_id != sp->backends[i].server_id ||
		    memcmp(b[i].mac, sp->backends[i].mac, 6))
			return false;
	return true;
}

/* The staged service's Maglev table and digest (st->backends sorted). */
static int stage_table(struct staged *st, char *err, size_t errlen)
{
	uint32_t n = st->spec.n_backends, m = st->spec.table_size;
	struct sy_maglev_backend *mb = malloc(sizeof(*mb) * (n ? n : 1));

	st->table = malloc(sizeof(*st->table) * m);
	if (!mb || !st->table) {
		free(mb);
		snprintf(err, errlen, "out of memory staging service %s", st->name);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		mb[i] = (struct sy_maglev_backend){ .id = st->backends[i].id,
						    .weight = st->backends[i].weight };
	if (sy_maglev_build(mb, n, m, st->table, err, errlen)) {
		char inner[160];

		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "service %s: %s", st->name, inner);
		free(mb);
		return -1;
	}
	st->digest = sy_maglev_digest(mb, n, m, st->table);
	free(mb);
	return 0;
}

static void staged_free(struct staged *s)
{
	free(s->backends);
	s->backends = NULL;
	free(s->table);
	s->table = NULL;
}

void sy_writer_discard(struct sy_writer *w)
{
	for (uint32_t i = 0; i < w->n_stage; i++)
		staged_free(&w->stage[i]);
	w->n_stage = 0;
}

static const struct sy_service *published_service(struct sy_writer *w, const char *name)
{
	return sy_snapshot_find_name(w->map.base, sy_writer_snapshot(w), name);
}

static struct staged *stage_slot(struct sy_writer *w, const char *name)
{
	for (uint32_t i = 0; i < w->n_stage; i++)
		if (strcmp(w->stage[i].name, name) == 0) {
			staged_free(&w->stage[i]);
			return &w->stage[i];
		}
	if (w->n_stage == w->cap_stage) {
		uint32_t cap = w->cap_stage ? 2 * w->cap_stage : 16;
		struct staged *n = realloc(w->stage, cap * sizeof(*n));

		if (!n)
			return NULL;
		w->stage = n;
		w->cap_stage = cap;
	}
	return &w->stage[w->n_stage++];
}

/* Drop one staged entry; the order of the others does not matter. */
static void unstage(struct sy_writer *w, struct staged *st)
{
	staged_free(st);
	*st = w->stage[--w->n_stage];
}

static int quic_ref_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct sy_quic_ref *)a)->server_id;
	uint32_t y = ((const struct sy_quic_ref *)b)->server_id;

	return x < y ? -1 : x > y;
}

/* The service's QUIC server ID table: its backends with an ID, sorted by
 * ID (refs holds n_backends). Returns how many; *dup the first ID two
 * backends share, 0 if none. */
static uint32_t quic_refs(const struct sy_backend_spec *b, uint32_t n, struct sy_quic_ref *refs,
			  uint32_t *dup)
{
	uint32_t k = 0;

	*dup = 0;
	for (uint32_t i = 0; i < n; i++)
		if (b[i].server_id)
			refs[k++] = (struct sy_quic_ref){ .server_id = b[i].server_id, .index = i };
	qsort(refs, k, sizeof(*refs), quic_ref_cmp);
	for (uint32_t i = 1; i < k && !*dup; i++)
		if (refs[i].server_id == refs[i - 1].server_id)
			*dup = refs[i].server_id;
	return k;
}

/* QUIC server IDs: in range, and one backend per ID in a service (a
 * packet's ID must name one backend). */
static int validate_quic_ids(const struct sy_service_spec *s, char *err, size_t errlen)
{
	struct sy_quic_ref *refs;
	uint32_t dup;

	for (uint32_t i = 0; i < s->n_backends; i++)
		if (s->backends[i].server_id > SY_QUIC_SERVER_ID_MAX) {
			snprintf(err, errlen, "service %s: QUIC server ID %u out of range (1-%u)",
				 s->name, s->backends[i].server_id, SY_QUIC_SERVER_ID_MAX);
			return -1;
		}
	if (!s->n_backends)
		return 0;
	refs = malloc(s->n_backends * sizeof(*refs));
	if (!refs) {
		snprintf(err, errlen, "out of memory staging service %s", s->name);
		return -1;
	}
	quic_refs(s->backends, s->n_backends, refs, &dup);
	free(refs);
	if (dup) {
		snprintf(err, errlen, "service %s: QUIC server ID %u (0x%x) given to two backends",
			 s->name, dup, dup);
		return -1;
	}
	return 0;
}

static int validate_spec(const struct sy_service_spec *s, char *err, size_t errlen)
{
	size_t len = strnlen(s->name, SY_NAME_MAX);

	if (len == 0 || len == SY_NAME_MAX) {
		snprintf(err, errlen, "service name empty or longer than %d bytes",
			 SY_NAME_MAX - 1);
		return -1;
	}
	if (s->vip.family != SY_AF_INET && s->vip.family != SY_AF_INET6) {
		snprintf(err, errlen, "service %s: VIP family %u unknown", s->name, s->vip.family);
		return -1;
	}
	if (s->vip.proto != 6 && s->vip.proto != 17) {
		snprintf(err, errlen, "service %s: VIP protocol %u (tcp=6, udp=17 supported)",
			 s->name, s->vip.proto);
		return -1;
	}
	if (s->fwd_mode < SY_FWD_IPIP || s->fwd_mode > SY_FWD_L2DSR) {
		snprintf(err, errlen, "service %s: forwarding mode %u unknown", s->name,
			 s->fwd_mode);
		return -1;
	}
	if (s->round_robin && s->least_conns) {
		/* one scheduler: the paths would not agree on which wins */
		snprintf(err, errlen, "service %s: scheduler both round-robin and least-connections",
			 s->name);
		return -1;
	}
	if (s->n_backends && !s->backends) {
		snprintf(err, errlen, "service %s: %u backends but no array", s->name,
			 s->n_backends);
		return -1;
	}
	if (s->table_size && sy_maglev_check_size(s->table_size, err, errlen)) {
		char inner[128];

		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "service %s: %s", s->name, inner);
		return -1;
	}
	return validate_quic_ids(s, err, errlen);
}

int sy_writer_set_service(struct sy_writer *w, const struct sy_service_spec *spec,
			  char *err, size_t errlen)
{
	const struct sy_service *old;
	struct staged *st;

	if (validate_spec(spec, err, errlen))
		return -1;
	st = stage_slot(w, spec->name);
	if (!st) {
		snprintf(err, errlen, "out of memory staging service %s", spec->name);
		return -1;
	}
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", spec->name);
	st->spec = *spec;
	if (!st->spec.table_size)
		st->spec.table_size = SY_MAGLEV_DEFAULT_M;
	if (spec->n_backends) {
		st->backends = malloc(spec->n_backends * sizeof(*st->backends));
		if (!st->backends) {
			unstage(w, st);
			snprintf(err, errlen, "out of memory staging service %s", spec->name);
			return -1;
		}
		memcpy(st->backends, spec->backends, spec->n_backends * sizeof(*st->backends));
		qsort(st->backends, spec->n_backends, sizeof(*st->backends), backend_spec_cmp);
	}
	st->spec.backends = st->backends;
	old = published_service(w, st->name);
	if ((!old || !service_matches(w->map.base, old, &st->spec)) &&
	    stage_table(st, err, errlen)) {
		unstage(w, st);
		return -1;
	}
	return 0;
}

int sy_writer_remove_service(struct sy_writer *w, const char *name, char *err,
			     size_t errlen)
{
	bool staged_set = false;
	struct staged *st;

	for (uint32_t i = 0; i < w->n_stage; i++)
		if (strcmp(w->stage[i].name, name) == 0 && !w->stage[i].remove)
			staged_set = true;
	if (!staged_set && !published_service(w, name)) {
		snprintf(err, errlen, "no service named %s", name);
		return -1;
	}
	st = stage_slot(w, name);
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", name);
	st->remove = true;
	return 0;
}

/* ---- Commit ------------------------------------------------------------- */

static int ref_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct sy_backend_ref *)a)->uid;
	uint64_t y = ((const struct sy_backend_ref *)b)->uid;

	return x < y ? -1 : x > y;
}

/* Find a backend of the old object by identity (both canonically sorted). */
static const struct sy_backend *old_backend(const uint8_t *base, const struct sy_service *old,
					    const struct sy_backend_id *id)
{
	const struct sy_backend *b;
	uint32_t lo = 0, hi;

	if (!old)
		return NULL;
	b = sy_service_backends(base, old);
	hi = old->n_backends;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = sy_backend_id_cmp(&b[mid].id, id);

		if (c == 0)
			return &b[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Resources taken by a commit in progress, returned if it fails. */
struct commit_undo {
	uint64_t *objs; /* offsets */
	uint64_t *sizes;
	uint32_t n_objs, cap_objs;
	uint32_t *be_slots, n_be, cap_be;
	uint32_t *svc_slots, n_svc, cap_svc;
};

static int push_u64x2(uint64_t **a, uint64_t **b, uint32_t *n, uint32_t *cap,
		      uint64_t x, uint64_t y)
{
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 64;
		uint64_t *na = realloc(*a, c * sizeof(**a)), *nb;

		if (!na)
			return -1;
		*a = na;
		nb = realloc(*b, c * sizeof(**b));
		if (!nb)
			return -1;
		*b = nb;
		*cap = c;
	}
	(*a)[*n] = x;
	(*b)[(*n)++] = y;
	return 0;
}

static int push_u32(uint32_t **a, uint32_t *n, uint32_t *cap, uint32_t x)
{
	if (*n == *cap) {
		uint32_t c = *cap ? *cap * 2 : 64;
		uint32_t *na = realloc(*a, c * sizeof(**a));

		if (!na)
			return -1;
		*a = na;
		*cap = c;
	}
	(*a)[(*n)++] = x;
	return 0;
}

static void undo_commit(struct sy_writer *w, struct commit_undo *u)
{
	for (uint32_t i = 0; i < u->n_objs; i++)
		heap_free(w, u->objs[i], u->sizes[i]);
	for (uint32_t i = 0; i < u->n_be; i++)
		w->be_slots[u->be_slots[i]] = 0;
	for (uint32_t i = 0; i < u->n_svc; i++)
		w->svc_slots[u->svc_slots[i]] = 0;
}

static void undo_free(struct commit_undo *u)
{
	free(u->objs);
	free(u->sizes);
	free(u->be_slots);
	free(u->svc_slots);
}

/* Build one service object in the heap; returns its offset or 0. */
static uint64_t build_service(struct sy_writer *w, const struct staged *sg,
			      const struct sy_service *old, uint64_t gen,
			      struct commit_undo *u, char *err, size_t errlen)
{
	const struct sy_service_spec *sp = &sg->spec;
	uint32_t n = sp->n_backends, m = sp->table_size;
	uint64_t b_off = round_up(sizeof(struct sy_service), SY_CACHE_LINE);
	uint64_t r_off = round_up(b_off + (uint64_t)n * sizeof(struct sy_backend), SY_CACHE_LINE);
	uint64_t q_off = round_up(r_off + (uint64_t)n * sizeof(struct sy_backend_ref), SY_CACHE_LINE);
	uint64_t t_off = round_up(q_off + (uint64_t)n * sizeof(struct sy_quic_ref), SY_CACHE_LINE);
	uint64_t size = t_off + (uint64_t)m * sizeof(uint32_t);
	uint32_t dup;
	struct sy_backend_ref *refs;
	struct sy_backend *b;
	struct sy_service *s;
	uint64_t off;
	int slot;

	off = heap_alloc(w, size);
	if (!off) {
		snprintf(err, errlen,
			 "service %s: region heap full (%llu bytes needed); readers may be holding old tables",
			 sp->name, (unsigned long long)size);
		return 0;
	}
	if (push_u64x2(&u->objs, &u->sizes, &u->n_objs, &u->cap_objs, off, size)) {
		heap_free(w, off, size);
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	s = (struct sy_service *)(w->map.base + off);
	memset(s, 0, t_off);
	s->magic = SY_SERVICE_MAGIC;
	s->version = gen;
	snprintf(s->name, sizeof(s->name), "%s", sp->name);
	s->vip = sp->vip;
	if (old) {
		s->slot = old->slot;
	} else {
		uint32_t hint = 0;

		slot = slot_alloc(w->svc_slots, w->map.hdr->limits.max_services, &hint);
		if (slot < 0 || push_u32(&u->svc_slots, &u->n_svc, &u->cap_svc, (uint32_t)slot)) {
			if (slot >= 0)
				w->svc_slots[slot] = 0;
			snprintf(err, errlen, "service %s: all %u service slots in use", sp->name,
				 w->map.hdr->limits.max_services);
			return 0;
		}
		s->slot = (uint32_t)slot;
	}
	s->fwd_mode = sp->fwd_mode;
	s->gue_port = sp->gue_port;
	s->hash_seed = sp->hash_seed;
	s->flags = (uint8_t)((sp->hash_fields & SY_HASH_FIELDS_MASK) |
			     (sp->round_robin ? SY_SERVICE_ROUND_ROBIN : 0) |
			     (sp->least_conns ? SY_SERVICE_LEAST_CONNS : 0) |
			     (sp->quic ? SY_SERVICE_QUIC : 0));
	s->table_size = m;
	s->n_backends = n;
	s->encap_src4 = sp->encap_src4;
	memcpy(s->encap_src6, sp->encap_src6, sizeof(s->encap_src6));
	s->backends_off = off + b_off;
	s->refs_off = off + r_off;
	s->table_off = off + t_off;
	s->quic_off = off + q_off;
	s->object_size = size;

	b = (struct sy_backend *)(w->map.base + s->backends_off);
	refs = (struct sy_backend_ref *)(w->map.base + s->refs_off);
	for (uint32_t i = 0; i < n; i++) {
		const struct sy_backend *ob = old_backend(w->map.base, old, &sp->backends[i].id);

		b[i].id = sp->backends[i].id;
		b[i].weight = sp->backends[i].weight;
		b[i].flags = b[i].weight ? 0 : SY_BACKEND_DRAINING;
		b[i].server_id = sp->backends[i].server_id;
		memcpy(b[i].mac, sp->backends[i].mac, 6);
		/* A backend that stays keeps its uid (its flows stay) and slot. */
		if (ob) {
			b[i].uid = ob->uid;
			b[i].slot = ob->slot;
		} else {
			slot = slot_alloc(w->be_slots, w->map.hdr->limits.max_backends, &w->be_hint);
			if (slot < 0 || push_u32(&u->be_slots, &u->n_be, &u->cap_be, (uint32_t)slot)) {
				if (slot >= 0)
					w->be_slots[slot] = 0;
				snprintf(err, errlen, "service %s: all %u backend slots in use",
					 sp->name, w->map.hdr->limits.max_backends);
				return 0;
			}
			b[i].slot = (uint32_t)slot;
			b[i].uid = w->ws->next_uid++;
		}
		refs[i] = (struct sy_backend_ref){ .uid = b[i].uid, .index = i };
	}
	qsort(refs, n, sizeof(*refs), ref_cmp);
	/* IDs were checked unique when staged (validate_quic_ids) */
	s->n_quic = quic_refs(sp->backends, n, (struct sy_quic_ref *)(w->map.base + s->quic_off),
			      &dup);
	/* built when staged, over the same (canonical) backend order */
	memcpy(w->map.base + s->table_off, sg->table, (size_t)m * sizeof(uint32_t));
	s->digest = sg->digest;
	s->checksum = sy_object_checksum(s, size, offsetof(struct sy_service, checksum));
	return off;
}

static int name_cmp(const void *a, const void *b, void *base)
{
	const struct sy_service *x = (const void *)((uint8_t *)base + *(const uint64_t *)a);
	const struct sy_service *y = (const void *)((uint8_t *)base + *(const uint64_t *)b);

	return strcmp(x->name, y->name);
}

/* Port of a service for choosing the fragment service: all-ports (0) first,
 * then the lowest port (host order). */
static uint32_t frag_rank(const struct sy_service *s)
{
	return s->vip.port ? 1u + (uint32_t)(uint16_t)(s->vip.port >> 8 | s->vip.port << 8) : 0;
}

/* One address entry per (address, protocol); see SY_VIP_ADDR_KEY. */
static void add_address_entries(uint8_t *base, struct sy_vip_bucket *bk, uint32_t nb,
				const uint64_t *offs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct sy_service *s = (const void *)(base + offs[i]);
		struct sy_vip_key k = s->vip;
		uint32_t j;

		k.port = 0;
		k.family = (uint8_t)(k.family | SY_VIP_ADDR_KEY);
		for (j = sy_vip_hash(&k) & (nb - 1); bk[j].service_off; j = (j + 1) & (nb - 1))
			if (sy_vip_key_eq(&bk[j].key, &k))
				break;
		if (!bk[j].service_off ||
		    frag_rank(s) < frag_rank((const void *)(base + bk[j].service_off))) {
			bk[j].key = k;
			bk[j].service_off = offs[i];
		}
	}
}

/* Build the root for `offs` (service offsets); returns its offset or 0. */
static uint64_t build_root(struct sy_writer *w, uint64_t *offs, uint32_t n, uint64_t gen,
			   struct commit_undo *u, char *err, size_t errlen)
{
	uint32_t nb = 8;
	uint64_t s_off, b_off, size, off;
	struct sy_snapshot *snap;
	struct sy_vip_bucket *bk;

	/* n service entries plus at most n address entries, load <= 1/2 */
	while (nb < 4 * n)
		nb *= 2;
	s_off = round_up(sizeof(struct sy_snapshot), SY_CACHE_LINE);
	b_off = round_up(s_off + (uint64_t)n * sizeof(uint64_t), SY_CACHE_LINE);
	size = b_off + (uint64_t)nb * sizeof(struct sy_vip_bucket);
	off = heap_alloc(w, size);
	if (!off || push_u64x2(&u->objs, &u->sizes, &u->n_objs, &u->cap_objs, off, size)) {
		if (off)
			heap_free(w, off, size);
		snprintf(err, errlen, "region heap full (snapshot of %u services)", n);
		return 0;
	}
	snap = (struct sy_snapshot *)(w->map.base + off);
	memset(snap, 0, size);
	snap->magic = SY_SNAPSHOT_MAGIC;
	snap->generation = gen;
	snap->n_services = n;
	snap->n_buckets = nb;
	snap->services_off = off + s_off;
	snap->buckets_off = off + b_off;
	snap->object_size = size;
	qsort_r(offs, n, sizeof(*offs), name_cmp, w->map.base);
	memcpy(w->map.base + snap->services_off, offs, n * sizeof(*offs));
	bk = (struct sy_vip_bucket *)(w->map.base + snap->buckets_off);
	for (uint32_t i = 0; i < n; i++) {
		const struct sy_service *s = (const void *)(w->map.base + offs[i]);
		uint32_t j = sy_vip_hash(&s->vip) & (nb - 1);

		while (bk[j].service_off) {
			if (sy_vip_key_eq(&bk[j].key, &s->vip)) {
				const struct sy_service *o =
					(const void *)(w->map.base + bk[j].service_off);

				snprintf(err, errlen, "services %s and %s have the same VIP",
					 o->name, s->name);
				return 0;
			}
			j = (j + 1) & (nb - 1);
		}
		bk[j].key = s->vip;
		bk[j].service_off = offs[i];
	}
	add_address_entries(w->map.base, bk, nb, offs, n);
	snap->checksum = sy_object_checksum(snap, size, offsetof(struct sy_snapshot, checksum));
	return off;
}

static void retire(struct sy_writer *w, uint32_t kind, uint64_t gen, uint64_t off,
		   uint64_t size, uint32_t slot)
{
	struct writer_state *ws = w->ws;

	ws->retire[ws->retire_count++] = (struct retired){
		.gen = gen, .off = off, .npages = (uint32_t)(round_up(size, PAGE) / PAGE),
		.slot = slot, .kind = kind };
}

static const struct staged *find_stage(const struct sy_writer *w, const char *name)
{
	for (uint32_t i = 0; i < w->n_stage; i++)
		if (strcmp(w->stage[i].name, name) == 0)
			return &w->stage[i];
	return NULL;
}

/* Retire the old object of a replaced or removed service, and the slots of
 * backends that are not in its replacement (all of them when removed). */
static void retire_service(struct sy_writer *w, const struct sy_service *old,
			   const struct sy_service *repl, uint64_t gen)
{
	const struct sy_backend *ob = sy_service_backends(w->map.base, old);

	retire(w, RETIRE_PAGES, gen, (uint64_t)((const uint8_t *)old - w->map.base),
	       old->object_size, 0);
	if (!repl)
		retire(w, RETIRE_SERVICE_SLOT, gen, 0, 0, old->slot);
	for (uint32_t i = 0; i < old->n_backends; i++)
		if (!repl || sy_service_find_uid(w->map.base, repl, ob[i].uid) == SY_MAGLEV_NONE)
			retire(w, RETIRE_BACKEND_SLOT, gen, 0, 0, ob[i].slot);
}

int sy_writer_commit(struct sy_writer *w, struct sy_commit_stats *st, char *err,
		     size_t errlen)
{
	const struct sy_snapshot *cur;
	struct commit_undo u = { 0 };
	struct sy_commit_stats stats = { 0 };
	uint64_t gen, *offs = NULL, root;
	uint32_t n = 0, cap, need = 0;
	const uint8_t *base = w->map.base;

	sy_writer_reclaim(w);
	cur = sy_writer_snapshot(w);
	gen = atomic_load(&w->map.hdr->generation) + 1;
	stats.generation = gen - 1;
	if (!w->n_stage) {
		if (st)
			*st = stats;
		return 0;
	}
	cap = (cur ? cur->n_services : 0) + w->n_stage;
	offs = malloc(sizeof(*offs) * (cap ? cap : 1));
	if (!offs) {
		snprintf(err, errlen, "out of memory");
		if (st)
			*st = stats;
		return -1;
	}
	/* Published services that no staged change names are shared as-is. */
	for (uint32_t i = 0; cur && i < cur->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(base, cur, i);

		if (!find_stage(w, s->name))
			offs[n++] = (uint64_t)((const uint8_t *)s - base);
	}
	for (uint32_t i = 0; i < w->n_stage; i++) {
		struct staged *sg = &w->stage[i];
		const struct sy_service *old = published_service(w, sg->name);
		uint64_t off;

		if (sg->remove) {
			if (old) {
				stats.removed++;
				need += 2 + old->n_backends;
			}
			continue;
		}
		if (old && service_matches(base, old, &sg->spec)) {
			offs[n++] = (uint64_t)((const uint8_t *)old - base);
			stats.unchanged++;
			continue;
		}
		if ((!sg->table && stage_table(sg, err, errlen)) ||
		    !(off = build_service(w, sg, old, gen, &u, err, errlen))) {
			/* this service's own resources (slots, heap for its
			 * object): it alone is unstaged, the others can go */
			snprintf(stats.failed, sizeof(stats.failed), "%s", sg->name);
			unstage(w, sg);
			goto undo;
		}
		offs[n++] = off;
		stats.rebuilt++;
		if (old)
			need += 2 + old->n_backends;
	}
	if (!stats.rebuilt && !stats.removed) {
		/* Nothing differs from what is published: no new generation. */
		free(offs);
		undo_free(&u);
		sy_writer_discard(w);
		if (st)
			*st = stats;
		return 0;
	}
	need += 1; /* the old root */
	if (w->ws->retire_count + need > w->ws->retire_cap) {
		snprintf(err, errlen,
			 "%u objects still wait for readers to pass a quiescent point; retry when the dataplane catches up",
			 w->ws->retire_count);
		goto fail;
	}
	root = build_root(w, offs, n, gen, &u, err, errlen);
	if (!root)
		goto fail;

	/* Retire entries are written before the root is published: a crash in
	 * between leaves entries newer than the published generation, which
	 * adoption drops (their objects are still live). */
	for (uint32_t i = 0; i < w->n_stage; i++) {
		const struct sy_service *old = published_service(w, w->stage[i].name);
		const struct sy_service *repl = NULL;

		if (!old)
			continue;
		for (uint32_t j = 0; j < n && !w->stage[i].remove; j++) {
			const struct sy_service *s = (const void *)(base + offs[j]);

			if (strcmp(s->name, old->name) == 0)
				repl = s;
		}
		if (repl != old)
			retire_service(w, old, repl, gen);
	}
	if (cur)
		retire(w, RETIRE_PAGES, gen, (uint64_t)((const uint8_t *)cur - base),
		       cur->object_size, 0);

	atomic_store_explicit(&w->map.hdr->root_off, root, memory_order_release);
	atomic_store_explicit(&w->map.hdr->generation, gen, memory_order_seq_cst);
	stats.generation = gen;
	free(offs);
	undo_free(&u);
	sy_writer_discard(w);
	sy_writer_reclaim(w);
	if (st)
		*st = stats;
	return 0;
fail:
	sy_writer_discard(w);
undo:
	undo_commit(w, &u);
	undo_free(&u);
	free(offs);
	if (st)
		*st = stats;
	return -1;
}
