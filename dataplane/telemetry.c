/* SPDX-License-Identifier: BSD-3-Clause
 *
 * DPDK telemetry commands (dpdk-telemetry.py works against sy-dataplane):
 *   /switchyard/stats                counters summed over workers
 *   /switchyard/lcore,<n>            one worker's counters
 *   /switchyard/services[,<first>]   per service: name, packets, bytes, drops,
 *                                    new flows, backends (a page, see below)
 *   /switchyard/backends,<svc>[,<first>]
 *                                    per backend of a service: address,
 *                                    weight, packets, bytes (a page)
 *   /switchyard/lookup,<src>,<sport>,<dst>,<dport>,<tcp|udp>
 *                                    which backend that flow gets and why: a
 *                                    worker's connection table, or the Maglev slot
 * Service names come from the snapshot, read through a reader slot of its
 * own (the one after the workers') so reclamation waits for it too.
 *
 * What DPDK 22.11's telemetry can carry shapes the answers:
 *  - dictionary keys may hold only [A-Za-z0-9_/] (anything else is refused
 *    with -EINVAL), so service names and endpoints are values, never keys:
 *    a list is a dictionary keyed by position ("0", "1", ...) whose entries
 *    carry the name;
 *  - an array cannot hold dictionaries, a dictionary holds 256 entries;
 *  - an answer is at most 16 KiB (MAX_OUTPUT_LEN of lib/telemetry, announced
 *    as max_output_len in the greeting); what does not fit is left out
 *    without a word.
 * So lists come in pages that fit: an answer says the list's "total" and,
 * when entries remain, "next" (the <first> to ask for). Every rte_tel_data_*
 * call is checked; an answer that could not be built whole says so in
 * "error" instead of leaving a hole, and a bad request gets only "error".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_telemetry.h>
#include <unistd.h>

#include "dataplane.h"

/* lib/telemetry's MAX_OUTPUT_LEN (not in its public header); a page leaves
 * room for its own keys and the command's name around the entries */
#define TEL_OUTPUT_MAX 16384
#define TEL_PAGE_BYTES (TEL_OUTPUT_MAX - 1024)

static const char *const counter_names[] = {
#define SY_X(id, name, help) name,
	SY_COUNTERS(SY_X)
#undef SY_X
};

static struct sy_dataplane *tdp;
static struct sy_reader treader;
static bool treader_ok;
static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;

/* ---- building an answer ------------------------------------------------- */

struct answer {
	struct rte_tel_data *d; /* the answer's top-level dictionary */
	char error[192];        /* the first failure, sent as "error" */
};

static void failed(struct answer *a, int rc, const char *what)
{
	if (a->error[0])
		return;
	if (rc > 0) /* E2BIG: added, but the key or value was cut */
		snprintf(a->error, sizeof(a->error), "incomplete answer: '%s' truncated", what);
	else
		snprintf(a->error, sizeof(a->error), "incomplete answer: cannot add '%s': %s", what,
			 strerror(-rc));
}

static void add_u64(struct answer *a, struct rte_tel_data *d, const char *key, uint64_t v)
{
	int rc = rte_tel_data_add_dict_u64(d, key, v);

	if (rc)
		failed(a, rc, key);
}

static void add_str(struct answer *a, struct rte_tel_data *d, const char *key, const char *v)
{
	int rc = rte_tel_data_add_dict_string(d, key, v);

	if (rc)
		failed(a, rc, key);
}

/* A new dictionary under d's key, attached before it is filled: whatever
 * fails later, everything allocated is owned by the answer (which DPDK frees
 * once sent). NULL, recorded as the answer's error, if it cannot be. */
static struct rte_tel_data *add_dict(struct answer *a, struct rte_tel_data *d, const char *key)
{
	struct rte_tel_data *v = rte_tel_data_alloc();
	int rc;

