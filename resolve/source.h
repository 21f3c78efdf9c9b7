/* SPDX-License-Identifier: BSD-3-Clause
 *
 * What a registry source is to the resolver (resolver.c picks one by the
 * configuration): a few operations and the list it delivers. A source keeps
 * its opened services current from a thread of its own, through
 * sy_service_update / sy_resolve_set_reachable (resolve_internal.h).
 *
 *   source_embedded.c  sy-control's embedded registry (blocking queries)
 *   source_follow.c    every registry with a follower (control/registry/
 *                      follow.h, registry_kinds.h: etcd, ZooKeeper, ...),
 *                      the kind taken from the configuration
 *   source_util.c      what they share: the clock, errors; the embedded
 *                      source's thread, back-off (answer buffers:
 *                      control/registry/http_body.h)
 *
 * A new registry kind (Consul, Kubernetes) with a follower needs nothing
 * here: the resolver's `registry` URL reaches it by its scheme.
 */
#ifndef SY_RESOLVE_SOURCE_H
#define SY_RESOLVE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/resolve.h>

/* A service's whole list as a source read it. */
struct sy_source_list {
	uint64_t revision;
	bool fail_static;     /* the balancer keeps its last good set */
	uint32_t table_size;  /* the balancer's Maglev M for the service */
	uint32_t hash_seed;
	uint32_t hash;        /* what the service hashes: SY_RESOLVE_HASH_* (embedded:
			       * maglev.hash, 5-tuple if absent; etcd, zookeeper: 0) */
	size_t n;
	struct sy_resolve_instance *inst; /* n entries, malloc'd (NULL when n = 0) */
};

static inline void sy_source_list_free(struct sy_source_list *a)
{
	free(a->inst);
	memset(a, 0, sizeof(*a));
}

struct sy_source_ops {
	const char *name;
	/* Its lists carry the balancer's table_size and hash_seed (an open
	 * with opts NULL takes them from the first read). */
	bool lists_opts;
	/* From r->cfg: sets r->source; no network, no thread. */
	int (*create)(sy_resolver *r);
	/* Before the first open's fetch: credentials, the thread. */
	int (*prepare)(sy_resolver *r);
	/* The first open's synchronous read (at most fetch_timeout_ms over
	 * every endpoint): 0 and *a, or -1 with why in err. */
	int (*fetch)(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
		     size_t errlen);
	/* Keep s current from now on (have_rev: the fetch gave it rev). */
	int (*watch)(sy_resolve_service *s, bool have_rev, uint64_t rev);
	/* Stops and joins the thread, frees r->source. */
	void (*destroy)(sy_resolver *r);
};

extern const struct sy_source_ops sy_source_embedded_ops;
extern const struct sy_source_ops sy_source_follow_ops;

#endif
