/* SPDX-License-Identifier: BSD-3-Clause
 *
 * `syctl register --registry etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]`: the
 * heartbeat agent for sy-control's etcd source, through etcd's v3 JSON
 * gateway.
 *
 *   grant a lease of --ttl seconds (etcd's minimum is 2)
 *   put <prefix><service>/<address>:<port> = {"weight":..,"zone":..,"metadata":..}
 *       with the lease
 *   every TTL/3: one POST /v3/lease/keepalive (the gateway is not full
 *       duplex: one request per keepalive); an answer without TTL means the
 *       lease expired (etcd was away too long): grant a new one and put again
 *   any request that fails: the next endpoint (a cluster), quickly
 *   SIGTERM/SIGINT: revoke the lease (etcd deletes the key at once)
 *
 * No signing and no key file: etcd's own authentication is what protects
 * its keys. With --etcd-user and --etcd-password-file the agent logs in
 * (POST /v3/auth/authenticate) and sends the token with every request; a
 * token etcd no longer takes (expired, etcd restarted) means one more log-in
 * and the request again. A wrong password or a user without the right to
 * put the key: refused, exit 1.
 *
 * TLS: with --etcd-ca-file, --etcd-cert-file / --etcd-key-file (a client
 * certificate, as etcd's --client-cert-auth asks), every endpoint is spoken
 * to over https, the server's certificate checked against the CA.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "etcd_gateway.h"
#include "etcd_kv.h"
#include "netaddr.h"
#include "syctl_http.h"
#include "syctl_register_agent.h"

#define MAX_EP 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct agent {
	char *ep[MAX_EP];
	size_t n_ep, cur;
	char prefix[512];
	long timeout_ms;
	uint64_t lease;
	char key[600];
	char *value;
	const char *user, *password_file; /* etcd's authentication, or NULL */
	const char *ca_file, *cert_file, *key_file; /* TLS, or NULL */
	char token[512];                  /* "" until logged in */
};

enum { ASK_OK = 0, ASK_FAILED = -1, ASK_REFUSED = -2, ASK_TOKEN = -3 };

/* POST a JSON body to the current endpoint, with the token if there is
 * one; the answer's JSON in *out (HTTP 200 only). ASK_OK, ASK_TOKEN (etcd
 * refused the token) or ASK_FAILED (transport error or an error status, in
 * err). */
static int post(struct agent *a, const char *path, const char *body, json_t **out,
		long *status, char *err, size_t errlen)
{
	struct sy_http_target t = { .base = a->ep[a->cur], .timeout_ms = a->timeout_ms,
				    .ca_file = a->ca_file, .cert_file = a->cert_file,
				    .key_file = a->key_file };
	struct sy_http_reply rep;
	char auth[sizeof(a->token) + 32];
	int rc = ASK_FAILED;

	*out = NULL;
	*status = 0;
	snprintf(auth, sizeof(auth), "Authorization: %s", a->token);
	sy_http_request(&t, "POST", path, body, strlen(body), a->token[0] ? auth : NULL, &rep);
	*status = rep.status;
	if (!rep.status) {
		snprintf(err, errlen, "%s", rep.error);
	} else if (rep.status != 200 || !json_is_object(rep.json)) {
		const char *m = sy_etcd_answer_error(rep.json);

		snprintf(err, errlen, "HTTP %ld: %s", rep.status, m ? m : "no JSON answer");
		if (m && sy_etcd_token_refused(m))
			rc = ASK_TOKEN;
	} else {
		*out = json_incref(rep.json);
		rc = ASK_OK;
	}
	sy_http_reply_free(&rep);
	return rc;
}

/* Logs in (--etcd-user): a->token. ASK_OK, ASK_FAILED (no answer: another
 * endpoint) or ASK_REFUSED (the password file, or etcd said no). */
static int login(struct agent *a, char *err, size_t errlen)
{
	char why[200], *body = sy_etcd_auth_body(a->user, a->password_file, why, sizeof(why));
	json_t *ans;
	long status;
	int rc;

	a->token[0] = 0;
	if (!body)
		return snprintf(err, errlen, "%s", why), ASK_REFUSED;
	rc = post(a, "/v3/auth/authenticate", body, &ans, &status, err, errlen);
	memset(body, 0, strlen(body)); /* the password */
	free(body);
	if (rc != ASK_OK)
		return status >= 400 && status < 500 ? ASK_REFUSED : ASK_FAILED;
	rc = sy_etcd_auth_token(ans, a->token, sizeof(a->token), why, sizeof(why));
	json_decref(ans);
	if (rc)
		return snprintf(err, errlen, "auth/authenticate: %s", why), ASK_FAILED;
	return ASK_OK;
}

