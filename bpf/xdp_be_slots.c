/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The slots of sy_be_slots (see xdp_be_slots.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "xdp_be_slots.h"

#define HELD UINT64_MAX /* busy_until of a slot a current record holds */

struct sy_xdp_be_slots {
	int fd;
	uint32_t grace_ms;
	uint32_t hint;       /* every slot below it is held: the search starts there */
	uint64_t *busy_until;/* [SY_XDP_MAX_BACKENDS] 0 or a past time: free; HELD; else
			      * retired, free from that time (ms) on */
	uint64_t *uid;       /* [SY_XDP_MAX_BACKENDS] the uid a held slot holds */
};

struct sy_xdp_be_slots *sy_xdp_be_slots_new(int map_fd, uint32_t grace_ms)
{
	struct sy_xdp_be_slots *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = map_fd;
	s->grace_ms = grace_ms;
	s->busy_until = calloc(SY_XDP_MAX_BACKENDS, sizeof(*s->busy_until));
	s->uid = calloc(SY_XDP_MAX_BACKENDS, sizeof(*s->uid));
	if (!s->busy_until || !s->uid) {
		sy_xdp_be_slots_free(s);
		return NULL;
	}
	return s;
}

void sy_xdp_be_slots_free(struct sy_xdp_be_slots *s)
{
	if (!s)
		return;
	free(s->busy_until);
	free(s->uid);
	free(s);
}

static void skip_held(struct sy_xdp_be_slots *s)
{
	while (s->hint < SY_XDP_MAX_BACKENDS && s->busy_until[s->hint] == HELD)
		s->hint++;
}

static int write_slot(struct sy_xdp_be_slots *s, const struct sy_xdp_backend *rec)
{
	uint32_t slot = rec->slot;

	return bpf_map_update_elem(s->fd, &slot, rec, BPF_ANY) ? -1 : 0;
}

int sy_xdp_be_slots_place(struct sy_xdp_be_slots *s, struct sy_xdp_backend *rec, uint64_t now_ms)
{
	struct sy_xdp_backend gone;

	/* the lowest free slot: a service's backends stay close together in
	 * the array, a few pages for the packets to touch */
	for (uint32_t slot = s->hint; slot < SY_XDP_MAX_BACKENDS; slot++) {
		if (s->busy_until[slot] == HELD || s->busy_until[slot] > now_ms)
			continue;
		rec->slot = slot;
		/* the slot's old record is gone, the new one is gone until it
		 * is whole: a reader never takes a half-written record */
		gone = *rec;
		gone.flags |= SY_XDP_BACKEND_GONE;
		if (write_slot(s, &gone) || write_slot(s, rec))
			return -1;
		s->busy_until[slot] = HELD;
		s->uid[slot] = rec->uid;
		skip_held(s);
		return 0;
	}
	errno = ENOSPC;
	return -1;
}

int sy_xdp_be_slots_set_flags(struct sy_xdp_be_slots *s, const struct sy_xdp_backend *rec)
{
	return write_slot(s, rec);
}

void sy_xdp_be_slots_retire(struct sy_xdp_be_slots *s, const struct sy_xdp_backend *rec,
			    uint64_t now_ms)
{
	struct sy_xdp_backend gone = *rec;

	if (!sy_xdp_be_slots_holds(s, rec))
		return;
	gone.flags |= SY_XDP_BACKEND_GONE;
	write_slot(s, &gone); /* on failure readers keep the record: the grace still holds */
	s->busy_until[rec->slot] = now_ms + s->grace_ms + 1;
	if (rec->slot < s->hint)
		s->hint = rec->slot;
}

bool sy_xdp_be_slots_holds(const struct sy_xdp_be_slots *s, const struct sy_xdp_backend *rec)
{
	return rec->slot < SY_XDP_MAX_BACKENDS && s->busy_until[rec->slot] == HELD &&
	       s->uid[rec->slot] == rec->uid;
}

/* The whole array (one batch, else a lookup per slot); NULL if unreadable. */
static struct sy_xdp_backend *read_all(const struct sy_xdp_be_slots *s)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct sy_xdp_backend *a = calloc(SY_XDP_MAX_BACKENDS, sizeof(*a));
	struct sy_xdp_backend *v = calloc(SY_XDP_MAX_BACKENDS, sizeof(*v));
	uint32_t *keys = calloc(SY_XDP_MAX_BACKENDS, sizeof(*keys)), out = 0, n = SY_XDP_MAX_BACKENDS;
	int rc;

	if (!a || !v || !keys)
		goto fail;
	rc = bpf_map_lookup_batch(s->fd, NULL, &out, keys, v, &n, &bo);
	if ((rc == 0 || errno == ENOENT) && n == SY_XDP_MAX_BACKENDS) {
		for (uint32_t i = 0; i < n; i++)
			if (keys[i] < SY_XDP_MAX_BACKENDS)
				a[keys[i]] = v[i];
		goto out;
	}
	for (uint32_t slot = 0; slot < SY_XDP_MAX_BACKENDS; slot++)
		if (bpf_map_lookup_elem(s->fd, &slot, &a[slot]))
			goto fail;
	goto out;
fail:
	free(a);
	a = NULL;
out:
	free(v);
	free(keys);
	return a;
}

void sy_xdp_be_slots_adopt(struct sy_xdp_be_slots *s, const struct sy_xdp_backend *recs, size_t n,
			   uint64_t now_ms)
{
	struct sy_xdp_backend *a = read_all(s);

	for (size_t i = 0; a && i < n; i++) {
		uint32_t slot = recs[i].slot;

		if (slot < SY_XDP_MAX_BACKENDS && !memcmp(&a[slot], &recs[i], sizeof(recs[i]))) {
			s->busy_until[slot] = HELD;
			s->uid[slot] = recs[i].uid;
		}
	}
	for (uint32_t slot = 0; slot < SY_XDP_MAX_BACKENDS; slot++) {
		struct sy_xdp_backend gone;

		if (s->busy_until[slot] == HELD)
			continue;
		/* unreadable: every slot waits out a grace period */
		if (a && !a[slot].uid)
			continue;
		if (a && !(a[slot].flags & SY_XDP_BACKEND_GONE)) {
			gone = a[slot];
			gone.flags |= SY_XDP_BACKEND_GONE;
			write_slot(s, &gone);
		}
		s->busy_until[slot] = now_ms + s->grace_ms + 1;
	}
	s->hint = 0;
	skip_held(s);
	free(a);
}