	if (!v) {
		failed(a, -ENOMEM, key);
		return NULL;
	}
	rc = rte_tel_data_start_dict(v);
	if (rc == 0)
		rc = rte_tel_data_add_dict_container(d, key, v, 0);
	if (rc < 0) {
		rte_tel_data_free(v);
		failed(a, rc, key);
		return NULL;
	}
	if (rc > 0)
		failed(a, rc, key);
	return v;
}

static int answer_start(struct answer *a, struct rte_tel_data *d)
{
	a->d = d;
	a->error[0] = 0;
	return rte_tel_data_start_dict(d);
}

/* The callback's return value: 0 with the answer (and its "error", if one
 * happened), or -1 (DPDK then answers null) if not even that could be said. */
static int answer_end(struct answer *a)
{
	if (a->error[0] && rte_tel_data_add_dict_string(a->d, "error", a->error) < 0)
		return -1;
	return 0;
}

/* An answer that is only {"error": "..."}: a request that cannot be served. */
static int reply_error(struct rte_tel_data *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int reply_error(struct rte_tel_data *d, const char *fmt, ...)
{
	struct answer a;
	va_list ap;

	if (answer_start(&a, d))
		return -1;
	va_start(ap, fmt);
	vsnprintf(a.error, sizeof(a.error), fmt, ap);
	va_end(ap);
	return answer_end(&a);
}

/* "first" of a paged command: an index, or 0 when absent */
static int parse_first(const char *s, uint32_t *first)
{
	char *end;
	unsigned long v;

	*first = 0;
	if (!s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX)
		return -1;
	*first = (uint32_t)v;
	return 0;
}

/* The page's closing keys: where the next page starts, if any. */
static void page_end(struct answer *a, uint32_t next, uint32_t total)
{
	if (next < total)
		add_u64(a, a->d, "next", next);
}

static void format_endpoint(const struct sy_backend_id *id, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(id->family == SY_AF_INET ? AF_INET : AF_INET6, id->addr, a, sizeof(a));
	snprintf(out, len, id->family == SY_AF_INET ? "%s:%u" : "[%s]:%u", a, id->port);
}

/* ---- commands ------------------------------------------------------------ */

static uint64_t sum_counter(struct sy_dataplane *dp, int c)
{
	return sy_region_sum_counter(&dp->map, c);
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct answer a;

	(void)cmd;
	if (params && *params)
		return reply_error(d, "/switchyard/stats takes no parameter");
	if (answer_start(&a, d))
		return -1;
	for (int c = 0; c < SY_C__COUNT; c++)
		add_u64(&a, d, counter_names[c], sum_counter(tdp, c));
	return answer_end(&a);
}

static int cmd_lcore(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char *end = NULL;
	unsigned long w = params ? strtoul(params, &end, 10) : 0;
	struct answer a;

	(void)cmd;
	if (!params || !*params || *end || params[0] == '-' || w >= tdp->n_workers)
		return reply_error(d, "/switchyard/lcore,<n>: n is a worker index, 0..%u",
				   tdp->n_workers - 1);
	if (answer_start(&a, d))
		return -1;
	for (int c = 0; c < SY_C__COUNT; c++)
		add_u64(&a, d, counter_names[c],
			sy_region_stats(&tdp->map, (uint32_t)w)->counters[c]);
	return answer_end(&a);
}

/* Run fn with a snapshot held through the telemetry reader slot. */
static int with_snapshot(int (*fn)(const struct sy_snapshot *, const char *, struct rte_tel_data *),
			 const char *params, struct rte_tel_data *d)
{
	const struct sy_snapshot *snap;
	int rc;

	if (!treader_ok)
		return reply_error(d, "no reader slot for telemetry (region lcore slots all in use)");
	pthread_mutex_lock(&tlock);
	sy_reader_online(&treader);
	snap = sy_reader_begin(&treader);
	if (snap)
		rc = fn(snap, params, d);
	else
		rc = reply_error(d, "no tables published yet");
	sy_reader_offline(&treader);
	pthread_mutex_unlock(&tlock);
	return rc;
}

static int services_fn(const struct sy_snapshot *snap, const char *params, struct rte_tel_data *d)
{
	struct rte_tel_data *list;
	struct answer a;
	uint32_t first, i;
	size_t bytes = 0;

	if (parse_first(params, &first) || (first && first >= snap->n_services))
		return reply_error(d, "/switchyard/services[,<first>]: first is an index below %u",
				   snap->n_services);
	if (answer_start(&a, d))
		return -1;
	add_u64(&a, d, "generation", snap->generation);
	add_u64(&a, d, "total", snap->n_services);
	add_u64(&a, d, "first", first);
	list = add_dict(&a, d, "services");
	for (i = first; list && i < snap->n_services && i - first < RTE_TEL_MAX_DICT_ENTRIES; i++) {
		const struct sy_service *s = sy_snapshot_service(tdp->map.base, snap, i);
		struct rte_tel_data *v;
		struct sy_vip_counters sum;
		char key[12];

		sy_region_sum_vip(&tdp->map, s->slot, &sum);
		snprintf(key, sizeof(key), "%u", i);
		/* the bytes this entry takes in the JSON DPDK writes */
		bytes += (size_t)snprintf(NULL, 0,
					  "\"%s\":{\"name\":\"%s\",\"packets\":%llu,\"bytes\":%llu,"
					  "\"drops\":%llu,\"new_flows\":%llu,\"backends\":%u},",
					  key, s->name, (unsigned long long)sum.pkts,
					  (unsigned long long)sum.bytes, (unsigned long long)sum.drops,
					  (unsigned long long)sum.new_flows, s->n_backends);
		if (bytes > TEL_PAGE_BYTES)
			break;
		v = add_dict(&a, list, key);
		if (!v)
			break;
		add_str(&a, v, "name", s->name);
		add_u64(&a, v, "packets", sum.pkts);
		add_u64(&a, v, "bytes", sum.bytes);
		add_u64(&a, v, "drops", sum.drops);
		add_u64(&a, v, "new_flows", sum.new_flows);
		add_u64(&a, v, "backends", s->n_backends);
	}
	page_end(&a, i, snap->n_services);
	return answer_end(&a);
}

static int backends_fn(const struct sy_snapshot *snap, const char *params, struct rte_tel_data *d)
{
	char name[SY_NAME_MAX + 16];
	const char *comma = params ? strchr(params, ',') : NULL;
	const struct sy_service *s;
	const struct sy_backend *b;
	struct rte_tel_data *list;
	struct answer a;
	uint32_t first, j;
	size_t bytes = 0;

	if (!params || !*params || params[0] == ',')
		return reply_error(d, "/switchyard/backends,<service>[,<first>]: name a service");
	snprintf(name, sizeof(name), "%.*s", comma ? (int)(comma - params) : (int)strlen(params),
		 params);
	s = sy_snapshot_find_name(tdp->map.base, snap, name);
	if (!s)
		return reply_error(d, "no service named '%.64s' (see /switchyard/services)", name);
	if (parse_first(comma ? comma + 1 : NULL, &first) || (first && first >= s->n_backends))
		return reply_error(d, "/switchyard/backends,%s,<first>: first is an index below %u",
				   s->name, s->n_backends);
	b = sy_service_backends(tdp->map.base, s);
	if (answer_start(&a, d))
		return -1;
	add_str(&a, d, "service", s->name);
	add_u64(&a, d, "generation", snap->generation);
	add_u64(&a, d, "total", s->n_backends);
	add_u64(&a, d, "first", first);
	list = add_dict(&a, d, "backends");
	for (j = first; list && j < s->n_backends && j - first < RTE_TEL_MAX_DICT_ENTRIES; j++) {
		struct rte_tel_data *v;
		struct sy_backend_counters bc;
		char key[12], ep[INET6_ADDRSTRLEN + 8];

		sy_region_sum_backend(&tdp->map, b[j].slot, &bc);
		format_endpoint(&b[j].id, ep, sizeof(ep));
		snprintf(key, sizeof(key), "%u", j);
		bytes += (size_t)snprintf(NULL, 0,
					  "\"%s\":{\"address\":\"%s\",\"weight\":%u,\"packets\":%llu,"
					  "\"bytes\":%llu},",
					  key, ep, b[j].weight, (unsigned long long)bc.pkts,
					  (unsigned long long)bc.bytes);
		if (bytes > TEL_PAGE_BYTES)
			break;
		v = add_dict(&a, list, key);
		if (!v)
			break;
		add_str(&a, v, "address", ep);
		add_u64(&a, v, "weight", b[j].weight);
		add_u64(&a, v, "packets", bc.pkts);
		add_u64(&a, v, "bytes", bc.bytes);
	}
	page_end(&a, j, s->n_backends);
	return answer_end(&a);
}

/* The lookup's flow, parsed from "src,sport,dst,dport,proto". */
static int parse_flow(const char *params, struct sy_flow_key *k)
{
	char buf[256], *save = NULL, *f[6];
	int n = 0;

	if (!params || strlen(params) >= sizeof(buf))
		return -1;
	strcpy(buf, params);
	for (char *t = strtok_r(buf, ",", &save); t && n < 6; t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n != 5)
		return -1;
	memset(k, 0, sizeof(*k));
	if (inet_pton(AF_INET, f[0], k->src) == 1 && inet_pton(AF_INET, f[2], k->dst) == 1)
		k->family = SY_AF_INET;
	else if (inet_pton(AF_INET6, f[0], k->src) == 1 && inet_pton(AF_INET6, f[2], k->dst) == 1)
		k->family = SY_AF_INET6;
	else
		return -1;
	k->sport = htons((uint16_t)atoi(f[1]));
	k->dport = htons((uint16_t)atoi(f[3]));
	k->proto = !strcmp(f[4], "tcp") ? 6 : !strcmp(f[4], "udp") ? 17 : 0;
	return k->proto ? 0 : -1;
}

static int lookup_fn(const struct sy_snapshot *snap, const char *params, struct rte_tel_data *d)
{
	struct sy_vip_key vk = { 0 };
	const struct sy_service *s;
	struct sy_flow_key k;
	struct answer a;
	uint32_t idx = SY_MAGLEV_NONE, hash;
	int tracked, worker;
	char ep[INET6_ADDRSTRLEN + 8], why[256];

	if (parse_flow(params, &k))
		return reply_error(d, "/switchyard/lookup,<src>,<sport>,<dst>,<dport>,<tcp|udp>: "
				      "cannot parse '%.100s'", params ? params : "");
	vk.family = k.family;
	vk.proto = k.proto;
	vk.port = k.dport;
	memcpy(vk.addr, k.dst, sizeof(vk.addr));
	s = sy_snapshot_match(tdp->map.base, snap, &vk);
	if (!s)
		return reply_error(d, "no service for that destination");
	hash = sy_service_flow_hash(&k, s->hash_seed, sy_service_hash_fields(s));
	/* the workers' tables, read as a worker reads another's for an ICMP
	 * error: their owners keep writing them */
	idx = sy_lb_lookup(tdp->map.base, s, tdp->ct_of_worker, tdp->n_workers, &k,
			   (uint32_t)(rte_get_tsc_cycles() / (rte_get_tsc_hz() / 1000)), &worker);
	tracked = worker >= 0;
	if (answer_start(&a, d))
		return -1;
	add_str(&a, d, "service", s->name);
	add_u64(&a, d, "slot", hash % s->table_size);
	if (idx == SY_MAGLEV_NONE) {
		add_str(&a, d, "backend", "none");
		add_str(&a, d, "reason", "no backend for new flows");
		return answer_end(&a);
	}
	format_endpoint(&sy_service_backends(tdp->map.base, s)[idx].id, ep, sizeof(ep));
	if (tracked)
		snprintf(why, sizeof(why), "conntrack: an established flow of worker %d", worker);
	else /* as control/daemon/api.c says it */
		snprintf(why, sizeof(why), "%smaglev: slot %u of %u (not tracked)",
			 sy_scheduler_lookup_why(s->flags), hash % s->table_size, s->table_size);
	add_str(&a, d, "backend", ep);
	add_str(&a, d, "reason", why);
	return answer_end(&a);
}

static int cmd_lookup(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	return with_snapshot(lookup_fn, params, d);
}

static int cmd_services(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	return with_snapshot(services_fn, params, d);
}

static int cmd_backends(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	return with_snapshot(backends_fn, params, d);
}

static const struct {
	const char *cmd;
	telemetry_cb fn;
	const char *help; /* under 128 bytes (RTE_TEL_MAX_STRING_LEN) */
} commands[] = {
	{ "/switchyard/stats", cmd_stats, "Switchyard counters summed over workers" },
	{ "/switchyard/lcore", cmd_lcore, "One worker's counters. Parameter: worker index" },
	{ "/switchyard/services", cmd_services,
	  "Per service: name, packets, bytes, drops, new flows, backends. Parameter: [first]" },
	{ "/switchyard/backends", cmd_backends,
	  "Per backend of a service: address, weight, packets, bytes. Parameters: service[,first]" },
	{ "/switchyard/lookup", cmd_lookup,
	  "Backend of a flow and why. Parameters: src,sport,dst,dport,tcp|udp" },
};

/* Every command runs with the mapping held still: the region follower
 * (region_follow.c) moves dp->map to a re-created region file under
 * dp->map_mu. */
static int locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		int rc;

		if (strcmp(cmd, commands[i].cmd))
			continue;
		pthread_mutex_lock(&tdp->map_mu);
		rc = commands[i].fn(cmd, params, d);
		pthread_mutex_unlock(&tdp->map_mu);
		return rc;
	}
	return reply_error(d, "unknown command %s", cmd);
}

