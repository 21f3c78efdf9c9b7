/* SPDX-License-Identifier: BSD-3-Clause
 * The static source: backends listed in the configuration file. */
#include <stdio.h>
#include <string.h>

#include "source.h"

static void configured(const struct sy_source *self, struct sy_daemon *d)
{
	(void)self;
	for (size_t i = 0; i < d->n_svc; i++) {
		struct sy_service_state *s = &d->svc[i];
		const struct sy_config_service *cs = &d->cfg->services[s->cfg_index];

		/* the file is the whole truth for its backends: drop the old
		 * list, take the new one */
		sy_svcb_forget_source(&s->b, SY_SRC_STATIC);
		for (size_t j = 0; j < cs->n_backends; j++) {
			const struct sy_config_backend *cb = &cs->backends[j];
			struct sy_backend_id id = { .family = cb->family, .port = cb->port };
			struct sy_be *b;

			memcpy(id.addr, cb->addr, sizeof(id.addr));
			b = sy_source_upsert(d, s, &id, cb->weight, SY_SRC_STATIC, 0);
			if (!b)
				continue;
			b->has_mac = cb->has_mac;
			memcpy(b->mac, cb->mac, 6);
			snprintf(b->zone, sizeof(b->zone), "%s", cb->zone);
			sy_source_set_server_id(d, s, b, cb->server_id);
		}
	}
}

static void describe(const struct sy_source *self, struct sy_daemon *d, char *buf, size_t len,
		     bool *up)
{
	(void)self;
	size_t n = 0;

	for (size_t i = 0; i < d->n_svc; i++)
		n += d->cfg->services[d->svc[i].cfg_index].source == SY_SOURCE_STATIC;
	snprintf(buf, len, "configuration file: %zu services", n);
	*up = true;
}

const struct sy_source sy_source_static = {
	.name = "static",
	.kind = SY_SOURCE_STATIC,
	.configured = configured,
	.describe = describe,
};
