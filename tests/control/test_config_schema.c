/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The configuration schema (control/config_schema.h, which
 * docs/config-reference.md is generated from) against the loader
 * (control/config.c), so that the reference cannot drift from what the
 * loader does:
 *
 *  - the example configuration, every key of the schema set to its example,
 *    loads;
 *  - a bogus key is refused in every section, and the message lists exactly
 *    the schema's keys of that section, in order: every key the loader
 *    accepts is documented and every documented key is accepted;
 *  - every documented key is read (a value of the wrong shape is refused);
 *  - a key documented as required is reported missing when left out, and a
 *    key with a default is not;
 *  - every integer range "MIN..MAX" is the loader's: MIN and MAX are not
 *    out of range, MIN-1 and MAX+1 are refused with exactly "(MIN..MAX)";
 *    table sizes and fractions likewise at their bounds;
 *  - every value listed for a one-of key is accepted there, another one is
 *    refused.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_schema.h"

#define FILE_NAME "schema.yaml"

/* Loads the example with edit applied; returns the loader's rc, err holds
 * its message. */
static int load_edited(const struct sy_config_example_edit *edit, char *err, size_t errlen)
{
	struct sy_config *c = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	assert_non_null(f);
	sy_config_example_yaml(f, edit);
	assert_int_equal(fclose(f), 0);
	rc = sy_config_load_buffer(FILE_NAME, text, len, &c, err, errlen);
	if (rc == 0)
		assert_non_null(c);
	else
		assert_null(c);
	sy_config_free(c);
	free(text);
	return rc;
}

/* The path a message gives a key of section ("services[].health" ->
 * "services[0].health.KEY"). */
static void field_path(const char *section, const char *key, char *out, size_t n)
{
	size_t used = 0;

	for (const char *s = section; *s && used + 4 < n; s++) {
		if (s[0] == '[' && s[1] == ']') {
			used += (size_t)snprintf(out + used, n - used, "[0]");
			s++;
		} else {
			out[used++] = *s;
		}
	}
	out[used] = 0;
	snprintf(out + used, n - used, "%s%s", used ? "." : "", key);
}

/* ": PATH: " in the message: the error is about that field. */
static int about(const char *err, const char *path)
{
	char needle[512];

	snprintf(needle, sizeof(needle), ": %s: ", path);
	return strstr(err, needle) != NULL;
}

static void test_example_loads(void **state)
{
	char err[1024];
	int rc;

	(void)state;
	rc = load_edited(NULL, err, sizeof(err));
	if (rc)
		print_error("example configuration refused: %s\n", err);
	assert_int_equal(rc, 0);
}

static void test_unknown_key_lists_schema(void **state)
{
	(void)state;
	for (size_t s = 0; s < sy_config_n_sections; s++) {
		const char *sec = sy_config_sections[s].path;
		struct sy_config_example_edit e = { .extra_section = sec,
						    .extra_key = "zz_not_a_key" };
		char err[1024], path[256], want[1024];
		size_t used;
		int rc;

		field_path(sec, "zz_not_a_key", path, sizeof(path));
		used = (size_t)snprintf(want, sizeof(want), ": %s: unknown key (expected one of: ",
					path);
		for (size_t i = 0, n = 0; i < sy_config_n_keys; i++)
			if (!strcmp(sy_config_keys[i].section, sec))
				used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%s",
							 n++ ? ", " : "", sy_config_keys[i].key);
		snprintf(want + used, sizeof(want) - used, ")");

		rc = load_edited(&e, err, sizeof(err));
		if (rc == 0 || !strstr(err, want))
			print_error("section '%s': expected a message containing\n  %s\ngot\n  %s\n",
				    sec, want, rc ? err : "(loaded)");
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err, want));
	}
}

static void test_required_and_defaults(void **state)
{
	(void)state;
	for (size_t i = 0; i < sy_config_n_keys; i++) {
		const struct sy_config_key_doc *k = &sy_config_keys[i];
		struct sy_config_example_edit e = { .section = k->section, .key = k->key };
		char err[1024] = "", path[256], want[300];
		int rc;

		if (!strncmp(k->def, "required ", 9)) /* "required with ...": conditional */
			continue;
		field_path(k->section, k->key, path, sizeof(path));
		snprintf(want, sizeof(want), ": %s: required field is missing", path);
		rc = load_edited(&e, err, sizeof(err));
		if (!strcmp(k->def, "required")) {
			if (rc == 0 || !strstr(err, want))
				print_error("%s is documented as required; without it: %s\n", path,
					    rc ? err : "(loaded)");
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, want));
		} else if (rc) {
			if (strstr(err, want))
				print_error("%s is documented with default '%s' but is required\n",
					    path, k->def);
			assert_null(strstr(err, want));
		}
	}
}

/* "MIN..MAX" at the end of range (after "a prime in " etc.). */
static void parse_range(const char *range, uint64_t *min, uint64_t *max)
{
	const char *p = range + strcspn(range, "0123456789");
	char *end;

	*min = strtoull(p, &end, 10);
	assert_true(end[0] == '.' && end[1] == '.');
	*max = strtoull(end + 2, &end, 10);
	assert_true(*min <= *max);
}

