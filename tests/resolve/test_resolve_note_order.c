/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A list and its note are one answer: an application that reads a
 * service's instances (sy_resolve_instances) and then the source's note
 * (sy_resolve_source_error) must get that list's note or a later one,
 * never the note of an older list ("1 key(s) skipped, the last: garbage"
 * belongs to the list that skipped it).
 *
 * libswitchyard-resolve compiled from its sources with a stand-in
 * follower (the library exports only sy_resolve_*): this file defines
 * sy_etcd_follow_ops and sy_zookeeper_follow_ops, whose open keeps the
 * resolver's sink, so that the test is the follower's thread. It delivers
 * numbered lists, list k with one skipped entry named garbage-k (so its
 * note names k), as fast as it can, while a reader thread reads instances
 * then note and checks that the note's k is at least the list's revision.
 *
 * Usage: test_resolve_note_order [LISTS] (default 50,000: before the fix,
 * thousands of reads of each run saw an older list's note).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/resolve.h>

#include "follow.h"

#define SERVICE "web"

/* ---- the stand-in follower ---------------------------------------------------------------- */

static struct sy_follow_sink sink; /* the resolver's, from open */
static void *followed;             /* the svc of SERVICE, from follow */

static int fake_url_parse(const char *url, char *servers, size_t slen, char *prefix, size_t plen,
			  char *why, size_t whylen)
{
	const char *at = strstr(url, "://");

	(void)why, (void)whylen;
	snprintf(servers, slen, "%s", at ? at + 3 : url);
	snprintf(prefix, plen, "/switchyard/services/");
	return 0;
}

static int fake_open(const struct sy_follow_conf *conf, const struct sy_follow_sink *s,
		     struct sy_follower **f, char *err, size_t errlen)
{
	(void)conf, (void)err, (void)errlen;
	sink = *s;
	*f = (struct sy_follower *)&sink; /* never dereferenced as a follower */
	return 0;
}

static int fake_follow(struct sy_follower *f, const char *service, void *svc)
{
	(void)f;
	if (!strcmp(service, SERVICE))
		followed = svc;
	return 0;
}

/* Backend i of list k: 198.18.1.(1 + (k + i) % 3):8080, two of them. */
static void list_of(uint64_t k, struct sy_etcd_entry e[2])
{
	memset(e, 0, 2 * sizeof(*e));
	for (unsigned i = 0; i < 2; i++) {
		uint8_t *a = (uint8_t *)e[i].id.addr;

		snprintf(e[i].service, sizeof(e[i].service), SERVICE);
		e[i].id.family = SY_AF_INET;
		e[i].id.port = 8080;
		a[0] = 198, a[1] = 18, a[2] = 1, a[3] = (uint8_t)(1 + (k + i) % 3);
		e[i].weight = 1;
	}
}

/* The first open's read: list 1, nothing skipped. */
static int fake_read_once(struct sy_follower *f, const char *service, uint32_t timeout_ms,
			  struct sy_follow_list *l, char *err, size_t errlen)
{
	struct sy_etcd_entry *e = malloc(2 * sizeof(*e));

	(void)f, (void)service, (void)timeout_ms;
	if (!e)
		return snprintf(err, errlen, "out of memory"), -1;
	list_of(1, e);
	*l = (struct sy_follow_list){ .revision = 1, .n = 2, .e = e };
	return 0;
}

static void fake_close(struct sy_follower *f)
{
	(void)f;
}

#define FAKE_OPS(NAME, SCHEME)                                                                    \
	const struct sy_follow_ops sy_##NAME##_follow_ops = {                                      \
		.name = #NAME, .entry = "key", .skipped = "key(s) skipped", .first_skip = false,   \
		.quote_key = false, .scheme = SCHEME, .url_parse = fake_url_parse,                  \
		.default_prefix = "/switchyard/services/", .prefix_folder = true,                   \
		.open = fake_open, .follow = fake_follow, .read_once = fake_read_once,              \
		.close = fake_close,                                                                \
	}
