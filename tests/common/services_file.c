/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/flow_hash.h>

#include "services_file.h"

#define MAX_SERVICES 256
#define MAX_BACKENDS 4096

struct file_service {
	struct sy_service_spec spec;
	struct sy_backend_spec *be;
	uint32_t n, cap;
};

static int parse_addr(const char *s, uint8_t *family, uint32_t addr[4])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = SY_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = SY_AF_INET6;
		return 0;
	}
	return -1;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return -1;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int parse_service(char **tok, int n, struct file_service *fs, char *msg, size_t len)
{
	struct sy_service_spec *s = &fs->spec;
	unsigned long port;
	uint8_t fam;
	uint32_t a[4];

	if (n < 6) {
		snprintf(msg, len, "service needs NAME PROTO VIP PORT MODE");
		return -1;
	}
	memset(fs, 0, sizeof(*fs));
	snprintf(s->name, sizeof(s->name), "%s", tok[1]);
	s->vip.proto = strcmp(tok[2], "tcp") == 0 ? 6 : strcmp(tok[2], "udp") == 0 ? 17 : 0;
	if (!s->vip.proto) {
		snprintf(msg, len, "protocol '%s' is not tcp or udp", tok[2]);
		return -1;
	}
	if (parse_addr(tok[3], &s->vip.family, s->vip.addr)) {
		snprintf(msg, len, "VIP '%s' is not an address", tok[3]);
		return -1;
	}
	port = strtoul(tok[4], NULL, 10);
	if (port > 65535) {
		snprintf(msg, len, "port '%s' out of range", tok[4]);
		return -1;
	}
	s->vip.port = htons((uint16_t)port);
	s->fwd_mode = strcmp(tok[5], "ipip") == 0    ? SY_FWD_IPIP
		      : strcmp(tok[5], "gue") == 0   ? SY_FWD_GUE
		      : strcmp(tok[5], "l2dsr") == 0 ? SY_FWD_L2DSR
						     : 0;
	if (!s->fwd_mode) {
		snprintf(msg, len, "mode '%s' is not ipip, gue or l2dsr", tok[5]);
		return -1;
	}
	s->table_size = 251;
	for (int i = 6; i < n; i++) {
		char *eq = strchr(tok[i], '=');

		if (!eq) {
			snprintf(msg, len, "option '%s' is not key=value", tok[i]);
			return -1;
		}
		*eq++ = 0;
		if (strcmp(tok[i], "m") == 0) {
			s->table_size = (uint32_t)strtoul(eq, NULL, 10);
		} else if (strcmp(tok[i], "seed") == 0) {
			s->hash_seed = (uint32_t)strtoul(eq, NULL, 0);
		} else if (strcmp(tok[i], "gue_port") == 0) {
			s->gue_port = htons((uint16_t)strtoul(eq, NULL, 10));
		} else if (strcmp(tok[i], "quic") == 0) {
			s->quic = (uint8_t)(strtoul(eq, NULL, 10) != 0);
		} else if (strcmp(tok[i], "hash") == 0 && sy_hash_fields_parse(eq) >= 0) {
			s->hash_fields = (uint8_t)sy_hash_fields_parse(eq);
		} else if (strcmp(tok[i], "src4") == 0 && !parse_addr(eq, &fam, a) &&
			   fam == SY_AF_INET) {
			s->encap_src4 = a[0];
		} else if (strcmp(tok[i], "src6") == 0 && !parse_addr(eq, &fam, a) &&
			   fam == SY_AF_INET6) {
			memcpy(s->encap_src6, a, 16);
		} else {
			snprintf(msg, len, "bad option '%s=%s'", tok[i], eq);
			return -1;
		}
	}
	return 0;
}

