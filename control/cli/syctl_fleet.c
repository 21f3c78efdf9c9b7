/* SPDX-License-Identifier: BSD-3-Clause
 *
 * `syctl fleet HOST...`: do the load-balancer hosts of a fleet publish the
 * same Maglev tables? Every host builds its tables from the same registry
 * and the same hash, so a flow that ECMP moves to another host reaches the
 * same backend only while their per-service table digests are equal. This
 * asks every host (its API: GET /v1/services, in parallel, a thread each) and
 * names any host whose digest of a service differs from the majority's, or
 * that lacks a service the others have.
 *
 * HOST: a unix socket path (/run/switchyard/switchyard.sock) or
 * http://ADDR:PORT (the API's TCP listener; the global --token-file gives the
 * token), optionally NAME=HOST to name it in the output.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "netaddr.h"
#include "syctl.h"

#define FLEET_MAX_HOSTS 64
#define FLEET_TIMEOUT_MS 3000

struct fleet_host {
	char name[128];
	struct sy_http_target t;
	json_t *services; /* the "services" array of its answer, or NULL */
	char error[320];  /* why there is none */
	pthread_t thread;
};

static void *ask_host(void *arg)
{
	struct fleet_host *h = arg;
	struct sy_http_reply r;

	sy_http_request(&h->t, "GET", "/v1/services", NULL, 0, NULL, &r);
	if (!r.status)
		snprintf(h->error, sizeof(h->error), "unreachable: %s", r.error);
	else if (r.status != 200)
		snprintf(h->error, sizeof(h->error), "HTTP %ld", r.status);
	else if (!json_is_array(json_object_get(r.json, "services")))
		snprintf(h->error, sizeof(h->error), "no services in its answer");
	else
		h->services = json_incref(json_object_get(r.json, "services"));
	sy_http_reply_free(&r);
	return NULL;
}

/* NAME=TARGET or TARGET -> h; -1 with a message if TARGET is neither a
 * socket path nor an http://ADDR:PORT base. */
static int parse_host(const char *arg, const char *token, struct fleet_host *h)
{
	const char *eq = strchr(arg, '='), *target = eq ? eq + 1 : arg;
	char why[300];

	if (eq && (eq == arg || (size_t)(eq - arg) >= sizeof(h->name))) {
		fprintf(stderr, "syctl fleet: '%s': a name before '=' of 1..%zu characters\n", arg,
			sizeof(h->name) - 1);
		return -1;
	}
	snprintf(h->name, sizeof(h->name), "%.*s", (int)(eq ? eq - arg : (long)strlen(arg)),
		 arg);
	h->t.timeout_ms = FLEET_TIMEOUT_MS;
	if (target[0] == '/') {
		h->t.socket = target;
		h->t.base = "http://localhost";
		return 0;
	}
	if (strncmp(target, "http://", 7) || sy_check_http_base(target, why, sizeof(why))) {
		fprintf(stderr, "syctl fleet: '%s': a host is a socket path or http://ADDR:PORT%s%s\n",
			arg, strncmp(target, "http://", 7) ? "" : ": ",
			strncmp(target, "http://", 7) ? "" : why);
		return -1;
	}
	h->t.base = target;
	h->t.token = token;
	return 0;
}

static const char *digest_of(const struct fleet_host *h, const char *service)
{
	size_t i;
	json_t *s;

	json_array_foreach(h->services, i, s)
		if (!strcmp(json_string_value(json_object_get(s, "name")) ?: "", service))
			return json_string_value(json_object_get(s, "digest")) ?: "?";
	return NULL;
}

/* Every service name any reachable host has, in first-seen order. */
static json_t *all_services(const struct fleet_host *hosts, size_t n)
{
	json_t *names = json_array();

	for (size_t k = 0; k < n; k++) {
		size_t i, j;
		json_t *s, *seen;

		json_array_foreach(hosts[k].services, i, s) {
			const char *name = json_string_value(json_object_get(s, "name"));
			int found = 0;

			json_array_foreach(names, j, seen)
				found |= !strcmp(json_string_value(seen), name ?: "");
			if (name && !found)
				json_array_append_new(names, json_string(name));
		}
	}
	return names;
}

/* The comparison of one service across the reachable hosts: its digest per
 * host ("absent" where it is missing), whether they agree, and the hosts
 * that differ from the majority (all of them on a tie: nobody can say which
 * is right). */
static json_t *compare_service(const struct fleet_host *hosts, size_t n, const char *service,
			       json_t *differing_hosts)
{
	json_t *digests = json_object(), *differing = json_array();
	const char *majority = NULL;
	size_t best = 0, reachable = 0;
	int tie = 0;

	for (size_t k = 0; k < n; k++) {
		const char *d;

		if (!hosts[k].services)
			continue;
		reachable++;
		d = digest_of(&hosts[k], service);
		json_object_set_new(digests, hosts[k].name, json_string(d ? d : "absent"));
	}
	for (size_t k = 0; k < n; k++) {
		const char *d = json_string_value(json_object_get(digests, hosts[k].name));
		size_t count = 0;

		if (!hosts[k].services)
			continue;
		for (size_t m = 0; m < n; m++)
			if (hosts[m].services &&
			    !strcmp(json_string_value(json_object_get(digests, hosts[m].name)), d))
				count++;
		if (count > best) {
			best = count;
			majority = d;
			tie = 0;
		} else if (count == best && strcmp(d, majority)) {
			tie = 1;
		}
	}
	for (size_t k = 0; k < n; k++) {
		const char *d;

		if (!hosts[k].services)
			continue;
		d = json_string_value(json_object_get(digests, hosts[k].name));
		if (best < reachable && (tie || strcmp(d, majority))) {
			size_t i;
			json_t *x;
			int listed = 0;

			json_array_append_new(differing, json_string(hosts[k].name));
			json_array_foreach(differing_hosts, i, x)
				listed |= !strcmp(json_string_value(x), hosts[k].name);
			if (!listed)
				json_array_append_new(differing_hosts, json_string(hosts[k].name));
		}
	}
	return json_pack("{s:s, s:o, s:b, s:s?, s:o}", "name", service, "digests", digests,
			 "agree", best == reachable, "majority", tie ? NULL : majority,
			 "differing", differing);
}

