/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: the parsers of what backends write into a registry.
 * Every input goes through all of them:
 *   - etcd key    sy_etcd_parse_key    <prefix><service>/<address>:<port>
 *   - etcd value  sy_etcd_parse_value  {"weight", "zone", "metadata", "server_id"}
 *   - ZooKeeper   sy_zk_parse_value    (znode data, the same fields)
 *   - embedded    sy_registration_parse (the signed JSON body of
 *                 POST /v1/register)
 *   - base64      sy_b64_decode / sy_b64_encode (etcd's JSON gateway)
 *   - names       sy_registry_endpoint_parse (ZooKeeper child names),
 *                 sy_parse_endpoint (API paths) and sy_prefix_parse
 *                 (allowed prefixes)
 *
 * Invariants (abort on violation):
 *   - an accepted etcd key or ZooKeeper name is canonical (formatting it
 *     gives the same bytes) and names a possible backend (netaddr.h), as
 *     does an accepted registration;
 *   - the etcd and ZooKeeper value parsers agree (accept the same values and
 *     read the same weight, zone and metadata), and what they read is in
 *     range (weight 0..65535, zone charset/length, metadata a JSON object);
 *   - an accepted registration rebuilds (sy_registration_build) into a body
 *     that parses back to the same registration;
 *   - base64 decode/encode/decode is the identity; endpoints and prefixes
 *     survive format + parse.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <switchyard/pkt_quic.h> /* SY_QUIC_SERVER_ID_MAX */

#include "auth.h"
#include "etcd_kv.h"
#include "netaddr.h"

#define PREFIX "/switchyard/services/"
#define MAX_INPUT 8192

#define FUZZ_TARGET "fuzz_registry_value"
#include "fuzz_check.h"

static bool zone_ok(const char *z)
{
	size_t n = strlen(z);

	if (n >= SY_ETCD_ZONE_MAX)
		return false;
	for (; *z; z++)
		if (!((*z >= 'a' && *z <= 'z') || (*z >= 'A' && *z <= 'Z') ||
		      (*z >= '0' && *z <= '9') || *z == '_' || *z == '.' || *z == '-'))
			return false;
	return true;
}

static void check_fields(const struct sy_etcd_entry *e, const char *who)
{
	CHECK(e->weight <= 65535, "%s: weight %u", who, e->weight);
	CHECK(zone_ok(e->zone), "%s: zone '%s'", who, e->zone);
	if (e->metadata[0]) {
		json_t *m = json_loads(e->metadata, JSON_REJECT_DUPLICATES, NULL);

		CHECK(json_is_object(m), "%s: metadata '%s' is not a JSON object", who, e->metadata);
		json_decref(m);
	}
}

static void etcd_key(const uint8_t *data, size_t size)
{
	struct sy_etcd_entry e;
	char why[256], key[512];
	int n;

	if (sy_etcd_parse_key(data, size, PREFIX, &e, why, sizeof(why)))
		return;
	n = sy_etcd_format_key(PREFIX, e.service, &e.id, key, sizeof(key));
	CHECK(n >= 0 && (size_t)n == size && !memcmp(key, data, size),
	      "etcd key accepted but not canonical (formats as '%s')", n >= 0 ? key : "?");
	CHECK(!sy_backend_addr_unusable(e.id.family, e.id.addr) && e.id.port,
	      "etcd key accepted for an impossible backend");
}

static void values(const uint8_t *data, size_t size)
{
	static struct sy_etcd_entry e, z; /* 1 KB each */
	char why_e[256], why_z[256];
	int re = sy_etcd_parse_value(data, size, &e, why_e, sizeof(why_e));
	int rz = sy_zk_parse_value((const char *)data, size, &z, why_z, sizeof(why_z));

	CHECK(re == rz, "etcd and ZooKeeper disagree on a value: etcd %d (%s), zk %d (%s)", re,
	      re ? why_e : "ok", rz, rz ? why_z : "ok");
	if (re)
		return;
	check_fields(&e, "etcd");
	check_fields(&z, "zk");
	CHECK(e.server_id <= SY_QUIC_SERVER_ID_MAX, "server_id %u out of range", e.server_id);
	CHECK(e.weight == z.weight && e.server_id == z.server_id && !strcmp(e.zone, z.zone) &&
		      !strcmp(e.metadata, z.metadata),
	      "etcd and ZooKeeper read a value differently");
}

static void registration(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = "fuzz-registry-key-0123456789abcd";
	static struct sy_registration r, r2;
	static char body[SY_REG_MAX_BODY + 1];
	char err[256], sig[SY_SIG_HEX_LEN + 1];

	if (sy_registration_parse((const char *)data, size, &r, err, sizeof(err)))
		return;
	CHECK(!sy_backend_addr_unusable(r.family, r.addr), "accepted an impossible backend");
	CHECK(r.weight <= 65535 && r.port >= 1 && (r.ttl_s == 0 || (r.ttl_s >= 2 && r.ttl_s <= 3600)),
	      "registration out of range (weight %u port %u ttl %u)", r.weight, r.port, r.ttl_s);
	CHECK(r.family == 4 || r.family == 6, "registration family %u", r.family);
	CHECK(sy_registration_build(&r, key, sizeof(key), body, sizeof(body), sig) == 0,
	      "an accepted registration does not rebuild");
	CHECK(sy_hmac_verify(key, sizeof(key), body, strlen(body), sig), "signature of the rebuilt body");
	CHECK(sy_registration_parse(body, strlen(body), &r2, err, sizeof(err)) == 0,
	      "the rebuilt body does not parse: %s (%s)", err, body);
	CHECK(!memcmp(&r, &r2, sizeof(r)), "the rebuilt body reads differently: %s", body);
}

static void base64(const uint8_t *data, size_t size)
{
	static char s[MAX_INPUT + 1];
	size_t n, n2;
	uint8_t *d, *d2;
	char *enc;

	memcpy(s, data, size);
	s[size] = 0;
	d = sy_b64_decode(s, &n);
	if (!d)
		return;
	enc = sy_b64_encode(d, n);
	CHECK(enc, "encode failed");
	d2 = sy_b64_decode(enc, &n2);
	CHECK(d2 && n2 == n && !memcmp(d, d2, n), "base64 decode(encode(x)) != x");
	free(d);
	free(d2);
	free(enc);
}

static void names(const uint8_t *data, size_t size)
{
	char s[256], out[256], why[160];
	struct sy_backend_id id, id2;
	struct sy_prefix p, p2;

	if (size >= sizeof(s))
		return;
	memcpy(s, data, size);
	s[size] = 0;
	if (sy_registry_endpoint_parse(s, &id, why, sizeof(why)) == 0) {
		sy_format_endpoint(&id, out, sizeof(out));
		CHECK(!strcmp(out, s) && id.port && !sy_backend_addr_unusable(id.family, id.addr),
		      "registry name '%s' accepted: not canonical or no possible backend", s);
	}
	if (sy_parse_endpoint(s, &id) == 0) {
		sy_format_endpoint(&id, out, sizeof(out));
		CHECK(sy_parse_endpoint(out, &id2) == 0 && id2.family == id.family &&
			      id2.port == id.port && !memcmp(id2.addr, id.addr, sizeof(id.addr)),
		      "endpoint '%s' formats as '%s', which reads differently", s, out);
	}
	if (sy_prefix_parse(s, &p) == 0) {
		sy_prefix_format(&p, out, sizeof(out));
		CHECK(sy_prefix_parse(out, &p2) == 0 && p2.family == p.family && p2.len == p.len &&
			      !memcmp(p2.addr, p.addr, sizeof(p.addr)),
		      "prefix '%s' formats as '%s', which reads differently", s, out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return -1;
	etcd_key(data, size);
	values(data, size);
	registration(data, size);
	base64(data, size);
	names(data, size);
	return 0;
}
