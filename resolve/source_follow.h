/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A resolver source on a registry's follower (control/registry/follow.h):
 * source_follow.c is the one adapter, from the follower's sink to the
 * resolver's cache, for every registry kind of registry_kinds.h. The kind
 * comes from the configuration: the registry URL's scheme (etcd://, zk://,
 * ...: its follower's ops.scheme), or etcd's or ZooKeeper's own fields.
 * A registry kind adds nothing here.
 */
#ifndef SY_RESOLVE_SOURCE_FOLLOW_H
#define SY_RESOLVE_SOURCE_FOLLOW_H

#include <stdbool.h>

#include "follow.h"
#include "resolve_internal.h"

/* The configuration names a registry with a follower. */
bool sy_follow_source_wanted(const struct sy_resolve_config *c);
/* What sy_resolve_config_check says of that registry's part. */
int sy_follow_source_check(const struct sy_resolve_config *c, char *why, size_t whylen);
/* The sy_source_ops of a follower's source (sy_source_follow_ops). */
int sy_follow_source_create(sy_resolver *r);
int sy_follow_source_prepare(sy_resolver *r);
int sy_follow_source_fetch(sy_resolver *r, const char *name, struct sy_source_list *a, char *err,
			   size_t errlen);
int sy_follow_source_watch(sy_resolve_service *s, bool have_rev, uint64_t rev);
void sy_follow_source_destroy(sy_resolver *r);

#endif
