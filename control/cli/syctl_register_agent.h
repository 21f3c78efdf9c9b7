/* SPDX-License-Identifier: BSD-3-Clause
 *
 * `syctl register --registry SCHEME://...`: a registry kind's agent, one
 * per kind of registry_kinds.h, named syctl_register_<name> (in
 * syctl_register_<kind>.c). syctl_register.c checks what every
 * registration needs and then offers the URL to each kind's agent in turn:
 * the one whose scheme it is keeps the backend registered until SIGTERM or
 * SIGINT (or registers once), the others say it is not theirs.
 */
#ifndef SY_CONTROL_SYCTL_REGISTER_AGENT_H
#define SY_CONTROL_SYCTL_REGISTER_AGENT_H

#include "auth.h"
#include "registry_kinds.h"

/* --registry-user/--registry-password-file (both or neither) and the TLS
 * files (a certificate and its key together), as given: a kind that has
 * no use for them refuses them (exit 2). */
struct syctl_registry_access {
	const char *user, *password_file;
	const char *ca_file, *cert_file, *key_file;
};

/* An agent's answer when url is not of its kind. */
#define SYCTL_AGENT_NOT_MINE (-1)

/* r is checked: service, port, weight, ttl, the address parsed into
 * r->family and r->addr (addr: as given), metadata a JSON object. Returns
 * SYCTL_AGENT_NOT_MINE, or syctl's exit code. */
typedef int syctl_register_agent_fn(const char *url, const struct sy_registration *r,
				    const char *addr, int once,
				    const struct syctl_registry_access *access);

#define SYCTL_REGISTER_AGENT_DECL(ID, name, req, dir, sdesc, kdesc, a, b) \
	syctl_register_agent_fn syctl_register_##name;
SY_REGISTRY_KINDS(SYCTL_REGISTER_AGENT_DECL, ~, ~)
#undef SYCTL_REGISTER_AGENT_DECL

#endif