/* Where sy-control asks (syctl lookup), in the region's header. */
static void announce(struct sy_dataplane *dp)
{
	snprintf(dp->map.hdr->dp_telemetry, sizeof(dp->map.hdr->dp_telemetry),
		 "%s/dpdk_telemetry.v2", rte_eal_get_runtime_dir());
	atomic_store(&dp->map.hdr->dp_pid, (int32_t)getpid());
}

void sy_telemetry_region_moved(struct sy_dataplane *dp)
{
	char err[256];

	if (treader_ok &&
	    sy_reader_register(&dp->map, dp->n_workers, &treader, err, sizeof(err)) == 0)
		sy_reader_offline(&treader);
	else
		treader_ok = false;
	announce(dp);
}

int sy_telemetry_init(struct sy_dataplane *dp)
{
	char err[256];
	int rc = 0;

	tdp = dp;
	if (dp->n_workers < dp->map.hdr->limits.max_lcores &&
	    sy_reader_register(&dp->map, dp->n_workers, &treader, err, sizeof(err)) == 0) {
		sy_reader_offline(&treader);
		treader_ok = true;
	} else {
		printf("level=warn msg=\"no reader slot for telemetry: /switchyard/services, /switchyard/backends and /switchyard/lookup answer with an error\"\n");
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		int r = rte_telemetry_register_cmd(commands[i].cmd, locked, commands[i].help);

		if (r) {
			printf("level=error msg=\"cannot register telemetry command\" cmd=%s err=\"%s\"\n",
			       commands[i].cmd, strerror(-r));
			rc = -1;
		}
	}
	announce(dp);
	return rc;
}

void sy_stats_print(struct sy_dataplane *dp)
{
	printf("level=info msg=stats");
	pthread_mutex_lock(&dp->map_mu);
	for (int c = 0; c < SY_C__COUNT; c++) {
		uint64_t v = sum_counter(dp, c);

		if (v)
			printf(" %s=%llu", counter_names[c], (unsigned long long)v);
	}
	pthread_mutex_unlock(&dp->map_mu);
	printf("\n");
	fflush(stdout);
}
