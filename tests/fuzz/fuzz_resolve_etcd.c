/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: libswitchyard-resolve's parser of etcd's JSON gateway
 * answers (resolve/parse_etcd.c: a kv/range answer, a watch stream's line,
 * each key/value read by control/registry/etcd_kv.c), what the etcd source's thread
 * reads from the network, and the list changes a watch line makes.
 *
 * Input: the first byte selects the answer (even: a range, odd: a watch
 * line) and the service ("web" or "api", bit 1); the rest is the body, given
 * with its length and without a terminating NUL.
 *
 * Invariants (abort on violation):
 *   - the result is 0, SY_RESOLVE_EINVAL or SY_RESOLVE_ENOMEM; an error has
 *     a non-empty message and leaves nothing allocated;
 *   - every instance accepted is sane: family 4 or 6 (IPv4 bytes 4..15
 *     zero), port 1..65535, weight 0..65535, a NUL-terminated zone; a range
 *     has no identity twice; a skipped count comes with a reason;
 *   - a watch line's changes applied to the range list of the same input
 *     (or an empty one) leave no identity twice;
 *   - parsing is deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse_etcd.h"

#define FUZZ_TARGET "fuzz_resolve_etcd"
#include "fuzz_check.h"
#include "fuzz_resolve_check.h"

#define MAX_INPUT 65536
#define PFX "/switchyard/services/"

static bool same(const struct sy_resolve_instance *a, const struct sy_resolve_instance *b)
{
	return a->addr.family == b->addr.family && a->port == b->port &&
	       !memcmp(a->addr.bytes, b->addr.bytes, 16);
}

static void check_unique(const struct sy_source_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		check_resolve_instance(&l->inst[i], i);
		for (size_t j = i + 1; j < l->n; j++)
			CHECK(!same(&l->inst[i], &l->inst[j]), "instances %zu and %zu are one", i, j);
	}
}

static void range(const char *body, size_t len, const char *service)
{
	struct sy_source_list a, b;
	struct sy_etcd_skipped sk, sk2;
	char err[256] = "", err2[256];
	int rc = sy_etcd_parse_range(body, len, PFX, service, &a, &sk, err, sizeof(err));

	CHECK(rc == SY_RESOLVE_OK || rc == SY_RESOLVE_EINVAL || rc == SY_RESOLVE_ENOMEM, "rc %d", rc);
	if (rc) {
		CHECK(err[0], "error %d without a message", rc);
		CHECK(!a.inst && !a.n, "an error left %zu instances", a.n);
		return;
	}
	check_unique(&a);
	CHECK(!sk.n || sk.first[0], "%zu skipped without a reason", sk.n);
	rc = sy_etcd_parse_range(body, len, PFX, service, &b, &sk2, err2, sizeof(err2));
	CHECK(rc == 0 && b.revision == a.revision && b.n == a.n && sk2.n == sk.n &&
		      (a.n == 0 || !memcmp(a.inst, b.inst, a.n * sizeof(*a.inst))),
	      "a second parse differs");
	sy_source_list_free(&b);
	sy_source_list_free(&a);
}

static void watch(const char *line, size_t len, const char *service)
{
	struct sy_etcd_watch_msg m;
	struct sy_source_list l = { 0 };
	char err[256] = "";
	int rc = sy_etcd_parse_watch(line, len, PFX, service, &m, err, sizeof(err));

	CHECK(rc == SY_RESOLVE_OK || rc == SY_RESOLVE_EINVAL || rc == SY_RESOLVE_ENOMEM, "rc %d", rc);
	if (rc) {
		CHECK(err[0], "error %d without a message", rc);
		CHECK(!m.ch && !m.n, "an error left %zu changes", m.n);
		return;
	}
	CHECK(!m.compacted || m.compact_revision, "compacted at revision 0");
	CHECK(!m.skipped.n || m.skipped.first[0], "%zu skipped without a reason", m.skipped.n);
	for (size_t i = 0; i < m.n; i++)
		if (!m.ch[i].gone)
			check_resolve_instance(&m.ch[i].inst, i);
	/* twice: the second application changes nothing more in size */
	if (sy_etcd_apply(&l, m.ch, m.n) == SY_RESOLVE_OK) {
		size_t n = l.n;

		check_unique(&l);
		if (sy_etcd_apply(&l, m.ch, m.n) == SY_RESOLVE_OK)
			CHECK(l.n == n, "a replay changed the list's size %zu -> %zu", n, l.n);
	}
	sy_source_list_free(&l);
	sy_etcd_watch_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *service;
	char *body;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	service = data[0] & 2 ? "api" : "web";
	/* an exact-size copy: reading past the end is an ASan report */
	body = malloc(size - 1 ? size - 1 : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	if (data[0] & 1)
		watch(body, size - 1, service);
	else
		range(body, size - 1, service);
	free(body);
	return 0;
}
