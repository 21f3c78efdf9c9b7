/* SPDX-License-Identifier: BSD-3-Clause
 *
 * DPDK telemetry commands (dpdk-telemetry.py works against sy-dataplane):
 *   /switchyard/stats          counters summed over workers
 *   /switchyard/lcore,<n>      one worker's counters
 *   /switchyard/services       per service: packets, bytes, drops, new flows
 *   /switchyard/backends,<svc> per backend of a service: packets, bytes
 * Service names come from the snapshot, read through a reader slot of its
 * own (the one after the workers') so reclamation waits for it too.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

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
