/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The embedded registry's instance list, as sy-control's registry_watch.c
 * writes it (docs/registry-api.md, "GET /v1/services/NAME/instances"), read
 * with jansson. Strict where a wrong value would mislead a pick (revision,
 * addresses, ports, weights, the Maglev parameters), lenient about fields a
 * resolver does not use (metadata, source, expires_in_ms) and unknown
 * fields (a newer sy-control may add some).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <switchyard/flow_hash.h>

#include "parse_embedded.h"

/* An integer in [lo, hi]; jansson reads JSON integers as int64 (a revision
 * above 2^63-1 is refused as not an integer). */
static bool get_uint(json_t *o, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
		     const char *what, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	json_int_t x;

	if (!json_is_integer(v)) {
		snprintf(err, errlen, "%s%s: %s", what, key, v ? "not an integer" : "missing");
		return false;
	}
	x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < lo || (uint64_t)x > hi) {
		snprintf(err, errlen, "%s%s: %lld out of range %llu..%llu", what, key, (long long)x,
			 (unsigned long long)lo, (unsigned long long)hi);
		return false;
	}
	*out = (uint64_t)x;
	return true;
}

static int parse_instance(json_t *o, size_t i, struct sy_resolve_instance *x, char *err,
			  size_t errlen)
{
	json_t *addr = json_object_get(o, "address"), *zone = json_object_get(o, "zone");
	char what[48];
	uint64_t v;

	snprintf(what, sizeof(what), "instances[%zu].", i);
	memset(x, 0, sizeof(*x));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "instances[%zu]: not an object", i);
		return -1;
	}
	if (!json_is_string(addr)) {
		snprintf(err, errlen, "%saddress: %s", what, addr ? "not a string" : "missing");
		return -1;
	}
	/* json_string_value is NUL-terminated; an embedded NUL makes the text
	 * shorter than its length, and is refused */
	if (strlen(json_string_value(addr)) != json_string_length(addr)) {
		snprintf(err, errlen, "%saddress: contains a NUL byte", what);
		return -1;
	}
	if (inet_pton(AF_INET, json_string_value(addr), x->addr.bytes) == 1) {
		x->addr.family = 4;
	} else if (inet_pton(AF_INET6, json_string_value(addr), x->addr.bytes) == 1) {
		x->addr.family = 6;
	} else {
		snprintf(err, errlen, "%saddress: '%.64s' is not an IPv4 or IPv6 address", what,
			 json_string_value(addr));
		return -1;
	}
	/* port 0 is an all-ports service's backend: it has no port to call */
	if (!get_uint(o, "port", 1, 65535, &v, what, err, errlen))
		return -1;
	x->port = (uint16_t)v;
	if (!get_uint(o, "weight", 0, 65535, &v, what, err, errlen))
		return -1;
	x->weight = (uint32_t)v;
	if (zone && !json_is_null(zone)) {
		if (!json_is_string(zone) || json_string_length(zone) >= sizeof(x->zone) ||
		    strlen(json_string_value(zone)) != json_string_length(zone)) {
			snprintf(err, errlen, "%szone: not a string of at most %zu bytes", what,
				 sizeof(x->zone) - 1);
			return -1;
		}
		memcpy(x->zone, json_string_value(zone), json_string_length(zone) + 1);
	}
	return 0;
}

int sy_embedded_parse(const char *body, size_t len, const char *service,
		      struct sy_source_list *a, char *err, size_t errlen)
{
	json_t *root, *v, *maglev, *list;
	json_error_t je;
	uint64_t u;
	int rc = SY_RESOLVE_EINVAL;

	memset(a, 0, sizeof(*a));
	if (!body) {
		snprintf(err, errlen, "no answer body");
		return SY_RESOLVE_EINVAL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "not JSON: %s at line %d column %d", je.text, je.line,
			 je.column);
		return SY_RESOLVE_EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the answer is not a JSON object");
		goto out;
	}
	v = json_object_get(root, "service");
	if (!json_is_string(v)) {
		snprintf(err, errlen, "service: %s", v ? "not a string" : "missing");
		goto out;
	}
	if (service && strcmp(json_string_value(v), service)) {
		snprintf(err, errlen, "the answer is about service '%.64s', not '%.64s'",
			 json_string_value(v), service);
		goto out;
	}
	if (!get_uint(root, "revision", 0, INT64_MAX, &a->revision, "", err, errlen))
		goto out;
	v = json_object_get(root, "state");
	if (!json_is_string(v) ||
	    (strcmp(json_string_value(v), "ok") && strcmp(json_string_value(v), "fail-static"))) {
		snprintf(err, errlen, "state: %s", v ? "not \"ok\" or \"fail-static\"" : "missing");
		goto out;
	}
	a->fail_static = !strcmp(json_string_value(v), "fail-static");
	maglev = json_object_get(root, "maglev");
	if (!json_is_object(maglev)) {
		snprintf(err, errlen, "maglev: %s", maglev ? "not an object" : "missing");
		goto out;
	}
	/* the range of sy_maglev_check_size; whether it is prime is the
	 * service's open to check */
	if (!get_uint(maglev, "table_size", 251, 1048573, &u, "maglev.", err, errlen))
		goto out;
	a->table_size = (uint32_t)u;
	if (!get_uint(maglev, "hash_seed", 0, UINT32_MAX, &u, "maglev.", err, errlen))
		goto out;
	a->hash_seed = (uint32_t)u;
	/* what the service hashes (services.<name>.hash); absent from the
	 * answers of sy-control before it had the setting: the 5-tuple */
	a->hash = SY_RESOLVE_HASH_5TUPLE;
	v = json_object_get(maglev, "hash");
	if (v) {
		int h = json_is_string(v) ? sy_hash_fields_parse(json_string_value(v)) : -1;

		if (h < 0) {
			snprintf(err, errlen, "maglev.hash: not 5-tuple, 3-tuple, source-ip or "
					      "source-ip-port");
			goto out;
		}
		a->hash = (uint32_t)h;
	}
	list = json_object_get(root, "instances");
	if (!json_is_array(list)) {
		snprintf(err, errlen, "instances: %s", list ? "not an array" : "missing");
		goto out;
	}
	if (json_array_size(list) > SY_EMBEDDED_MAX_INSTANCES) {
		snprintf(err, errlen, "instances: %zu, more than %u", json_array_size(list),
			 SY_EMBEDDED_MAX_INSTANCES);
		goto out;
	}
	a->n = json_array_size(list);
	if (a->n) {
		a->inst = calloc(a->n, sizeof(*a->inst));
		if (!a->inst) {
			snprintf(err, errlen, "out of memory for %zu instances", a->n);
			rc = SY_RESOLVE_ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < a->n; i++)
		if (parse_instance(json_array_get(list, i), i, &a->inst[i], err, errlen))
			goto out;
	rc = SY_RESOLVE_OK;
out:
	json_decref(root);
	if (rc)
		sy_source_list_free(a);
	return rc;
}
