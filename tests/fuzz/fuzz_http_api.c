/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: the request handling of sy-control's HTTP endpoints
 * that can be driven without a socket and without a running daemon.
 *
 * The input is a request: "URL\n" then header lines "Name: value\n", an
 * empty line, and the body. Headers used: X-Switchyard-Signature, and
 * X-Peer (the client's address as MHD would report it; none if absent).
 * The chunk size in which the body arrives is derived from the URL.
 *
 * Covered (product code from control/):
 *   - http.c  sy_http_collect()/sy_http_completed(): the body assembly every
 *             endpoint uses (chunked uploads, the size cap, 413 flagging),
 *             with the API's cap (64 KiB) and the registry's (4 KiB);
 *   - the embedded registry's POST /v1/register and /v1/deregister
 *     (source_embedded.c handle()): the strict parse of the untrusted body
 *     (a malformed one is refused before anything else, an unknown service
 *     next), then sy_registration_authorize() of the parsed registration
 *     with the service's key, allowed prefixes, clock skew and a replay
 *     cache, once with the signature the request carries and once correctly
 *     signed (so the fuzzer gets past the HMAC into the skew, prefix and
 *     nonce checks), and a replay of an accepted request;
 *   - the text parsers the API routes apply to the path and query:
 *     sy_parse_endpoint() (/v1/services/S/backends/ADDR:PORT[/op]),
 *     sy_parse_ip()/sy_parse_port() (/v1/lookup?src=&sport=&dst=&dport=),
 *     sy_parse_mac()/sy_parse_ip() on add-backend bodies' fields.
 * api.c's own request handling (the token check, route() and the handlers
 * over a daemon) is fuzz_api_router's.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "http.h"
#include "netaddr.h"

#define API_MAX_BODY 65536
#define MAX_INPUT (API_MAX_BODY + 4096)
#define NOW_MS 1700000000000ull
#define SKEW_MS 30000

#define FUZZ_TARGET "fuzz_http_api"
#include "fuzz_check.h"

static const uint8_t service_key[32] = "fuzz-http-api-key-0123456789abcd";

/* What MHD would hand the access handler: the first call without data, then
 * the body in chunks, then a last call without data. */
static struct sy_body *collect(const char *body, size_t len, size_t chunk, size_t cap,
			       void **con_cls)
{
	struct sy_body *b = NULL;
	size_t zero = 0, off = 0;

	*con_cls = NULL;
	CHECK(!sy_http_collect(con_cls, NULL, &zero, cap, &b) && b, "first call");
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk, up = n;

		CHECK(!sy_http_collect(con_cls, body + off, &up, cap, &b), "a chunk completed the request");
		CHECK(up == 0, "chunk not consumed");
		off += n;
	}
	zero = 0;
	CHECK(sy_http_collect(con_cls, NULL, &zero, cap, &b) && b, "last call");
	if (len <= cap) {
		CHECK(!b->too_large && b->len == len && (!len || !memcmp(b->data, body, len)) &&
			      (!len || b->data[len] == 0),
		      "body of %zu bytes assembled wrong", len);
	} else {
		CHECK(b->too_large, "body of %zu bytes over the cap %zu not flagged", len, cap);
	}
	return b;
}

static const char *header(char *const *names, char *const *values, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(names[i], name))
			return values[i];
	return NULL;
}

/* source_embedded.c handle(): which key (the body's service), then authorize. */
static void registration(const char *url, const struct sy_body *b, const char *sig,
			 const char *peer_text)
{
	static struct sy_prefix allowed[2];
	struct sy_auth_policy pol = { .key = service_key, .klen = sizeof(service_key),
				      .prefixes = allowed, .n_prefixes = 2,
				      .max_skew_ms = SKEW_MS, .service = NULL };
	struct sy_nonce_cache cache;
	struct sy_registration r;
	enum sy_auth_result res;
	char err[256], good[SY_SIG_HEX_LEN + 1];
	uint32_t peer[4] = { 0 };
	uint8_t pf = 0; /* no peer address (as MHD may report) unless X-Peer parses */
	const char *data = b->data ? b->data : "";

	if (strcmp(url, "/v1/register") && strcmp(url, "/v1/deregister"))
		return;
	if (!allowed[0].family)
		CHECK(!sy_prefix_parse("10.0.0.0/8", &allowed[0]) &&
			      !sy_prefix_parse("2001:db8::/32", &allowed[1]),
		      "prefixes");
	if (peer_text && sy_parse_ip(peer_text, &pf, peer)) {
		pf = 0;
		memset(peer, 0, sizeof(peer));
	}
	if (b->len > SY_REG_MAX_BODY) /* 413 before the body is read */
		return;
	if (sy_registration_parse(data, b->len, &r, err, sizeof(err))) {
		CHECK(err[0], "a malformed body refused without a reason");
		return;
	}
	if (strcmp(r.service, "web")) /* the one embedded service here */
		return;
	pol.service = "web";
	CHECK(sy_nonce_cache_init(&cache, 4, 60000) == 0, "nonce cache");

	res = sy_registration_authorize(&pol, data, b->len, &r, sig, pf, peer, NOW_MS, &cache,
					err, sizeof(err));
	CHECK(sy_auth_http_status(res) >= 200 && sy_auth_http_status(res) <= 503, "status");

	/* the same body, correctly signed */
	sy_hmac_sign(service_key, sizeof(service_key), data, b->len, good);
	res = sy_registration_authorize(&pol, data, b->len, &r, good, pf, peer, NOW_MS, &cache,
					err, sizeof(err));
	if (res == SY_AUTH_OK) {
		CHECK(r.timestamp_ms + SKEW_MS >= NOW_MS && r.timestamp_ms <= NOW_MS + SKEW_MS,
		      "accepted a stale timestamp");
		CHECK(sy_prefix_list_contains(allowed, 2, r.family, r.addr), "accepted an address outside the prefixes");
		CHECK(sy_prefix_list_contains(allowed, 2, pf, peer), "accepted a peer outside the prefixes");
		CHECK(!sy_backend_addr_unusable(r.family, r.addr), "accepted an impossible backend");
		/* a replay is refused */
		res = sy_registration_authorize(&pol, data, b->len, &r, good, pf, peer, NOW_MS,
						&cache, err, sizeof(err));
		CHECK(res == SY_AUTH_REPLAY, "a replayed registration got %s", sy_auth_result_str(res));
	} else {
		CHECK(res != SY_AUTH_BAD_SIGNATURE,
		      "a correctly signed body for the right service refused as bad signature: %s", err);
	}
	sy_nonce_cache_destroy(&cache);
}

