/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The configuration schema: every section and every key of sy-control's YAML
 * configuration, with its type, default, range, an example value and a
 * description. One source of truth:
 *
 *  - control/config.c takes each section's list of allowed keys from here
 *    (anything else is "unknown key");
 *  - tools/gen_docs prints docs/config-reference.md from it (meson test
 *    docs_config_reference fails when the committed file differs);
 *  - tests/control/test_config_schema.c loads a configuration with every key
 *    set to its example, checks that a bogus key is refused in every section
 *    with exactly this key list, and that every integer range below is the
 *    loader's (its bounds accepted, one past them refused).
 *
 * A section's keys are in the order config.c lists them in "unknown key"
 * messages. Adding a key: add it here, read it in config.c, regenerate the
 * doc (ninja -C build docs).
 *
 * Sections: S(ID, "path", "description"). A path names the mapping in the
 * file: "" is the top level, "a.b" the mapping under key b of a, "x[]" each
 * item of the sequence x.
 *
 * Keys: K(ctx, "key", TYPE, "default", "range", "example", "description"),
 * ctx being the caller's (passed through). TYPE is one of enum
 * sy_config_type without its prefix. "default" is "required" for a required
 * key. An INT key's range is exactly "MIN..MAX" (the test parses it).
 * "example" is the YAML text of a valid value; a MAP or MAP_LIST key's value
 * is its child section ("path.key" or "path.key[]"). SY_CONFIG_NO_EXAMPLE
 * leaves a key out of the example configuration (which sets every other
 * key): a key that the example's choices exclude (udp's send and receive,
 * the example check being http).
 */
#ifndef SWITCHYARD_CONTROL_CONFIG_SCHEMA_H
#define SWITCHYARD_CONTROL_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdio.h>

#include "registry_kinds.h" /* registry.<kind> sections and their keys */

#define SY_CONFIG_NO_EXAMPLE "(not in the example)"