static void expect_accepted(const struct sy_config_key_doc *k, const char *value,
			    const char *path)
{
	struct sy_config_example_edit e = { .section = k->section, .key = k->key, .value = value };
	char err[1024];

	/* Another field may object (timeout_ms over interval_ms, a port 0 with a
	 * check): only a complaint about this value's range counts. */
	if (load_edited(&e, err, sizeof(err)) && about(err, path) &&
	    (strstr(err, "out of range") || strstr(err, "not in") || strstr(err, "not a prime") ||
	     strstr(err, "is not"))) {
		print_error("%s: %s is within the documented range '%s' but: %s\n", path, value,
			    k->range, err);
		fail();
	}
}

static void expect_refused(const struct sy_config_key_doc *k, const char *value,
			   const char *path, const char *must_contain)
{
	struct sy_config_example_edit e = { .section = k->section, .key = k->key, .value = value };
	char err[1024];
	int rc = load_edited(&e, err, sizeof(err));

	if (rc == 0 || !about(err, path) || (must_contain && !strstr(err, must_contain))) {
		print_error("%s = %s (documented: %s): expected the loader to refuse it with an error about "
			    "it%s%s, got: %s\n",
			    path, value, k->range, must_contain ? " containing " : "",
			    must_contain ? must_contain : "", rc ? err : "(loaded)");
		fail();
	}
}

static void test_integer_ranges(void **state)
{
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sy_config_n_keys; i++) {
		const struct sy_config_key_doc *k = &sy_config_keys[i];
		char path[256], v[32], want[64];
		uint64_t min, max;

		if (k->type != SY_CT_INT && k->type != SY_CT_TABLE_SIZE)
			continue;
		field_path(k->section, k->key, path, sizeof(path));
		parse_range(k->range, &min, &max);
		snprintf(want, sizeof(want), "(%" PRIu64 "..%" PRIu64 ")", min, max);
		snprintf(v, sizeof(v), "%" PRIu64, min);
		expect_accepted(k, v, path);
		snprintf(v, sizeof(v), "%" PRIu64, max);
		expect_accepted(k, v, path);
		if (min > 0) {
			snprintf(v, sizeof(v), "%" PRIu64, min - 1);
			expect_refused(k, v, path, k->type == SY_CT_INT ? want : NULL);
		}
		snprintf(v, sizeof(v), "%" PRIu64, max + 1);
		expect_refused(k, v, path, k->type == SY_CT_INT ? want : NULL);
		n++;
	}
	assert_true(n >= 20);
}

static void test_fractions(void **state)
{
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sy_config_n_keys; i++) {
		const struct sy_config_key_doc *k = &sy_config_keys[i];
		char path[256];

		if (k->type != SY_CT_FRACTION)
			continue;
		assert_string_equal(k->range, "0..1");
		field_path(k->section, k->key, path, sizeof(path));
		expect_accepted(k, "0", path);
		expect_accepted(k, "1", path);
		expect_accepted(k, "0.25", path);
		expect_refused(k, "1.5", path, "0..1");
		expect_refused(k, "-0.1", path, NULL);
		n++;
	}
	assert_true(n >= 1);
}

static void test_enum_values(void **state)
{
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sy_config_n_keys; i++) {
		const struct sy_config_key_doc *k = &sy_config_keys[i];
		char path[256], list[256], *tok, *save = NULL;

		if (k->type != SY_CT_ENUM)
			continue;
		field_path(k->section, k->key, path, sizeof(path));
		snprintf(list, sizeof(list), "%s", k->range);
		for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
			expect_accepted(k, tok, path);
		expect_refused(k, "zz_not_a_value", path, "'zz_not_a_value' is not");
		n++;
	}
	assert_true(n >= 4);
}

/* Every documented key is read: a value of the wrong shape (a list where a
 * scalar or mapping belongs, a scalar where a list belongs) is refused with
 * an error about that key. A key the loader let through unread would load. */
static void test_every_key_is_read(void **state)
{
	(void)state;
	for (size_t i = 0; i < sy_config_n_keys; i++) {
		const struct sy_config_key_doc *k = &sy_config_keys[i];
		bool list = k->type == SY_CT_MAP_LIST || k->type == SY_CT_PREFIX_LIST ||
			    k->type == SY_CT_URL_LIST || k->type == SY_CT_NAME_LIST;
		char path[256];

		field_path(k->section, k->key, path, sizeof(path));
		expect_refused(k, list ? "zz" : "[zz]", path, NULL);
	}
}

/* The generated reference names every section once and lists keys only of
 * known sections. */
static void test_schema_well_formed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sy_config_n_keys; i++) {
		const struct sy_config_key_doc *k = &sy_config_keys[i];
		int found = 0;

		for (size_t s = 0; s < sy_config_n_sections; s++)
			found += !strcmp(sy_config_sections[s].path, k->section);
		assert_int_equal(found, 1);
		assert_true(k->description[0] && k->def[0]);
		for (size_t j = 0; j < i; j++)
			assert_false(!strcmp(sy_config_keys[j].section, k->section) &&
				     !strcmp(sy_config_keys[j].key, k->key));
		if (k->type == SY_CT_MAP || k->type == SY_CT_MAP_LIST) {
			const char *child = sy_config_child_section(k);

			found = 0;
			for (size_t s = 0; s < sy_config_n_sections; s++)
				found += !strcmp(sy_config_sections[s].path, child);
			assert_int_equal(found, 1);
		} else {
			assert_true(k->example[0]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_well_formed),
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_unknown_key_lists_schema),
		cmocka_unit_test(test_every_key_is_read),
		cmocka_unit_test(test_required_and_defaults),
		cmocka_unit_test(test_integer_ranges),
		cmocka_unit_test(test_fractions),
		cmocka_unit_test(test_enum_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
