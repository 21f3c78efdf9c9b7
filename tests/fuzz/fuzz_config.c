/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: sy-control's configuration loader (control/config.c) on
 * arbitrary bytes, through sy_config_load_buffer() (the loader of
 * sy_config_load() without the file read): libyaml, then every field's
 * validation (instance, api, defaults, registry sections, services, VIPs,
 * backends, health checks, prefixes, table sizes).
 *
 * Invariants: the loader returns 0 with a configuration, or -1 with none and
 * a message that starts with the file name; an accepted configuration has
 * named services with allowed table sizes, a check timeout within its
 * interval, and backend weights in range; everything is freed (LeakSanitizer
 * checks every input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/maglev.h>

#include "config.h"

#define NAME "fuzz.yaml"

#define FUZZ_TARGET "fuzz_config"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sy_config *c = (struct sy_config *)1;
	char err[512], why[128];
	int rc;

	if (size > 64 * 1024)
		return -1;
	rc = sy_config_load_buffer(NAME, data, size, &c, err, sizeof(err));
	if (rc == 0) {
		CHECK(c && !strcmp(c->path, NAME), "success without a configuration");
		for (size_t i = 0; i < c->n_services; i++) {
			const struct sy_config_service *s = &c->services[i];

			CHECK(s->name[0], "service %zu without a name", i);
			CHECK(sy_maglev_check_size(s->table_size, why, sizeof(why)) == 0,
			      "service %s: table size %u: %s", s->name, s->table_size, why);
			CHECK(s->health.check.timeout_ms <= s->health.check.interval_ms,
			      "service %s: check timeout over interval", s->name);
			CHECK(s->vip.family == SY_AF_INET || s->vip.family == SY_AF_INET6,
			      "service %s: VIP family %u", s->name, s->vip.family);
			for (size_t j = 0; j < s->n_backends; j++)
				CHECK(s->backends[j].weight <= SY_MAGLEV_MAX_WEIGHT,
				      "service %s: backend weight %u", s->name, s->backends[j].weight);
		}
	} else if (rc != -1 || c || strncmp(err, NAME, strlen(NAME))) {
		fprintf(stderr, "fuzz_config: rc %d, config %p, message '%s'\n", rc, (void *)c, err);
		abort();
	}
	sy_config_free(c);
	return 0;
}
