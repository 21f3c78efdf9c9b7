/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A resolver source on a registry's follower (control/registry/follow.h):
 * source_follow.c is the one adapter, from the follower's sink to the
 * resolver's cache; a registry kind adds only what is its own, here: its
 * follower, how the resolver's configuration becomes the follower's, and
 * how its skipped entries read in the source's note.
 *
 *   source_etcd.c       etcd (control/registry/etcd_follow.c)
 *   source_zookeeper.c  ZooKeeper (control/registry/zk_follow.c)
 */
#ifndef SY_RESOLVE_SOURCE_FOLLOW_H
#define SY_RESOLVE_SOURCE_FOLLOW_H

#include <stdbool.h>

#include "follow.h"
#include "resolve_internal.h"

struct sy_follow_kind {
	const struct sy_follow_ops *ops;
	/* The follower's configuration from the resolver's: fc's strings may
	 * point into c (the adapter copies them). SY_RESOLVE_OK, or
	 * SY_RESOLVE_EINVAL for what sy-control would refuse too. */
	int (*conf)(const struct sy_resolve_config *c, struct sy_follow_conf *fc);
	/* The note of a list with skipped entries: "N <skipped>, the first:
	 * <entry>" (first_skip: the first since the list before, else the
	 * last), the entry shown as `key "K": why` (quote_key) or `K: why`. */
	const char *skipped;
	bool first_skip, quote_key;
};

/* sy_source_ops.create for a kind; its other operations are these. */
int sy_follow_source_create(sy_resolver *r, const struct sy_follow_kind *kind);
int sy_follow_source_prepare(sy_resolver *r);
int sy_follow_source_fetch(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
			   size_t errlen);
int sy_follow_source_watch(sy_resolve_service *s, bool have_rev, uint64_t rev);
void sy_follow_source_destroy(sy_resolver *r);

#endif
