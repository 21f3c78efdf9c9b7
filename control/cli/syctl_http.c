/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "syctl_http.h"

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct sy_http_reply *r = arg;
	size_t add = size * n;
	char *nb;

	if (r->len + add > (64u << 20)) /* a sane cap on what we buffer */
		return 0;
	nb = realloc(r->body, r->len + add + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, p, add);
	r->body = nb;
	r->len += add;
	r->body[r->len] = 0;
	return add;
}

int sy_http_request(const struct sy_http_target *t, const char *method, const char *path,
		    const char *body, size_t body_len, const char *extra_header,
		    struct sy_http_reply *r)
{
	struct curl_slist *h = NULL;
	char url[2048], auth[600];
	CURLcode rc;
	CURL *c;

	memset(r, 0, sizeof(*r));
	c = curl_easy_init();
	if (!c) {
		snprintf(r->error, sizeof(r->error), "cannot initialise libcurl");
		return -1;
	}
	snprintf(url, sizeof(url), "%s%s", t->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (t->socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, t->socket);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, t->timeout_ms ? t->timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (t->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
	if (t->cert_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, t->cert_file);
		curl_easy_setopt(c, CURLOPT_SSLKEY, t->key_file);
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	if (t->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->token);
		h = curl_slist_append(h, auth);
	}
	if (extra_header)
		h = curl_slist_append(h, extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->body)
			r->json = json_loadb(r->body, r->len, 0, NULL);
	} else {
		long os_errno = 0;

		snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(rc));
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
		r->os_errno = (int)os_errno;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -1;
}

void sy_http_reply_free(struct sy_http_reply *r)
{
	json_decref(r->json);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