static int parse_backend(char **tok, int n, struct file_service *svc, int n_svc,
			 char *msg, size_t len)
{
	struct file_service *fs = NULL;
	struct sy_backend_spec b = { .weight = 1 };

	if (n < 5) {
		snprintf(msg, len, "backend needs SERVICE ADDR PORT MAC [WEIGHT] [sid=ID]");
		return -1;
	}
	for (int i = 0; i < n_svc; i++)
		if (strcmp(svc[i].spec.name, tok[1]) == 0)
			fs = &svc[i];
	if (!fs) {
		snprintf(msg, len, "backend of unknown service '%s'", tok[1]);
		return -1;
	}
	if (parse_addr(tok[2], &b.id.family, b.id.addr) || parse_mac(tok[4], b.mac)) {
		snprintf(msg, len, "bad backend address '%s' or MAC '%s'", tok[2], tok[4]);
		return -1;
	}
	b.id.port = (uint16_t)strtoul(tok[3], NULL, 10);
	/* then [WEIGHT] [sid=QUIC_SERVER_ID] */
	for (int i = 5; i < n; i++) {
		if (strncmp(tok[i], "sid=", 4) == 0)
			b.server_id = (uint32_t)strtoul(tok[i] + 4, NULL, 0);
		else
			b.weight = (uint32_t)strtoul(tok[i], NULL, 10);
	}
	if (fs->n == fs->cap) {
		uint32_t cap = fs->cap ? fs->cap * 2 : 8;
		struct sy_backend_spec *nb = realloc(fs->be, cap * sizeof(*nb));

		if (!nb) {
			snprintf(msg, len, "out of memory");
			return -1;
		}
		fs->be = nb;
		fs->cap = cap;
	}
	fs->be[fs->n++] = b;
	return 0;
}

int sy_services_file_apply(struct sy_writer *w, const char *path, char *err, size_t errlen)
{
	static struct file_service svc[MAX_SERVICES];
	const struct sy_snapshot *snap;
	char line[1024], msg[200];
	int n_svc = 0, lineno = 0, rc = -1;
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "%s: cannot open", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *tok[16], *save = NULL, *t;
		int n = 0;

		lineno++;
		if ((t = strchr(line, '#')))
			*t = 0;
		for (t = strtok_r(line, " \t\r\n", &save); t && n < 16;
		     t = strtok_r(NULL, " \t\r\n", &save))
			tok[n++] = t;
		if (!n)
			continue;
		if (strcmp(tok[0], "service") == 0 && n_svc < MAX_SERVICES) {
			if (parse_service(tok, n, &svc[n_svc], msg, sizeof(msg)))
				goto bad;
			n_svc++;
		} else if (strcmp(tok[0], "backend") == 0) {
			if (parse_backend(tok, n, svc, n_svc, msg, sizeof(msg)))
				goto bad;
		} else {
			snprintf(msg, sizeof(msg), "unknown directive '%s'", tok[0]);
			goto bad;
		}
	}
	snap = sy_writer_snapshot(w);
	for (uint32_t i = 0; snap && i < snap->n_services; i++) {
		const char *name = sy_snapshot_service(sy_writer_map(w)->base, snap, i)->name;
		int keep = 0;

		for (int j = 0; j < n_svc; j++)
			keep |= strcmp(svc[j].spec.name, name) == 0;
		if (!keep && sy_writer_remove_service(w, name, err, errlen))
			goto out;
	}
	for (int i = 0; i < n_svc; i++) {
		svc[i].spec.backends = svc[i].be;
		svc[i].spec.n_backends = svc[i].n;
		if (sy_writer_set_service(w, &svc[i].spec, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s: %s", path, msg);
			goto out;
		}
	}
	if (sy_writer_commit(w, NULL, msg, sizeof(msg))) {
		snprintf(err, errlen, "%s: %s", path, msg);
		goto out;
	}
	rc = 0;
	goto out;
bad:
	snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
out:
	for (int i = 0; i < n_svc; i++)
		free(svc[i].be);
	fclose(f);
	return rc;
}
