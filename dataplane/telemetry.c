/* SPDX-License-Identifier: BSD-3-Clause
 *
 * DPDK telemetry commands (dpdk-telemetry.py works against sy-dataplane):
 *   /switchyard/stats          counters summed over workers
 *   /switchyard/lcore,<n>      one worker's counters
 *   /switchyard/services       per service: packets, bytes, drops, new flows
 *   /switchyard/backends,<svc> per backend of a service: packets, bytes
 *   /switchyard/lookup,<src>,<sport>,<dst>,<dport>,<tcp|udp>
 *                              which backend that flow gets and why: a
 *                              worker's connection table, or the Maglev slot
 * Service names come from the snapshot, read through a reader slot of its
 * own (the one after the workers') so reclamation waits for it too.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_telemetry.h>
#include <unistd.h>

#include "dataplane.h"

static const char *const counter_names[] = {
#define SY_X(id, name, help) name,
	SY_COUNTERS(SY_X)
#undef SY_X
};

static struct sy_dataplane *tdp;
static struct sy_reader treader;
static bool treader_ok;
static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t sum_counter(struct sy_dataplane *dp, int c)
{
	return sy_region_sum_counter(&dp->map, c);
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (int c = 0; c < SY_C__COUNT; c++)
		rte_tel_data_add_dict_u64(d, counter_names[c], sum_counter(tdp, c));
	return 0;
}

static int cmd_lcore(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char *end;
	unsigned long w = params ? strtoul(params, &end, 10) : 0;

	(void)cmd;
	if (!params || *end || w >= tdp->n_workers)
		return -1;
	rte_tel_data_start_dict(d);
	for (int c = 0; c < SY_C__COUNT; c++)
		rte_tel_data_add_dict_u64(d, counter_names[c],
					  sy_region_stats(&tdp->map, (uint32_t)w)->counters[c]);
	return 0;
}

/* Run fn with a snapshot held through the telemetry reader slot. */
static int with_snapshot(int (*fn)(const struct sy_snapshot *, const char *, struct rte_tel_data *),
			 const char *params, struct rte_tel_data *d)
{
	const struct sy_snapshot *snap;
	int rc = -1;

	if (!treader_ok)
		return -1;
	pthread_mutex_lock(&tlock);
	sy_reader_online(&treader);
	snap = sy_reader_begin(&treader);
	if (snap)
		rc = fn(snap, params, d);
	sy_reader_offline(&treader);
	pthread_mutex_unlock(&tlock);
	return rc;
}

static int services_fn(const struct sy_snapshot *snap, const char *params, struct rte_tel_data *d)
{
	(void)params;
	rte_tel_data_start_dict(d);
	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(tdp->map.base, snap, i);
		struct rte_tel_data *v = rte_tel_data_alloc();
		struct sy_vip_counters sum;

		if (!v)
			return -1;
		sy_region_sum_vip(&tdp->map, s->slot, &sum);
		rte_tel_data_start_dict(v);
		rte_tel_data_add_dict_u64(v, "packets", sum.pkts);
		rte_tel_data_add_dict_u64(v, "bytes", sum.bytes);
		rte_tel_data_add_dict_u64(v, "drops", sum.drops);
		rte_tel_data_add_dict_u64(v, "new_flows", sum.new_flows);
		rte_tel_data_add_dict_u64(v, "backends", s->n_backends);
		rte_tel_data_add_dict_container(d, s->name, v, 0);
	}
	return 0;
}

static int backends_fn(const struct sy_snapshot *snap, const char *params, struct rte_tel_data *d)
{
	for (uint32_t i = 0; params && i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(tdp->map.base, snap, i);
		const struct sy_backend *b = sy_service_backends(tdp->map.base, s);

		if (strcmp(s->name, params))
			continue;
		rte_tel_data_start_dict(d);
		for (uint32_t j = 0; j < s->n_backends; j++) {
			struct rte_tel_data *v = rte_tel_data_alloc();
			char a[INET6_ADDRSTRLEN], key[INET6_ADDRSTRLEN + 8];
			struct sy_backend_counters bc;

			if (!v)
				return -1;
			sy_region_sum_backend(&tdp->map, b[j].slot, &bc);
			inet_ntop(b[j].id.family == SY_AF_INET ? AF_INET : AF_INET6, b[j].id.addr,
				  a, sizeof(a));
			snprintf(key, sizeof(key), "%s:%u", a, b[j].id.port);
			rte_tel_data_start_dict(v);
			rte_tel_data_add_dict_u64(v, "packets", bc.pkts);
			rte_tel_data_add_dict_u64(v, "bytes", bc.bytes);
			rte_tel_data_add_dict_u64(v, "weight", b[j].weight);
			rte_tel_data_add_dict_container(d, key, v, 0);
		}
		return 0;
	}
	return -1;
}