/* post() of body (etcd_gateway.h's, freed here), logged in first when
 * --etcd-user asks for it, and once more after a fresh log-in when etcd
 * refuses the token. */
static int ask(struct agent *a, const char *path, char *body, json_t **out, long *status,
	       char *err, size_t errlen)
{
	int rc;

	*out = NULL;
	*status = 0;
	if (!body)
		return snprintf(err, errlen, "out of memory"), ASK_FAILED;
	rc = a->user && !a->token[0] ? login(a, err, errlen) : ASK_OK;
	if (rc == ASK_OK)
		rc = post(a, path, body, out, status, err, errlen);
	if (rc == ASK_TOKEN && a->user && (rc = login(a, err, errlen)) == ASK_OK)
		rc = post(a, path, body, out, status, err, errlen);
	if (rc == ASK_TOKEN)
		rc = a->user ? ASK_FAILED : ASK_REFUSED; /* no credentials to log in with */
	free(body);
	return rc;
}

/* grant + put. 0, -1 (try again), -2 (refused: give up) */
static int register_once(struct agent *a, uint32_t ttl, char *err, size_t errlen)
{
	json_t *ans;
	long status;
	uint64_t id;
	int rc;

	rc = ask(a, "/v3/lease/grant", sy_etcd_lease_grant_request(ttl), &ans, &status, err,
		 errlen);
	if (rc)
		return rc == ASK_REFUSED || (status >= 400 && status < 500) ? -2 : -1;
	rc = sy_etcd_lease_granted(ans, &id);
	json_decref(ans);
	if (rc) {
		snprintf(err, errlen, "lease/grant: no lease ID in the answer");
		return -1;
	}
	rc = ask(a, "/v3/kv/put", sy_etcd_put_request(a->key, a->value, id), &ans, &status, err,
		 errlen);
	json_decref(ans);
	if (rc) {
		/* the lease may exist: let it expire on its own */
		return rc == ASK_REFUSED || (status >= 400 && status < 500) ? -2 : -1;
	}
	a->lease = id;
	return 0;
}

/* 0 alive, 1 expired (grant again), -1 no answer */
static int keepalive(struct agent *a, char *err, size_t errlen)
{
	json_t *ans;
	long status;
	int rc;

	if (ask(a, "/v3/lease/keepalive", sy_etcd_lease_request(a->lease), &ans, &status, err,
		errlen))
		return -1;
	rc = sy_etcd_lease_alive(ans) ? 0 : 1;
	json_decref(ans);
	return rc;
}

static void revoke_lease(struct agent *a)
{
	char err[256];
	json_t *ans;
	long status;

	for (size_t i = 0; i < a->n_ep; i++) {
		if (ask(a, "/v3/lease/revoke", sy_etcd_lease_request(a->lease), &ans, &status, err,
			sizeof(err)) == 0 ||
		    status == 404) {
			json_decref(ans);
			a->lease = 0;
			return;
		}
		a->cur = (a->cur + 1) % a->n_ep;
	}
	fprintf(stderr, "level=warn msg=\"cannot revoke the lease; it expires on its own\" error=\"%s\"\n", err);
}

