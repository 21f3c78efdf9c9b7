/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-publish: publish a services file (tests/common/services_file.h) into a
 * region, creating it if asked. A stand-in for sy-control in dataplane tests;
 * every run adopts the region like a restarted sy-control would.
 *
 *   sy-publish [--create] REGION FILE     publish FILE (the full desired state)
 *   sy-publish --show REGION              print services, digests, backends
 *   sy-publish --lookup REGION SRC SPORT DST DPORT tcp|udp
 *                                         the backend Maglev picks for a new flow
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services_file.h"

static void show(struct sy_writer *w)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(w);
	const uint8_t *base = sy_writer_map(w)->base;

	if (!snap) {
		printf("generation 0 (nothing published)\n");
		return;
	}
	printf("generation %llu, %u services\n", (unsigned long long)snap->generation,
	       snap->n_services);
	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct sy_service *s = sy_snapshot_service(base, snap, i);
		const struct sy_backend *b = sy_service_backends(base, s);
		char a[INET6_ADDRSTRLEN];

		inet_ntop(s->vip.family == SY_AF_INET ? AF_INET : AF_INET6, s->vip.addr, a,
			  sizeof(a));
		printf("service %s %s %s:%u M=%u digest=%016llx backends=%u\n", s->name,
		       s->vip.proto == 6 ? "tcp" : "udp", a, ntohs(s->vip.port), s->table_size,
		       (unsigned long long)s->digest, s->n_backends);
		for (uint32_t j = 0; j < s->n_backends; j++) {
			inet_ntop(b[j].id.family == SY_AF_INET ? AF_INET : AF_INET6, b[j].id.addr,
				  a, sizeof(a));
			printf("  backend %u %s:%u weight=%u uid=%llu slot=%u\n", j, a, b[j].id.port,
			       b[j].weight, (unsigned long long)b[j].uid, b[j].slot);
		}
	}
}

static int parse_ip(const char *s, struct sy_flow_key *k, uint32_t *addr)
{
	if (inet_pton(AF_INET, s, addr) == 1) {
		k->family = SY_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		k->family = SY_AF_INET6;
		return 0;
	}
	return -1;
}

static int lookup(struct sy_writer *w, char **a)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(w);
	const uint8_t *base = sy_writer_map(w)->base;
	struct sy_flow_key k = { 0 };
	struct sy_vip_key vk = { 0 };
	const struct sy_service *s;
	const struct sy_backend *b;
	char txt[INET6_ADDRSTRLEN];
	uint32_t idx;

	if (parse_ip(a[0], &k, k.src) || parse_ip(a[2], &k, k.dst) || !snap) {
		fprintf(stderr, "sy-publish: bad address or nothing published\n");
		return 1;
	}
	k.sport = htons((uint16_t)atoi(a[1]));
	k.dport = htons((uint16_t)atoi(a[3]));
	k.proto = strcmp(a[4], "udp") == 0 ? 17 : 6;
	vk.family = k.family;
	vk.proto = k.proto;
	vk.port = k.dport;
	memcpy(vk.addr, k.dst, 16);
	s = sy_snapshot_match(base, snap, &vk);
	if (!s) {
		fprintf(stderr, "sy-publish: no service for that destination\n");
		return 1;
	}
	idx = sy_service_pick(base, s, sy_flow_hash(&k, s->hash_seed));
	if (idx == SY_MAGLEV_NONE) {
		printf("none\n");
		return 0;
	}
	b = &sy_service_backends(base, s)[idx];
	inet_ntop(b->id.family == SY_AF_INET ? AF_INET : AF_INET6, b->id.addr, txt, sizeof(txt));
	printf("%s\n", txt);
	return 0;
}

int main(int argc, char **argv)
{
	struct sy_region_limits lim = { .max_lcores = 16, .max_services = 256,
					.max_backends = 16384, .heap_size = 64u << 20 };
	int create = 0, do_show = 0, do_lookup = 0, i = 1, rc;
	struct sy_writer *w;
	char err[512];

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--create") == 0)
			create = 1;
		else if (strcmp(argv[i], "--show") == 0)
			do_show = 1;
		else if (strcmp(argv[i], "--lookup") == 0)
			do_lookup = 1;
		else
			break;
	}
	if (argc - i != (do_lookup ? 6 : do_show ? 1 : 2)) {
		fprintf(stderr, "usage: sy-publish [--create] REGION FILE | --show REGION |\n"
				"       --lookup REGION SRC SPORT DST DPORT tcp|udp\n");
		return 2;
	}
	if (create && access(argv[i], F_OK) != 0) {
		if (sy_writer_create(argv[i], "test", &lim, NULL, &w, err, sizeof(err))) {
			fprintf(stderr, "sy-publish: %s\n", err);
			return 1;
		}
	} else if (sy_writer_adopt(argv[i], NULL, &w, err, sizeof(err))) {
		fprintf(stderr, "sy-publish: %s\n", err);
		return 1;
	}
	if (do_lookup) {
		rc = lookup(w, &argv[i + 1]);
		sy_writer_close(w);
		return rc;
	}
	if (!do_show && sy_services_file_apply(w, argv[i + 1], err, sizeof(err))) {
		fprintf(stderr, "sy-publish: %s\n", err);
		sy_writer_close(w);
		return 1;
	}
	show(w);
	sy_writer_close(w);
	return 0;
}
