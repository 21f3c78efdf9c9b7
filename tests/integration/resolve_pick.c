/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A resolver client for test_resolve_lookup.sh: the instance set and the
 * flows on stdin, one pick per flow on stdout, through the installed API
 * (include/switchyard/resolve.h) only.
 *
 *   resolve_pick TABLE_SIZE HASH_SEED < input
 *   input lines:  B ADDRESS PORT WEIGHT      (an instance)
 *                 F SRC SPORT DST DPORT tcp|udp   (a flow: one output line)
 *   output:       ADDRESS:PORT, or [ADDRESS]:PORT for IPv6 (syctl's format)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/resolve.h>

static int parse_addr(const char *s, struct sy_resolve_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->bytes) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, s, a->bytes) == 1)
		a->family = 6;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct sy_resolve_service_opts o;
	struct sy_resolve_instance *inst = NULL;
	size_t n = 0, cap = 0;
	sy_resolve_service *s = NULL;
	sy_resolver *r;
	char line[512];
	int rc;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: resolve_pick TABLE_SIZE HASH_SEED [HASH] < input\n");
		return 2;
	}
	o.table_size = (uint32_t)strtoul(argv[1], NULL, 0);
	o.hash_seed = (uint32_t)strtoul(argv[2], NULL, 0);
	o.hash = argc == 4 ? (uint32_t)strtoul(argv[3], NULL, 0) : SY_RESOLVE_HASH_5TUPLE;
	if ((rc = sy_resolve_create(NULL, &r)) || (rc = sy_resolve_service_open(r, "svc", &o, &s))) {
		fprintf(stderr, "resolve_pick: %s: %s\n", sy_resolve_strerror(rc), sy_resolve_errmsg(r));
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char a[128], b[128], proto[8], out[INET6_ADDRSTRLEN];
		unsigned p1, p2, w;
		struct sy_resolve_flow f;
		struct sy_resolve_pick pk;

		if (sscanf(line, "B %127s %u %u", a, &p1, &w) == 3) {
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				inst = realloc(inst, cap * sizeof(*inst));
			}
			memset(&inst[n], 0, sizeof(inst[n]));
			if (parse_addr(a, &inst[n].addr)) {
				fprintf(stderr, "resolve_pick: bad address %s\n", a);
				return 1;
			}
			inst[n].port = (uint16_t)p1;
			inst[n++].weight = w;
			continue;
		}
		if (sscanf(line, "F %127s %u %127s %u %7s", a, &p1, b, &p2, proto) != 5 ||
		    parse_addr(a, &f.src) || parse_addr(b, &f.dst)) {
			fprintf(stderr, "resolve_pick: bad line: %s", line);
			return 1;
		}
		if (inst) { /* the set goes in before the first flow */
			if ((rc = sy_resolve_set_instances(s, 1, inst, n))) {
				fprintf(stderr, "resolve_pick: %s\n", sy_resolve_errmsg(r));
				return 1;
			}
			free(inst);
			inst = NULL;
		}
		f.sport = (uint16_t)p1;
		f.dport = (uint16_t)p2;
		f.proto = strcmp(proto, "tcp") == 0 ? 6 : 17;
		if ((rc = sy_resolve_pick_flow(s, &f, &pk))) {
			printf("none\n");
			continue;
		}
		inet_ntop(pk.instance.addr.family == 6 ? AF_INET6 : AF_INET, pk.instance.addr.bytes,
			  out, sizeof(out));
		printf(pk.instance.addr.family == 6 ? "[%s]:%u\n" : "%s:%u\n", out, pk.instance.port);
	}
	sy_resolve_destroy(r);
	return 0;
}
