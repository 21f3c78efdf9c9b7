/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The registries that sy-control's sources can follow, one line each, and
 * each one's configuration keys. Everything that names a registry kind
 * without speaking its protocol is made from this list: the enums of
 * sources (config.h SY_SOURCE_<ID>, backends.h SY_SRC_<ID>), their names
 * (`source: <name>`, status, /metrics), the configuration's registry.<name>
 * section and its keys (config_schema.h, docs/config-reference.md), the
 * daemon's sources (sy_source_<name>) and its per-source counters.
 *
 *   X(ID, name, "servers key", dir, "section description", "key description", a, b)
 *
 * The servers key is the section's required key, its list of servers
 * (a URL_LIST, or a STRING given to the client as it is). dir: 1 if the
 * prefix ends with '/' (a folder of keys), 0 if it must not (a path of
 * nodes). a and b are the caller's, passed through. Append: the order is the
 * enums'. The configuration's section is one structure for every kind
 * (struct sy_config_registry), read by its keys below; sy-control's source
 * of a kind is made from this list (control/daemon/source_follow.c) on the
 * kind's follower, sy_<name>_follow_ops (control/registry/follow.h), which
 * also holds the kind's log words and traits.
 *
 * What is still written per kind besides this file and the follower: its
 * agent (control/cli/syctl_register_<kind>.c and syctl_register.c's
 * dispatch), the resolver's source (resolve/source_<name>.c, its fields of
 * struct sy_resolve_config, resolver.c's choice) and syctl resolve's
 * options for it.
 */
#ifndef SY_REGISTRY_KINDS_H
#define SY_REGISTRY_KINDS_H

#include <stdbool.h>

#define SY_REGISTRY_KINDS(X, a, b)                                                               \
	X(ETCD, etcd, "endpoints", 1,                                                             \
	  "etcd v3 (3.4+) through its JSON gateway: one key per backend under `prefix`, bound "  \
	  "to a lease.",                                                                           \
	  "An etcd cluster.", a, b)                                                                \
	X(ZOOKEEPER, zookeeper, "servers", 0,                                                     \
	  "ZooKeeper: one ephemeral znode per backend under `prefix`.",                           \
	  "A ZooKeeper ensemble.", a, b)

/* Helpers for the usual expansions. */
#define SY_REGISTRY_COMMA_NAME(ID, name, req, dir, sdesc, kdesc, a, b) ", " #name
#define SY_REGISTRY_NAME_STR(ID, name, req, dir, sdesc, kdesc, a, b) #name,

/* A kind's index: SY_REGISTRY_ETCD, ... (SY_SOURCE_<ID> - SY_SOURCE_REGISTRY_FIRST). */
#define SY_REGISTRY_ID_ENUM(ID, name, req, dir, sdesc, kdesc, a, b) SY_REGISTRY_##ID,
enum sy_registry_id { SY_REGISTRY_KINDS(SY_REGISTRY_ID_ENUM, ~, ~) SY_REGISTRY_N };
#undef SY_REGISTRY_ID_ENUM

/* A kind's dir by its ID: SY_REGISTRY_FOLDER_ETCD, ... (1: its prefix is a
 * folder), for what a kind's own files say of it (its follower's
 * prefix_folder, follow.h). */
#define SY_REGISTRY_FOLDER_ENUM(ID, name, req, dir, sdesc, kdesc, a, b) \
	SY_REGISTRY_FOLDER_##ID = dir,
enum { SY_REGISTRY_KINDS(SY_REGISTRY_FOLDER_ENUM, ~, ~) };
#undef SY_REGISTRY_FOLDER_ENUM

/* A kind's prefix by its rule (dir above: folder): it starts with '/', and
 * a folder's ends with '/' while a path's does not (unless it is "/").
 * NULL when it holds, else what it must do ("must start and end with '/'",
 * "must start with '/' and not end with it"). One rule for the
 * configuration, the resolver and the registry URLs (etcd_kv.c, in every
 * user's registry client). */
const char *sy_registry_prefix_check(const char *prefix, bool folder);

/* registry.<name>: its keys, K(ctx, "key", TYPE, "default", "range", "example",
 * "description") as in config_schema.h. */
#define SY_CONFIG_KEYS_ETCD(K, c)                                                                \
	K(c, "endpoints", URL_LIST, "required", "1..16 http:// or https:// URLs",                 \
	  "[\"http://127.0.0.1:2379\"]", "Members of one etcd cluster, tried in turn.")           \
	K(c, "prefix", STRING, "/switchyard/services/", "starts and ends with '/'",               \
	  "/switchyard/services/", "Key prefix: keys are `<prefix><service>/<address>:<port>`.") \
	K(c, "ca_file", PATH, "system CAs", "absolute path", "/etc/switchyard/etcd-ca.pem",      \
	  "CA certificate that verifies https:// endpoints.")                                     \
	K(c, "cert_file", PATH, "not set", "absolute path; with key_file",                        \
	  "/etc/switchyard/etcd-client.pem", "TLS client certificate.")                           \
	K(c, "key_file", PATH, "not set", "absolute path; with cert_file",                        \
	  "/etc/switchyard/etcd-client.key", "TLS client key.")                                   \
	K(c, "username", STRING, "not set", "non-empty; with password_file", "switchyard",       \
	  "etcd user (auth enabled on the cluster).")                                             \
	K(c, "password_file", PATH, "not set", "absolute path; with username",                    \
	  "/etc/switchyard/etcd.password", "File holding that user's password.")                 \
	K(c, "timeout_ms", INT, "2000", "100..60000", "2000",                                     \
	  "Per request. No endpoint answering for 2 x timeout_ms makes the source down: "       \
	  "its services keep their last known backends (fail-static).")

#define SY_CONFIG_KEYS_ZOOKEEPER(K, c)                                                           \
	K(c, "servers", STRING, "required", "HOST:PORT[,HOST:PORT...]",                           \
	  "\"127.0.0.1:2181,127.0.0.1:2182\"", "The ensemble (libzookeeper connect string).")    \
	K(c, "prefix", STRING, "/switchyard/services", "starts with '/', does not end with it",  \
	  "/switchyard/services", "Parent of the `<service>/<address>:<port>` znodes.")          \
	K(c, "session_timeout_ms", INT, "10000", "2000..600000", "10000",                         \
	  "Session timeout asked of the servers; keep it at least the agents' TTL.")             \
	K(c, "username", STRING, "not set", "non-empty, no ':'; with password_file", "switchyard", \
	  "Digest user of the session: the service znodes sy-control creates are owned by it "  \
	  "(all rights) and readable by anyone, so that only clients with its credentials "      \
	  "(the agents' --registry-user) add backends there.")                                   \
	K(c, "password_file", PATH, "not set", "absolute path; with username",                    \
	  "/etc/switchyard/zk.password", "File holding that user's password (read at each new " \
	  "session).")

#endif