/* The lookup's flow, parsed from "src,sport,dst,dport,proto". */
static int parse_flow(const char *params, struct sy_flow_key *k)
{
	char buf[256], *save = NULL, *f[5];
	int n = 0;

	if (!params || strlen(params) >= sizeof(buf))
		return -1;
	strcpy(buf, params);
	for (char *t = strtok_r(buf, ",", &save); t && n < 5; t = strtok_r(NULL, ",", &save))
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
	uint32_t idx = SY_MAGLEV_NONE, hash;
	int tracked = 0, worker = -1;
	char a[INET6_ADDRSTRLEN], ep[INET6_ADDRSTRLEN + 8], why[96];

	if (parse_flow(params, &k))
		return -1;
	vk.family = k.family;
	vk.proto = k.proto;
	vk.port = k.dport;
	memcpy(vk.addr, k.dst, sizeof(vk.addr));
	s = sy_snapshot_match(tdp->map.base, snap, &vk);
	if (!s)
		return -1;
	hash = sy_flow_hash(&k, s->hash_seed);
	/* Each worker's table, read while the worker runs: a best effort. */
	for (uint32_t w = 0; w < tdp->n_workers && !tracked; w++) {
		struct sy_lb view = tdp->workers[w].lb;

		view.now = (uint32_t)(rte_get_tsc_cycles() / (rte_get_tsc_hz() / 1000));
		idx = sy_lb_predict(&view, s, &k, &tracked);
		if (tracked)
			worker = (int)w;
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "service", s->name);
	rte_tel_data_add_dict_u64(d, "slot", hash % s->table_size);
	if (idx == SY_MAGLEV_NONE) {
		rte_tel_data_add_dict_string(d, "backend", "none");
		rte_tel_data_add_dict_string(d, "reason", "no backend for new flows");
		return 0;
	}
	{
		const struct sy_backend *b = &sy_service_backends(tdp->map.base, s)[idx];

		inet_ntop(b->id.family == SY_AF_INET ? AF_INET : AF_INET6, b->id.addr, a, sizeof(a));
		snprintf(ep, sizeof(ep), b->id.family == SY_AF_INET ? "%s:%u" : "[%s]:%u", a, b->id.port);
	}
	if (tracked)
		snprintf(why, sizeof(why), "conntrack: an established flow of worker %d", worker);
	else
		snprintf(why, sizeof(why), "maglev: slot %u of %u (not tracked)", hash % s->table_size,
			 s->table_size);
	rte_tel_data_add_dict_string(d, "backend", ep);
	rte_tel_data_add_dict_string(d, "reason", why);
	return 0;
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

int sy_telemetry_init(struct sy_dataplane *dp)
{
	char err[256];

	tdp = dp;
	if (dp->n_workers < dp->map.hdr->limits.max_lcores &&
	    sy_reader_register(&dp->map, dp->n_workers, &treader, err, sizeof(err)) == 0) {
		sy_reader_offline(&treader);
		treader_ok = true;
	} else {
		printf("level=warn msg=\"no reader slot for telemetry: /switchyard/services and /switchyard/backends disabled\"\n");
	}
	rte_telemetry_register_cmd("/switchyard/stats", cmd_stats,
				   "Switchyard counters summed over workers");
	rte_telemetry_register_cmd("/switchyard/lcore", cmd_lcore,
				   "One worker's counters. Parameter: worker index");
	rte_telemetry_register_cmd("/switchyard/services", cmd_services,
				   "Per service: packets, bytes, drops, new flows");
	rte_telemetry_register_cmd("/switchyard/backends", cmd_backends,
				   "Per backend of a service. Parameter: service name");
	rte_telemetry_register_cmd("/switchyard/lookup", cmd_lookup,
				   "Backend of a flow and why. Parameters: src,sport,dst,dport,tcp|udp");
	/* tell sy-control where to ask (syctl lookup) */
	snprintf(dp->map.hdr->dp_telemetry, sizeof(dp->map.hdr->dp_telemetry),
		 "%s/dpdk_telemetry.v2", rte_eal_get_runtime_dir());
	atomic_store(&dp->map.hdr->dp_pid, (int32_t)getpid());
	return 0;
}

void sy_stats_print(struct sy_dataplane *dp)
{
	printf("level=info msg=stats");
	for (int c = 0; c < SY_C__COUNT; c++) {
		uint64_t v = sum_counter(dp, c);

		if (v)
			printf(" %s=%llu", counter_names[c], (unsigned long long)v);
	}
	printf("\n");
	fflush(stdout);
}
