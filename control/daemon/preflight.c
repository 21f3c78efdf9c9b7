/* SPDX-License-Identifier: BSD-3-Clause
 * Start-up's checks without side effects; see preflight.h. */
#include <errno.h>
#include <grp.h>
#include <net/if.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "preflight.h"
#include "registry_read.h"
#include "state_file.h"

int sy_config_caps(const struct sy_config *cfg, const struct sy_region_limits *lim,
		   uint32_t *caps, char *err, size_t errlen)
{
	uint64_t fixed = 0, share;
	size_t open_ = 0;

	for (size_t i = 0; i < cfg->n_services; i++) {
		if (cfg->services[i].max_backends)
			fixed += cfg->services[i].max_backends;
		else
			open_++;
	}
	if (fixed > lim->max_backends ||
	    (open_ && (lim->max_backends - fixed) / open_ < 1)) {
		snprintf(err, errlen,
			 "%s: the services' max_backends (%llu, and %zu services without one) do not fit the region's %u backends (limits.backends): one service could starve the others",
			 cfg->path, (unsigned long long)fixed, open_, lim->max_backends);
		return -1;
	}
	share = open_ ? (lim->max_backends - fixed) / open_ : 0;
	for (size_t i = 0; i < cfg->n_services; i++)
		caps[i] = cfg->services[i].max_backends ? cfg->services[i].max_backends
							 : (uint32_t)share;
	return 0;
}

int sy_read_token_file(const struct sy_config *cfg, const char *what, const char *path,
		       char *buf, size_t len, char *err, size_t errlen)
{
	struct stat st;
	FILE *f;
	size_t n = 0;

	errno = 0;
	if (!path || stat(path, &st) || !S_ISREG(st.st_mode) || !(f = fopen(path, "r"))) {
		snprintf(err, errlen, "%s: %s %s: %s", cfg->path, what, path ? path : "(none)",
			 errno ? strerror(errno) : "not a regular file");
		return -1;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
		n--;
	buf[n] = 0;
	if (n < 16) {
		snprintf(err, errlen, "%s: %s %s: shorter than 16 characters", cfg->path, what, path);
		return -1;
	}
	return 0;
}

int sy_read_token(const struct sy_config *cfg, char *buf, size_t len, char *err, size_t errlen)
{
	return sy_read_token_file(cfg, "api.token_file", cfg->api.token_file, buf, len, err, errlen);
}

/* registry.embedded.read: its token loads, and is no registration key (a
 * key must never double as a read token, nor the other way round). */
static int check_read_token(const struct sy_config *cfg, char *err, size_t errlen)
{
	const struct sy_config_read *r = &cfg->registry.embedded.read;
	char token[256];
	int rc = 0;

	if (!r->enabled || !r->token_file)
		return 0;
	if (sy_read_token_file(cfg, "registry.embedded.read.token_file", r->token_file, token,
			       sizeof(token), err, errlen))
		return -1;
	for (size_t i = 0; i < cfg->n_services && !rc; i++) {
		const struct sy_config_service *s = &cfg->services[i];
		uint8_t key[SY_KEY_MAX];
		size_t klen;

		if (s->source != SY_SOURCE_EMBEDDED)
			continue;
		if (sy_key_load(s->key_file, key, &klen, NULL, 0) == 0 &&
		    (!strcmp(s->key_file, r->token_file) ||
		     sy_read_token_is_key(token, key, klen))) {
			snprintf(err, errlen, "%s: registry.embedded.read.token_file %s: the same secret as services[%zu].key_file (%s): the read token must be its own",
				 cfg->path, r->token_file, i, s->key_file);
			rc = -1;
		}
		explicit_bzero(key, sizeof(key));
	}
	explicit_bzero(token, sizeof(token));
	return rc;
}

/* The directory a file will be written in: it must exist and be writable. */
static int check_dir_of(const struct sy_config *cfg, const char *what, const char *path,
			char *err, size_t errlen)
{
	char dir[4096], *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	errno = 0;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK)) {
		snprintf(err, errlen, "%s: %s %s: its directory %s: %s", cfg->path, what, path, dir,
			 errno ? strerror(errno) : "not a writable directory");
		return -1;
	}
	return 0;
}

/* The state file's directory exists and is writable, or is made at start
 * (one level, like /var/lib/switchyard). */
static int check_state_dir(const struct sy_config *cfg, char *err, size_t errlen)
{
	char dir[4096], *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", cfg->state_file);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (stat(dir, &st) && errno == ENOENT)
			return check_dir_of(cfg, "state_file", dir, err, errlen);
	}
	return check_dir_of(cfg, "state_file", cfg->state_file, err, errlen);
}

