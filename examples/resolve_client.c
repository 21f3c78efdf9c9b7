/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Example: an HTTP client that picks its server with libswitchyard-resolve
 * (docs/client-side.md) instead of going through the balancer's VIP.
 *
 *   resolve_client REGISTRY_URL TOKEN_FILE SERVICE REQUESTS KEY
 *
 * REQUESTS GETs of / by round-robin, then REQUESTS with the hash key KEY
 * (the same instance every time while the set stays). A request that fails
 * marks its instance failed (passive health: picks avoid it for a back-off)
 * and is tried again on the next pick, so an instance that dies costs no
 * request. Prints one line per request and "ok=N failed=M".
 * Build: cc resolve_client.c $(pkg-config --cflags --libs switchyard-resolve libcurl)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <switchyard/resolve.h>

/* the body's first line (at most 63 bytes) */
static size_t keep(char *p, size_t size, size_t n, void *out)
{
	char *body = out, *nl = memchr(p, '\n', size * n);
	size_t len = nl ? (size_t)(nl - p) : size * n;

	if (!body[0])
		snprintf(body, 64, "%.*s", (int)(len < 63 ? len : 63), p);
	return size * n;
}

/* GET http://INSTANCE/: 0 and the body's first line in body, or -1 */
static int get(const struct sy_resolve_instance *in, char *id, char *body)
{
	char addr[INET6_ADDRSTRLEN], url[96];
	long status = 0;
	CURL *c = curl_easy_init();
	int rc;

	inet_ntop(in->addr.family == 6 ? AF_INET6 : AF_INET, in->addr.bytes, addr, sizeof(addr));
	snprintf(id, 64, in->addr.family == 6 ? "[%s]:%u" : "%s:%u", addr, in->port);
	snprintf(url, sizeof(url), "http://%s/", id);
	body[0] = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	rc = curl_easy_perform(c) == CURLE_OK &&
	     curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200 ? 0 : -1;
	curl_easy_cleanup(c);
	return rc;
}

int main(int argc, char **argv)
{
	struct sy_resolve_config cfg;
	sy_resolver *r;
	sy_resolve_service *svc;
	int n, ok = 0, failed = 0, rc;

	if (argc != 6 || (n = atoi(argv[4])) <= 0) {
		fprintf(stderr, "usage: resolve_client REGISTRY_URL TOKEN_FILE SERVICE REQUESTS KEY\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sy_resolve_config_default(&cfg);
	cfg.registry_urls = argv[1];     /* the embedded registry's read API */
	cfg.read_token_file = argv[2];
	if ((rc = sy_resolve_create(&cfg, &r)) ||
	    (rc = sy_resolve_service_open(r, argv[3], NULL, &svc))) {
		fprintf(stderr, "resolve_client: %s: %s\n", sy_resolve_strerror(rc),
			r ? sy_resolve_errmsg(r) : "bad configuration");
		return 1;
	}
	for (int i = 0; i < 2 * n; i++) {
		const char *how = i < n ? "rr" : "key";
		int done = 0;

		for (int attempt = 0; attempt < 3 && !done; attempt++) {
			struct sy_resolve_pick p;
			char id[64], body[64];

			rc = i < n ? sy_resolve_pick_rr(svc, &p)
				   : sy_resolve_pick_key(svc, argv[5], strlen(argv[5]), &p);
			if (rc) {
				printf("%s %d: no instance: %s\n", how, i, sy_resolve_errmsg(r));
				break;
			}
			if (get(&p.instance, id, body) == 0) {
				printf("%s %d %s %s\n", how, i, id, body);
				done = 1;
			} else { /* avoid it for a while, try the next pick */
				printf("%s %d %s failed: marked failed\n", how, i, id);
				sy_resolve_mark_failed(svc, &p.instance);
			}
		}
		done ? ok++ : failed++;
	}
	printf("ok=%d failed=%d\n", ok, failed);
	sy_resolve_destroy(r);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