/* A registry kind's section (registry.<name>) and its key under registry. */
#define SY_CONFIG_REGISTRY_SECTION(ID, name, req, dir, sdesc, kdesc, S, b) S(ID, "registry." #name, sdesc)
#define SY_CONFIG_REGISTRY_KEY(ID, name, req, dir, sdesc, kdesc, K, c) \
	K(c, #name, MAP, "off", "", "", kdesc)

#define SY_CONFIG_SECTIONS(S)                                                                    \
	S(ROOT, "", "The top level of the file.")                                                 \
	S(LIMITS, "limits",                                                                       \
	  "Sizes of the shared-table region. Used only when sy-control creates the region; an "  \
	  "existing region (adopted after a restart) keeps the limits it was created with: "    \
	  "remove the region file (with the dataplane stopped) to apply new ones.")             \
	S(API, "api",                                                                             \
	  "The HTTP/JSON API used by syctl (unix socket, mode 0660) and /metrics.")              \
	S(DEFAULTS, "defaults",                                                                   \
	  "Values every service inherits unless it sets its own.")                                \
	S(REGISTRY, "registry",                                                                   \
	  "Service registries that services can take their backends from (`source:`).")         \
	S(EMBEDDED, "registry.embedded",                                                          \
	  "sy-control's own registry: backends register over HTTP with `syctl register`, "      \
	  "signed with the service's HMAC key (`key_file`).")                                     \
	S(READ, "registry.embedded.read",                                                         \
	  "Reading the embedded registry: `GET /v1/services` and the list and blocking watch "   \
	  "of a service's instances (docs/registry-api.md). Absent: every read is refused "      \
	  "(403). Its own credential, never a registration key.")                                 \
	SY_REGISTRY_KINDS(SY_CONFIG_REGISTRY_SECTION, S, ~)                                       \
	S(BGP, "bgp",                                                                             \
	  "Announcing the VIPs by BGP: sy-control decides per VIP to announce or withdraw "      \
	  "(dataplane running, a usable backend, the host not drained) and drives the BGP "      \
	  "daemon of the host (docs/control.md, \"Announcing the VIPs\").")                       \
	S(SERVICE, "services[]",                                                                  \
	  "One load-balanced service: a VIP, port and protocol, how packets reach the "         \
	  "backends, and where the backends come from.")                                          \
	S(BACKEND, "services[].backends[]",                                                       \
	  "A configured backend: the whole set of a `static` service, the initial set of the "  \
	  "others.")                                                                               \
	S(HEALTH, "services[].health",                                                            \
	  "Health policy: TTLs, flap damping, panic threshold (fail-static).")                    \
	S(CHECK, "services[].health.check",                                                       \
	  "Optional active health check of every backend.")

#define SY_CONFIG_KEYS_ROOT(K, c)                                                                \
	K(c, "instance", NAME, "required", "[a-z0-9-]{1,31}", "edge1",                            \
	  "Instance name: names the region file, the API socket, the XDP pins "                   \
	  "(`/sys/fs/bpf/switchyard/<instance>`); `syctl --instance NAME` finds the socket by it.") \
	K(c, "api", MAP, "see api", "", "", "The API listeners.")                                  \
	K(c, "bgp", MAP, "daemon none", "", "", "Announcing the VIPs by BGP.")                     \
	K(c, "defaults", MAP, "see defaults", "", "", "Values services inherit.")                  \
	K(c, "limits", MAP, "see limits", "", "", "Region sizes.")                                 \
	K(c, "region", PATH, "/dev/shm/switchyard-<instance>", "absolute path",                   \
	  "/dev/shm/switchyard-edge1",                                                             \
	  "The shared-table region file sy-control creates (or adopts) and sy-dataplane maps "    \
	  "(`--region`). A file on hugetlbfs works too (size rounded to 2 MiB).")                 \
	K(c, "registry", MAP, "none", "", "", "Registries; needed by services of source "          \
	  "embedded" SY_REGISTRY_KINDS(SY_REGISTRY_COMMA_NAME, ~, ~) ".")                          \
	K(c, "state_file", PATH, "/var/lib/switchyard/<instance>.state", "absolute path",         \
	  "/var/lib/switchyard/edge1.state",                                                       \
	  "Where the operator's API changes (`syctl add`, `drain`, `weight`, `reset`) are kept: " \
	  "they survive restarts and reloads. Its directory must exist.")                         \
	K(c, "services", MAP_LIST, "none", "", "",                                                 \
	  "The services, in any order. None (absent or `[]`) is a valid, empty configuration.")

#define SY_CONFIG_KEYS_LIMITS(K, c)                                                              \
	K(c, "lcores", INT, "16", "1..1024", "16",                                                \
	  "Reader slots: sy-dataplane workers + 1 (one slot is kept for telemetry and the XDP "  \
	  "path's counters).")                                                                     \
	K(c, "services", INT, "1024", "1..65536", "1024", "Services (and per-VIP counter slots).") \
	K(c, "backends", INT, "65536", "1..16777216", "65536",                                    \
	  "Backends over all services (and per-backend counter slots).")                          \
	K(c, "heap_mb", INT, "256", "1..65536", "256",                                            \
	  "Heap for snapshot objects (Maglev tables: 4 bytes per entry per service, twice while " \
	  "a table is being replaced), in MiB.")

#define SY_CONFIG_KEYS_API(K, c)                                                                 \
	K(c, "socket", PATH, "/run/switchyard/<instance>.sock", "absolute path, < 108 bytes",     \
	  "/run/switchyard/edge1.sock", "Unix socket of the API (mode 0660).")                    \
	K(c, "group", NAME, "not set", "[A-Za-z0-9_.-]{1,32}, not starting with '-'",             \
	  "switchyard", "Group owner of the socket: its members can run syctl.")                  \
	K(c, "tcp", HOSTPORT, "no TCP listener", "ADDRESS:PORT or \"[IPV6]:PORT\"; loopback "    \
	  "unless tcp_any",                                                                        \
	  "127.0.0.1:9180", "Optional TCP listener of the API (every request needs the bearer "   \
	  "token of token_file).")                                                                 \
	K(c, "tcp_any", BOOL, "false", "true/false", "false",                                     \
	  "Allow a non-loopback `tcp` address.")                                                  \
	K(c, "token_file", PATH, "required with tcp", "absolute path",                            \
	  "/etc/switchyard/api.token", "File holding the bearer token of the TCP listener.")

#define SY_CONFIG_KEYS_DEFAULTS(K, c)                                                            \
	K(c, "table_size", TABLE_SIZE, "65537", "a prime in 251..1048573", "65537",               \
	  "Maglev table size M. Larger M: closer to the weights and less disruption when "      \
	  "backends change, more memory (4 bytes per entry).")                                    \
	K(c, "hash_seed", INT, "0", "0..4294967295", "0x5eed",                                    \
	  "Flow-hash seed (decimal or 0x hex). Must be the same on every host of a fleet, so "  \
	  "that ECMP moving a flow between hosts keeps its backend.")                             \
	K(c, "encap_source4", ADDR, "not set", "IPv4 address, not 0.0.0.0", "198.18.0.1",         \
	  "Outer source address of ipip/gue packets to IPv4 backends.")                           \
	K(c, "encap_source6", ADDR, "not set", "IPv6 address, not ::", "2001:2::1",               \
	  "Outer source address of ipip/gue packets to IPv6 backends.")                           \
	K(c, "gue_port", INT, "6080", "1..65535", "6080",                                         \
	  "UDP destination port of GUE packets (the backends' sy-decap --gue-port or fou port).")

#define SY_CONFIG_KEYS_REGISTRY(K, c)                                                            \
	K(c, "embedded", MAP, "off", "", "", "sy-control's own registry.")                        \
	SY_REGISTRY_KINDS(SY_CONFIG_REGISTRY_KEY, K, c)

#define SY_CONFIG_KEYS_EMBEDDED(K, c)                                                            \
	K(c, "listen", HOSTPORT, "required", "ADDRESS:PORT or \"[IPV6]:PORT\"",                   \
	  "198.18.0.1:9181",                                                                       \
	  "HTTP listener where agents register (`POST /v1/register`). 0.0.0.0 listens on every " \
	  "address. An address no interface has yet (`sy0`'s, before sy-dataplane made it) is "   \
	  "bound anyway; `syctl status` says `waiting` until it appears.")                         \
	K(c, "allowed_prefixes", PREFIX_LIST, "required", "1 or more ADDRESS/LENGTH, host bits " \
	  "zero",                                                                                  \
	  "[198.18.0.0/24]",                                                                       \
	  "A registration is accepted only if both the connection's source and the registered " \
	  "address lie in one of these.")                                                          \
	K(c, "max_clock_skew_s", INT, "30", "1..3600", "30",                                      \
	  "Largest accepted difference between a registration's timestamp and sy-control's "    \
	  "clock; also the replay-cache window.")                                                 \
	K(c, "idle_timeout_s", INT, "5", "1..3600", "5",                                          \
	  "A connection to the listener idle this long is closed (a parked watch is not idle). " \
	  "Read at start.")                                                                        \
	K(c, "request_deadline_s", INT, "10", "1..3600", "10",                                    \
	  "A request not answered this long after its connection opened is closed, however "     \
	  "steadily its bytes trickle in (a parked watch's count starts at the end of its "       \
	  "wait). Read at start.")                                                                 \
	K(c, "read", MAP, "reads refused", "", "",                                                 \
	  "Who may list and watch services. See `registry.embedded.read`.")

#define SY_CONFIG_KEYS_READ(K, c)                                                                \
	K(c, "token_file", PATH, "required unless unauthenticated", "absolute path",             \
	  "/etc/switchyard/registry-read.token",                                                   \
	  "File holding the read token (at least 16 characters; trailing blanks trimmed): "      \
	  "readers send `Authorization: Bearer TOKEN`; none or another is refused (401). It "    \
	  "must differ from every registration key, which never grants reads.")                   \
	K(c, "unauthenticated", BOOL, "false", "true/false; not with token_file", "false",        \
	  "true: anyone who reaches the listener may read (no token_file).")                      \
	K(c, "services", NAME_LIST, "every service", "1 or more [A-Za-z0-9_.-]{1,63}", "[web]",  \
	  "Service-name prefixes the reader may read (`web` allows web, web-eu, webshop); a "    \
	  "read of another service is refused (403) and `GET /v1/services` leaves it out.")      \
	K(c, "allowed_prefixes", PREFIX_LIST, "any address", "1..64 ADDRESS/LENGTH, host bits zero", \
	  "[198.18.0.0/16]",                                                                       \
	  "Readers' addresses: a read from elsewhere is refused (403) before its token is "      \
	  "looked at. The registry's own allowed_prefixes concern registrations only.")           \
	K(c, "max_watchers", INT, "256", "1..4096",                                               \
	  "256",                                                                                   \
	  "Blocking watches parked at once (all services); one more is refused (503, "           \
	  "Retry-After). Each holds a connection: the listener's limits (1024, 32 per client "   \
	  "address) apply too.")

#define SY_CONFIG_KEYS_BGP(K, c)                                                                 \
	K(c, "daemon", ENUM, "none", "none, bird", "bird",                                        \
	  "bird: sy-control writes the VIPs to announce into include_file and has BIRD 2 "       \
	  "re-read its configuration through its control socket. none: no daemon is driven; "    \
	  "the decisions are still made and shown (syctl status, /metrics).")                    \
	K(c, "required", BOOL, "true", "true/false", "true",                                      \
	  "true: a BIRD that does not answer on socket, or does not read include_file, stops "  \
	  "the start (exit 1). false: sy-control starts anyway, shows `bgp unreachable` and "    \
	  "retries. Later outages are never fatal either way.")                                   \
	K(c, "socket", PATH, "/run/bird/bird.ctl", "absolute path, < 108 bytes",                 \
	  "/run/bird/bird.ctl", "BIRD's control socket (bird -s; birdc -s).")                   \
	K(c, "include_file", PATH, "/run/switchyard/bird-<instance>.conf", "absolute path",       \
	  "/run/switchyard/bird-edge1.conf",                                                       \
	  "The file sy-control writes (atomically) with one static route per announced VIP; "   \
	  "bird.conf includes it (deploy/bird/bird.conf.example).")                               \
	K(c, "protocol", STRING, "switchyard", "[A-Za-z_][A-Za-z0-9_]{0,29}", "switchyard",       \
	  "Names the static protocols of include_file: <protocol>4 (IPv4 VIPs) and "             \
	  "<protocol>6 (IPv6), which the BGP export filters name. Two instances on one host "    \
	  "need two names.")                                                                       \
	K(c, "announce_on_fail_static", BOOL, "true", "true/false", "true",                       \
	  "Keep announcing a VIP whose services serve only fail-static sets (registry "          \
	  "unreachable, panic): the last known backends still serve. false withdraws it.")       \
	K(c, "hold_down_s", INT, "5", "0..3600", "5",                                             \
	  "After a failure (dataplane not running, no usable backend) a VIP is announced again " \
	  "only once the failure has been over this long; 0 announces at once.")                 \
	K(c, "hold_down_max_s", INT, "120", "0..86400", "120",                                    \
	  "Each further failure (a flap) doubles the hold-down, up to this; at least "           \
	  "hold_down_s.")                                                                           \
	K(c, "stable_s", INT, "120", "1..86400", "120",                                           \
	  "No failure for this long after a hold-down: the flaps are forgotten, the next "       \
	  "hold-down is hold_down_s again.")

#define SY_CONFIG_KEYS_SERVICE(K, c)                                                             \
	K(c, "name", NAME, "required", "[A-Za-z0-9_.-]{1,63}, unique", "web",                     \
	  "Service name (syctl, API, registry keys, metrics labels).")                            \
	K(c, "vip", ADDR, "required", "IPv4 or IPv6 address, not unspecified", "198.18.1.1",      \
	  "The virtual IP.")                                                                       \
	K(c, "port", VIP_PORT, "required", "1..65535 or all", "80",                               \
	  "VIP port; `all`: every port of the VIP and protocol not taken by another service "    \
	  "(also the VIP's fragment service).")                                                   \
	K(c, "protocol", ENUM, "required", "tcp, udp", "tcp",                                     \
	  "(vip, port, protocol) is unique over all services.")                                   \
	K(c, "mode", ENUM, "required", "ipip, gue, l2dsr", "ipip",                                \
	  "How packets reach backends: IP-in-IP, GUE (UDP), or destination-MAC rewrite on the "  \
	  "same L2 (l2dsr: backends of the VIP's family).")                                       \
	K(c, "table_size", TABLE_SIZE, "defaults.table_size", "a prime in 251..1048573", "65537",  \
	  "Maglev table size M of this service.")                                                 \
	K(c, "hash_seed", INT, "defaults.hash_seed", "0..4294967295", "0x5eed",                   \
	  "Flow-hash seed of this service.")                                                      \
	K(c, "hash", ENUM, "5-tuple", "5-tuple, 3-tuple, source-ip, source-ip-port", "5-tuple",   \
	  "What of a flow chooses a new flow's backend: all of it; addresses and protocol (a "   \
	  "client's connections together); the client's address (session affinity, IPVS -p); "  \
	  "the client's address and port. Both dataplanes and syctl lookup.")                     \
	K(c, "scheduler", ENUM, "maglev", "maglev, round-robin, least-connections", "maglev",     \
	  "How a new flow gets its backend: Maglev on the hash (every host of a fleet agrees, "   \
	  "a flow that ECMP moves to another host keeps its backend); round-robin, weighted, per " \
	  "lcore (even spread on a single host; a flow moved to another host, or evicted from "   \
	  "the connection table, may change backend); least-connections, weighted: the fewest "  \
	  "active connections per weight, counted from the connection tables (docs/dataplane.md), " \
	  "with round-robin's trade-off.")                                                        \
	K(c, "quic", BOOL, "false", "true/false; udp services only", "false",                     \
	  "QUIC connection-ID routing: short-header packets go to the backend registered with "  \
	  "the server ID in their destination connection ID (Katran's encoding, versions 1 and " \
	  "2; docs/dataplane.md), so a client that changes address or port keeps its backend; "  \
	  "long headers and unknown IDs go by the hash (quic_cid_unknown).")                      \
	K(c, "encap_source4", ADDR, "defaults.encap_source4", "IPv4 address, not 0.0.0.0",        \
	  "198.18.0.1", "Outer IPv4 source (ipip/gue need the one of each backend's family).")   \
	K(c, "encap_source6", ADDR, "defaults.encap_source6", "IPv6 address, not ::",             \
	  "2001:2::1", "Outer IPv6 source.")                                                      \
	K(c, "gue_port", INT, "defaults.gue_port", "1..65535", "6080",                            \
	  "GUE destination port of this service.")                                                \
	K(c, "next_hop_mac", MAC, "not set", "unicast, not zero", "02:00:00:00:00:fe",            \
	  "One next hop for every backend (a router). Else each backend's `mac`, else the "      \
	  "kernel's neighbour table (seen through the exception interface).")                     \
	K(c, "source", ENUM, "required", "static, embedded" SY_REGISTRY_KINDS(SY_REGISTRY_COMMA_NAME, ~, ~),\
	  "embedded",                                                                              \
	  "Where the backends come from; embedded and the registries need that `registry` "      \
	  "section.")                                                                              \
	K(c, "key_file", PATH, "required with source embedded", "absolute path; embedded only",   \
	  "/etc/switchyard/web.key",                                                               \
	  "HMAC-SHA256 key (hex or raw bytes) that registrations of this service are signed "    \
	  "with; the agents use the same file.")                                                  \
	K(c, "backends", MAP_LIST, "none", "no duplicate address and port", "",                   \
	  "Configured backends (static: the set; other sources: the initial set).")             \
	K(c, "max_backends", INT, "an equal share of limits.backends", "1..16777216", "1000",     \
	  "At most this many backends, from every source together: a registration or `syctl "   \
	  "add` over it is refused (507), a registry entry over it ignored and counted. The "    \
	  "services' caps together must fit the region's backends; services without one share " \
	  "what is left equally.")                                                                 \
	K(c, "health", MAP, "see health", "", "", "Health policy of this service.")

#define SY_CONFIG_KEYS_BACKEND(K, c)                                                             \
	K(c, "address", ADDR, "required",                                                        \
	  "IPv4 or IPv6 unicast: not unspecified, loopback, multicast or broadcast", "198.18.0.11", \
	  "Backend address. The same rule holds for backends from the API and the registries.")  \
	K(c, "port", INT, "the VIP's port (0 for all)", "1..65535 (0 in an all-ports service)", "80", \
	  "With the address, the backend's identity; the port health checks connect to. "       \
	  "Packets are not rewritten: the backend serves the VIP's port.")                        \
	K(c, "weight", INT, "1", "0..65535", "1",                                                 \
	  "Share of the Maglev table; 0 = draining (no new flows, tracked flows stay).")        \
	K(c, "mac", MAC, "service next_hop_mac, else neighbour table", "unicast, not zero",       \
	  "02:00:00:00:00:11", "Next-hop MAC of this backend.")                                   \
	K(c, "zone", NAME, "not set", "[A-Za-z0-9_.-]{1,31}", "a", "Free-form zone label.")      \
	K(c, "server_id", INT, "not set", "1..16777215 (0xffffff); unique in its service", "0x123", \
	  "QUIC server ID this backend writes into its connection IDs (services with `quic: "    \
	  "true`; version-1 CIDs carry IDs up to 0xffff). Registrations give it as `server_id`.")

#define SY_CONFIG_KEYS_HEALTH(K, c)                                                              \
	K(c, "default_ttl_s", INT, "5", "1..86400", "5",                                          \
	  "Embedded registry: TTL of a registration whose agent sends none.")                     \
	K(c, "check", MAP, "no active check", "", "", "Active health check.")                     \
	K(c, "hold_down_s", INT, "5", "0..86400", "5",                                            \
	  "Flap damping: a backend that left stays out at least this long.")                      \
	K(c, "panic_threshold", FRACTION, "0.5", "0..1", "0.5",                                   \
	  "If more than this share of the set is lost (heartbeats stopped, checks failed, "      \
	  "registry entries vanished; not deregistrations or `syctl remove`) within "            \
	  "panic_window_s, the last good set keeps serving until the losses are confirmed "      \
	  "(fail-static, `syctl status` and `switchyard_service_degraded` show it). 0 turns "    \
	  "this off (an unreachable registry still keeps the last set).")                        \
	K(c, "panic_window_s", INT, "10", "1..86400", "10",                                      \
	  "How long a loss stays unconfirmed: losses within it count together, and a panic "     \
	  "keeps the lost backends this long (re-examined as each loss is confirmed).")

#define SY_CONFIG_KEYS_CHECK(K, c)                                                               \
	K(c, "type", ENUM, "required", "none, tcp, http, https, udp", "http",                     \
	  "tcp: a connect; http, https: GET path, expecting status expect (https: the "          \
	  "certificate is not verified); udp: the datagram send, answered by one starting with " \
	  "receive. The backend needs a port. Checks run in parallel.")                           \
	K(c, "interval_ms", INT, "1000", "10..3600000", "1000", "Between checks.")                \
	K(c, "timeout_ms", INT, "500", "1..3600000", "500", "Per check; at most interval_ms.")    \
	K(c, "rise", INT, "2", "1..100", "2", "Successes that bring a backend up.")               \
	K(c, "fall", INT, "3", "1..100", "3", "Failures that take it down.")                      \
	K(c, "path", STRING, "/", "'/' then printable ASCII, no spaces, <= 1024 bytes", "/healthz", \
	  "URL path (http, https).")                                                               \
	K(c, "expect", INT, "200", "100..599", "200", "Expected status (http, https).")          \
	K(c, "send", STRING, "\"\"", "printable ASCII, <= 512 bytes", SY_CONFIG_NO_EXAMPLE,      \
	  "The datagram (udp only).")                                                              \
	K(c, "receive", STRING, "\"\" (any answer)", "printable ASCII, <= 512 bytes",               \
	  SY_CONFIG_NO_EXAMPLE, "What the answer starts with (udp only).")                         \
	K(c, "through", ENUM, "direct", "direct, tunnel", "direct",                               \
	  "tunnel (tcp, ipip and gue services, IPv4 or IPv6): a SYN to the VIP encapsulated like traffic, " \
	  "answered by a SYN-ACK from the VIP: proves the backend's decapsulation and VIP.")

/* A key's value type. */
enum sy_config_type {
	SY_CT_STRING,
	SY_CT_NAME,
	SY_CT_PATH,
	SY_CT_INT,
	SY_CT_BOOL,
	SY_CT_FRACTION,
	SY_CT_ENUM,
	SY_CT_ADDR,
	SY_CT_HOSTPORT,
	SY_CT_VIP_PORT,
	SY_CT_TABLE_SIZE,
	SY_CT_MAC,
	SY_CT_PREFIX_LIST,
	SY_CT_URL_LIST,
	SY_CT_NAME_LIST,
	SY_CT_MAP,
	SY_CT_MAP_LIST,
};

/* For config.c: SY_CONFIG_KEYS_X(SY_CONFIG_KEY_NAME, ~) lists a section's keys. */
#define SY_CONFIG_KEY_NAME(c, key, ...) key,

/* The schema as data (config_schema.c), for the generator and the tests. */
struct sy_config_section_doc {
	const char *path;
	const char *description;
};

struct sy_config_key_doc {
	const char *section; /* the section's path */
	const char *key;
	enum sy_config_type type;
	const char *def, *range, *example, *description;
};

extern const struct sy_config_section_doc sy_config_sections[];
extern const size_t sy_config_n_sections;
extern const struct sy_config_key_doc sy_config_keys[];
extern const size_t sy_config_n_keys;

/* Name of a type for the reference ("integer", "path", ...). */
const char *sy_config_type_name(enum sy_config_type t);

/* The path of the section a MAP or MAP_LIST key opens (static buffer). */
const char *sy_config_child_section(const struct sy_config_key_doc *k);

/* Changes to the example configuration (all fields may be NULL). */
struct sy_config_example_edit {
	const char *section, *key; /* this key ... */
	const char *value;         /* ... gets this YAML text instead of its example */
	const char *extra_section; /* this section gets one more line: */
	const char *extra_key, *extra_value;
};

/* Writes a configuration in which every key of the schema is set to its
 * example (one item in every sequence of mappings), as block YAML. */
void sy_config_example_yaml(FILE *out, const struct sy_config_example_edit *edit);

#endif