static int parse_registry(struct agent *a, const char *url)
{
	char eps[2048], why[160], *save = NULL, *h;

	if (sy_etcd_url_parse(url, eps, sizeof(eps), a->prefix, sizeof(a->prefix), why,
			      sizeof(why))) {
		fprintf(stderr, "syctl register: --registry %s: %s\n", url, why);
		return -1;
	}
	for (h = strtok_r(eps, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		size_t room = strlen(h) + 2; /* and one more over TLS */
		char *e = malloc(room);

		if (a->n_ep == MAX_EP || !e) {
			fprintf(stderr, "syctl register: at most %d etcd endpoints\n", MAX_EP);
			free(e);
			return -1;
		}
		snprintf(e, room, "%s", h);
		if (a->ca_file || a->cert_file)
			sy_etcd_endpoints_tls(e, room); /* room holds its "s" */
		a->ep[a->n_ep++] = e;
	}
	return 0;
}

static void nap_ms(uint32_t ms)
{
	for (uint32_t t = 0; t < ms && !stop; t += 20)
		usleep(20000);
}

int syctl_register_etcd(const char *registry, const struct sy_registration *r, const char *addr,
			int once, const struct syctl_registry_access *access)
{
	struct agent a = { .user = access->user, .password_file = access->password_file,
			   .ca_file = access->ca_file, .cert_file = access->cert_file,
			   .key_file = access->key_file };
	struct sy_backend_id id = { .family = r->family, .port = r->port };
	struct sy_etcd_entry check;
	char err[256] = "", ep[80], why[160];
	json_t *v;
	int rc = 0, ok_before = 0;
	uint32_t ttl = r->ttl_s < 2 ? 2 : r->ttl_s;
	size_t fails = 0;

	(void)addr;
	if (strncmp(registry, "etcd://", 7))
		return SYCTL_AGENT_NOT_MINE;
	memcpy(id.addr, r->addr, sizeof(id.addr));
	if (parse_registry(&a, registry)) {
		rc = 2;
		goto out;
	}
	/* the value sy-control will parse: check it here */
	v = json_pack("{s:I}", "weight", (json_int_t)r->weight);
	if (r->zone[0])
		json_object_set_new(v, "zone", json_string(r->zone));
	if (r->metadata_json[0])
		json_object_set_new(v, "metadata", json_loads(r->metadata_json, 0, NULL));
	if (r->server_id)
		json_object_set_new(v, "server_id", json_integer(r->server_id));
	a.value = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	if (!a.value || sy_etcd_format_key(a.prefix, r->service, &id, a.key, sizeof(a.key)) < 0 ||
	    sy_etcd_parse_key((const uint8_t *)a.key, strlen(a.key), a.prefix, &check, why, sizeof(why)) ||
	    sy_etcd_parse_value((const uint8_t *)a.value, strlen(a.value), &check, why, sizeof(why))) {
		fprintf(stderr, "syctl register: cannot build the registration: %s\n",
			a.value ? why : "out of memory");
		rc = 2;
		goto out;
	}
	a.timeout_ms = (long)ttl * 1000 / 3;
	if (a.timeout_ms > 2000)
		a.timeout_ms = 2000;
	sy_format_endpoint(&id, ep, sizeof(ep));
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	while (!stop) {
		int res;

		if (!a.lease) {
			res = register_once(&a, ttl, err, sizeof(err));
			if (res == 0) {
				printf("level=info msg=registered service=%s backend=%s ttl_s=%u key=%s lease=%llx endpoint=%s\n",
				       r->service, ep, ttl, a.key, (unsigned long long)a.lease, a.ep[a.cur]);
				fflush(stdout);
			}
		} else {
			res = keepalive(&a, err, sizeof(err));
			if (res == 1) {
				fprintf(stderr, "level=warn msg=\"lease expired; registering again\" lease=%llx\n",
					(unsigned long long)a.lease);
				a.lease = 0;
				continue;
			}
		}
		if (res == -2) {
			fprintf(stderr, "level=error msg=\"registration refused\" endpoint=%s error=\"%s\"\n",
				a.ep[a.cur], err);
			rc = 1;
			goto out;
		}
		if (once) {
			rc = res == 0 ? 0 : 3;
			if (res)
				fprintf(stderr, "level=error msg=\"etcd unreachable\" error=\"%s\"\n", err);
			goto out;
		}
		if (res == 0) {
			if (!ok_before && fails)
				fprintf(stderr, "level=info msg=\"etcd answers again\" endpoint=%s\n", a.ep[a.cur]);
			ok_before = 1;
			fails = 0;
			nap_ms(ttl * 1000 / 3);
			continue;
		}
		/* no answer: the next endpoint at once, a pause after a full round */
		if (ok_before || fails % (a.n_ep * 10) == 0)
			fprintf(stderr, "level=warn msg=\"etcd endpoint failed; trying the next\" endpoint=%s error=\"%s\"\n",
				a.ep[a.cur], err);
		ok_before = 0;
		fails++;
		a.cur = (a.cur + 1) % a.n_ep;
		if (fails % a.n_ep == 0)
			nap_ms(200);
	}
	if (a.lease) {
		revoke_lease(&a);
		if (!a.lease) {
			printf("level=info msg=deregistered service=%s backend=%s\n", r->service, ep);
			fflush(stdout); /* as the registered line: said when done */
		}
	}
out:
	for (size_t i = 0; i < a.n_ep; i++)
		free(a.ep[i]);
	free(a.value);
	memset(a.token, 0, sizeof(a.token));
	return rc;
}