/* A file the daemon will read later (TLS material, a password file). */
static int readable(const struct sy_config *cfg, const char *what, const char *path, char *err,
		    size_t errlen)
{
	struct stat st;

	if (!path)
		return 0;
	errno = 0;
	if (stat(path, &st) || !S_ISREG(st.st_mode) || access(path, R_OK)) {
		snprintf(err, errlen, "%s: %s %s: %s", cfg->path, what, path,
			 errno ? strerror(errno) : "not a readable regular file");
		return -1;
	}
	return 0;
}

/* Every file a registry's section names (registry.<name>.ca_file, ...). */
static int registries_readable(const struct sy_config *cfg, char *err, size_t errlen)
{
	static const char *const names[] = { SY_REGISTRY_KINDS(SY_REGISTRY_NAME_STR, ~, ~) };

	for (size_t k = 0; k < SY_REGISTRY_N; k++) {
		const struct sy_config_registry *r = &cfg->registry.kind[k];
		const struct {
			const char *key, *path;
		} files[] = {
			{ "ca_file", r->ca_file },
			{ "cert_file", r->cert_file },
			{ "key_file", r->key_file },
			{ "password_file", r->password_file },
		};

		for (size_t i = 0; r->enabled && i < sizeof(files) / sizeof(files[0]); i++) {
			char what[96];

			snprintf(what, sizeof(what), "registry.%s.%s", names[k], files[i].key);
			if (readable(cfg, what, files[i].path, err, errlen))
				return -1;
		}
	}
	return 0;
}

int sy_preflight_run(const struct sy_config *cfg, const struct sy_preflight *o, char *err,
		     size_t errlen)
{
	const struct sy_region_limits *lim = o->region_limits ? o->region_limits : &cfg->limits;
	uint32_t *caps = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*caps));
	char token[256];
	int rc = -1;

	if (!caps) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* the region: room for every service and its backends */
	if (cfg->n_services > lim->max_services) {
		snprintf(err, errlen, "%s: %zu services but the region has room for %u (limits.services%s)",
			 cfg->path, cfg->n_services, lim->max_services,
			 o->region_limits ? " of the existing region: limits apply when it is created" : "");
		goto out;
	}
	if (sy_config_caps(cfg, lim, caps, err, errlen))
		goto out;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct sy_config_service *s = &cfg->services[i];

		if (s->n_backends > caps[i]) {
			snprintf(err, errlen, "%s:%u: services[%zu].backends: %zu listed, over the service's cap of %u (max_backends, or its share of limits.backends %u)",
				 cfg->path, s->line, i, s->n_backends, caps[i], lim->max_backends);
			goto out;
		}
		if (s->source == SY_SOURCE_EMBEDDED) {
			uint8_t key[SY_KEY_MAX];
			size_t klen;
			char kerr[256];

			if (sy_key_load(s->key_file, key, &klen, kerr, sizeof(kerr))) {
				snprintf(err, errlen, "%s:%u: services[%zu].key_file: %s", cfg->path,
					 s->line, i, kerr);
				goto out;
			}
		}
	}
	/* a new region needs a directory to be created in (one that exists
	 * was validated by the caller: sy_region_peek) */
	if (!o->region_limits && check_dir_of(cfg, "region", cfg->region, err, errlen))
		goto out;
	/* the operator's saved changes, and where they are kept */
	if (sy_state_check(cfg, err, errlen) || check_state_dir(cfg, err, errlen))
		goto out;
	/* the API */
	if (cfg->api.tcp_host && sy_read_token(cfg, token, sizeof(token), err, errlen))
		goto out;
	if (check_read_token(cfg, err, errlen))
		goto out;
	if (cfg->api.group && !getgrnam(cfg->api.group)) {
		snprintf(err, errlen, "%s: api.group %s: no such group", cfg->path, cfg->api.group);
		goto out;
	}
	/* the registries' files */
	if (registries_readable(cfg, err, errlen))
		goto out;
	/* the command line's part */
	if (o->run_as && o->run_as[0]) {
		const struct passwd *pw = getpwnam(o->run_as);

		if (!pw || pw->pw_uid == 0) {
			snprintf(err, errlen, "--user %s: %s", o->run_as,
				 pw ? "is root; name an unprivileged user" : "no such user");
			goto out;
		}
	}
	if (o->xdp_iface && o->xdp_iface[0] && !if_nametoindex(o->xdp_iface)) {
		snprintf(err, errlen, "--iface %s: no such interface in this network namespace",
			 o->xdp_iface);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(token, sizeof(token));
	free(caps);
	return rc;
}