/* The parsers routes apply to the path, the query and JSON fields. */
static void path_and_query(char *url, const struct sy_body *b)
{
	char *q = strchr(url, '?');
	struct sy_backend_id id;
	uint32_t addr[4];
	uint8_t fam, mac[6];
	unsigned port;

	if (q) {
		*q++ = 0;
		for (char *kv = strtok(q, "&"); kv; kv = strtok(NULL, "&")) {
			char *v = strchr(kv, '=');

			if (!v)
				continue;
			*v++ = 0;
			if (!strcmp(kv, "src") || !strcmp(kv, "dst"))
				(void)sy_parse_ip(v, &fam, addr);
			else if (!strcmp(kv, "sport") || !strcmp(kv, "dport"))
				if (!sy_parse_port(v, &port))
					CHECK(port <= 65535, "port %u", port);
		}
	}
	if (!strncmp(url, "/v1/services/", 13)) {
		char *rest = strstr(url + 13, "/backends/");

		if (rest) {
			char *slash;

			rest += 10;
			slash = strrchr(rest, '/');
			if (slash)
				*slash = 0;
			if (!sy_parse_endpoint(rest, &id)) {
				char out[80];
				struct sy_backend_id id2;

				sy_format_endpoint(&id, out, sizeof(out));
				CHECK(!sy_parse_endpoint(out, &id2) && id2.port == id.port,
				      "endpoint %s -> %s", rest, out);
			}
		} else if (b->len && !b->too_large) {
			json_t *j = json_loadb(b->data, b->len, 0, NULL);
			const char *a = json_string_value(json_object_get(j, "address"));
			const char *m = json_string_value(json_object_get(j, "mac"));

			(void)sy_parse_ip(a, &fam, addr);
			if (m)
				(void)sy_parse_mac(m, mac);
			json_decref(j);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char in[MAX_INPUT + 1];
	char *names[8], *values[8], *url, *p, *end, *body;
	size_t nh = 0, blen, chunk;
	void *con_cls;
	struct sy_body *b;

	if (size > MAX_INPUT)
		return -1;
	memcpy(in, data, size);
	in[size] = 0;
	end = in + size;
	/* request line, headers, empty line */
	url = in;
	p = memchr(in, '\n', size);
	if (!p)
		return 0;
	*p++ = 0;
	while (p < end && *p != '\n' && nh < 8) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;

		if (!nl)
			return 0;
		*nl = 0;
		colon = strchr(p, ':');
		if (colon) {
			*colon = 0;
			names[nh] = p;
			values[nh] = colon + 1 + (colon[1] == ' ');
			nh++;
		}
		p = nl + 1;
	}
	if (p >= end || *p != '\n')
		return 0;
	body = p + 1;
	blen = (size_t)(end - body);
	/* the chunk size MHD uses, from the URL's length (not from the body) */
	chunk = 1 + (strlen(url) * 37) % 4096;

	/* the API's body (cap 64 KiB) */
	b = collect(body, blen, chunk, API_MAX_BODY, &con_cls);
	path_and_query(url, b);
	sy_http_completed(NULL, NULL, &con_cls, MHD_REQUEST_TERMINATED_COMPLETED_OK);
	CHECK(con_cls == NULL, "completed left the body");

	/* the embedded registry (its own listener, with the registration cap) */
	b = collect(body, blen, chunk, SY_REG_MAX_BODY, &con_cls);
	if (!b->too_large)
		registration(url, b, header(names, values, nh, "X-Switchyard-Signature"),
			     header(names, values, nh, "X-Peer"));
	sy_http_completed(NULL, NULL, &con_cls, MHD_REQUEST_TERMINATED_COMPLETED_OK);
	return 0;
}