static void print_text(const json_t *out)
{
	const json_t *hosts = json_object_get(out, "hosts"), *svcs = json_object_get(out, "services");
	size_t i, n_ok = 0;
	json_t *h, *s;

	json_array_foreach(hosts, i, h) {
		if (json_is_true(json_object_get(h, "reachable")))
			n_ok++;
		else
			printf("host %-20s %s\n", json_string_value(json_object_get(h, "name")),
			       json_string_value(json_object_get(h, "error")));
	}
	json_array_foreach(svcs, i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *host, *d;
		json_t *v;

		if (json_is_true(json_object_get(s, "agree"))) {
			printf("%-24s same on %zu hosts   %s\n", name, n_ok,
			       json_string_value(json_object_get(s, "majority")));
			continue;
		}
		printf("%-24s DIFFERS\n", name);
		json_object_foreach(json_object_get(s, "digests"), host, v) {
			d = json_string_value(v);
			printf("  %-22s %s%s\n", host, d,
			       json_string_value(json_object_get(s, "majority")) &&
					       strcmp(d, json_string_value(json_object_get(s, "majority")))
				       ? "   <- differs from the majority"
				       : "");
		}
	}
	if (json_array_size(json_object_get(out, "differing_hosts"))) {
		printf("hosts whose tables differ:");
		json_array_foreach(json_object_get(out, "differing_hosts"), i, h)
			printf(" %s", json_string_value(h));
		printf("\n");
	} else if (!n_ok) {
		printf("no host answered\n");
	} else {
		printf("the %zu hosts that answered publish the same tables (%zu services)\n", n_ok,
		       json_array_size(svcs));
	}
}

static void fleet_usage(FILE *f)
{
	fprintf(f, "usage: syctl [--token-file F] [--json] fleet HOST HOST [HOST...]\n"
		   "  Compares the Maglev table digest of every service across the hosts and\n"
		   "  names any host that differs from the majority or lacks a service.\n"
		   "  HOST: a socket path or http://ADDR:PORT (the API's TCP listener, with\n"
		   "  --token-file), optionally NAME=HOST. At most %d hosts.\n"
		   "Exit codes: 0 all agree, 1 a host differs, 2 usage, 3 a host could not be\n"
		   "asked (and the others agree).\n",
		FLEET_MAX_HOSTS);
}

int syctl_fleet(const char *token, int json, int argc, char **argv)
{
	static struct fleet_host hosts[FLEET_MAX_HOSTS];
	json_t *out, *host_list, *svcs, *differing, *names, *name;
	size_t n = (size_t)argc - 1, started = 0, unreachable = 0, i;
	int rc;

	for (int a = 1; a < argc; a++)
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
			fleet_usage(stdout);
			return SYCTL_OK;
		}
	if (argc < 3 || n > FLEET_MAX_HOSTS) {
		fprintf(stderr, "syctl fleet: give 2 to %d hosts\n", FLEET_MAX_HOSTS);
		fleet_usage(stderr);
		return SYCTL_USAGE;
	}
	for (i = 0; i < n; i++) {
		memset(&hosts[i], 0, sizeof(hosts[i]));
		if (parse_host(argv[i + 1], token, &hosts[i]))
			return SYCTL_USAGE;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(hosts[i].name, hosts[j].name)) {
				fprintf(stderr, "syctl fleet: host '%s' given twice\n", hosts[i].name);
				return SYCTL_USAGE;
			}
	}
	for (i = 0; i < n; i++) {
		if (pthread_create(&hosts[i].thread, NULL, ask_host, &hosts[i])) {
			snprintf(hosts[i].error, sizeof(hosts[i].error), "cannot start a thread");
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(hosts[i].thread, NULL);

	host_list = json_array();
	svcs = json_array();
	differing = json_array();
	for (i = 0; i < n; i++) {
		unreachable += !hosts[i].services;
		json_array_append_new(host_list,
				      json_pack("{s:s, s:b, s:s?}", "name", hosts[i].name, "reachable",
						hosts[i].services != NULL, "error",
						hosts[i].services ? NULL : hosts[i].error));
	}
	names = all_services(hosts, n);
	json_array_foreach(names, i, name)
		json_array_append_new(svcs, compare_service(hosts, n, json_string_value(name),
							    differing));
	json_decref(names);
	rc = json_array_size(differing) ? SYCTL_FAILED
					 : unreachable ? SYCTL_UNREACHABLE : SYCTL_OK;
	out = json_pack("{s:o, s:o, s:o, s:b}", "hosts", host_list, "services", svcs,
			"differing_hosts", differing, "agree", rc == SYCTL_OK);
	if (json) {
		char *text = json_dumps(out, JSON_INDENT(2));

		printf("%s\n", text ? text : "{}");
		free(text);
	} else {
		print_text(out);
	}
	json_decref(out);
	for (i = 0; i < n; i++)
		json_decref(hosts[i].services);
	return rc;
}