FAKE_OPS(etcd, "etcd");
FAKE_OPS(zookeeper, "zk");

/* ---- the reader ---------------------------------------------------------------------------- */

static sy_resolve_service *svc;
static atomic_bool writer_done;
static atomic_long reads, older_notes;
static uint64_t first_bad_rev, first_bad_note;

/* The list number a note names: garbage-K, or 1 for "" (list 1's). 0: neither. */
static uint64_t note_number(const char *note)
{
	const char *g = strstr(note, "garbage-");

	if (!*note)
		return 1;
	return g ? strtoull(g + 8, NULL, 10) : 0;
}

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&writer_done)) {
		uint64_t rev = 0;
		size_t n = 0;
		char note[256];

		if (sy_resolve_instances(svc, NULL, 0, &n, &rev, NULL))
			continue;
		sy_resolve_source_error(svc, note, sizeof(note));
		uint64_t k = note_number(note);

		atomic_fetch_add(&reads, 1);
		if (k < rev && atomic_fetch_add(&older_notes, 1) == 0) {
			first_bad_rev = rev;
			first_bad_note = k;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t lists = argc > 1 ? strtoull(argv[1], NULL, 10) : 50000;
	struct sy_resolve_config c;
	struct sy_resolve_service_opts opts = { .table_size = 251 }; /* cheap republishes */
	sy_resolver *r;
	pthread_t t;
	int rc;

	sy_resolve_config_default(&c);
	c.registry = "etcd://198.18.0.1:2379";
	if ((rc = sy_resolve_create(&c, &r))) {
		fprintf(stderr, "FAIL: create: %s\n", sy_resolve_strerror(rc));
		return 1;
	}
	if ((rc = sy_resolve_service_open(r, SERVICE, &opts, &svc)) || !followed || !sink.listed) {
		fprintf(stderr, "FAIL: open: %s (%s)\n", sy_resolve_strerror(rc), sy_resolve_errmsg(r));
		return 1;
	}
	pthread_create(&t, NULL, reader, NULL);
	while (!atomic_load(&reads)) /* the reader is reading before the lists come */
		sched_yield();
	for (uint64_t k = 2; k < lists + 2; k++) {
		struct sy_etcd_entry e[2];
		char name[32];

		list_of(k, e);
		snprintf(name, sizeof(name), "garbage-%llu", (unsigned long long)k);
		sink.malformed(sink.ctx, SERVICE, followed, name, "not a backend");
		sink.listed(sink.ctx, SERVICE, followed,
			    &(struct sy_follow_list){ .revision = k, .n = 2, .e = e, .skipped = 1 });
	}
	atomic_store(&writer_done, true);
	pthread_join(t, NULL);

	uint64_t rev = 0;
	size_t n = 0;
	char note[256];

	sy_resolve_instances(svc, NULL, 0, &n, &rev, NULL);
	sy_resolve_source_error(svc, note, sizeof(note));
	printf("%llu lists delivered, %ld reads of list then note, %ld with an older list's note\n",
	       (unsigned long long)lists, atomic_load(&reads), atomic_load(&older_notes));
	printf("last: revision %llu, note \"%s\"\n", (unsigned long long)rev, note);
	rc = 0;
	if (rev != lists + 1 || note_number(note) != lists + 1 || n != 2) {
		fprintf(stderr, "FAIL: the last list (%llu, %zu instances) or its note is not the last delivered\n",
			(unsigned long long)rev, n);
		rc = 1;
	}
	if (atomic_load(&older_notes)) {
		fprintf(stderr, "FAIL: list %llu was read with the note of list %llu\n",
			(unsigned long long)first_bad_rev, (unsigned long long)first_bad_note);
		rc = 1;
	}
	sy_resolve_destroy(r);
	printf("%s\n", rc ? "FAIL" : "PASS");
	return rc;
}
