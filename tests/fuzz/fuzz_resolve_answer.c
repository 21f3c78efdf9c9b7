/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: libswitchyard-resolve's parser of the embedded
 * registry's answers (resolve/parse_embedded.c, sy_embedded_parse), what
 * the resolver's watch thread reads from the network.
 *
 * Input: the first byte selects the expected service name (0: none, odd:
 * "web", even: "api"); the rest is the answer body, given with its length
 * and without a terminating NUL (the parser must not read past it).
 *
 * Invariants (abort on violation):
 *   - the result is 0, SY_RESOLVE_EINVAL or SY_RESOLVE_ENOMEM; an error
 *     has a non-empty message and leaves nothing allocated (inst NULL, n 0);
 *   - an accepted answer is in range: revision < 2^63, table size
 *     251..1048573, at most SY_EMBEDDED_MAX_INSTANCES instances, each of
 *     family 4 or 6 (IPv4 bytes 4..15 zero), port 1..65535, weight
 *     0..65535, a NUL-terminated zone;
 *   - parsing is deterministic: a second parse of the same bytes gives the
 *     same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse_embedded.h"

#define FUZZ_TARGET "fuzz_resolve_answer"
#include "fuzz_check.h"
#include "fuzz_resolve_check.h"

#define MAX_INPUT 65536

static void check_answer(const struct sy_source_list *a)
{
	CHECK(a->revision <= INT64_MAX, "revision %llu", (unsigned long long)a->revision);
	CHECK(a->table_size >= 251 && a->table_size <= 1048573, "table_size %u", a->table_size);
	CHECK(a->n <= SY_EMBEDDED_MAX_INSTANCES, "%zu instances", a->n);
	CHECK(a->n == 0 || a->inst, "%zu instances, no array", a->n);
	for (size_t i = 0; i < a->n; i++)
		check_resolve_instance(&a->inst[i], i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sy_source_list a, b;
	const char *service;
	char err[256], err2[256];
	char *body;
	int rc, rc2;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	service = data[0] == 0 ? NULL : (data[0] & 1) ? "web" : "api";
	/* an exact-size copy: reading past the end is an ASan report */
	body = malloc(size - 1 ? size - 1 : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	err[0] = 0;
	rc = sy_embedded_parse(body, size - 1, service, &a, err, sizeof(err));
	CHECK(rc == SY_RESOLVE_OK || rc == SY_RESOLVE_EINVAL || rc == SY_RESOLVE_ENOMEM, "rc %d", rc);
	if (rc) {
		CHECK(err[0], "error %d without a message", rc);
		CHECK(!a.inst && !a.n, "an error left %zu instances", a.n);
	} else {
		check_answer(&a);
		rc2 = sy_embedded_parse(body, size - 1, service, &b, err2, sizeof(err2));
		CHECK(rc2 == 0 && b.revision == a.revision && b.n == a.n &&
			      b.fail_static == a.fail_static && b.table_size == a.table_size &&
			      b.hash_seed == a.hash_seed &&
			      (a.n == 0 || !memcmp(a.inst, b.inst, a.n * sizeof(*a.inst))),
		      "a second parse differs");
		sy_source_list_free(&b);
		sy_source_list_free(&a);
	}
	free(body);
	return 0;
}
