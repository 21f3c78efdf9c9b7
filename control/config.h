/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-control's configuration file (docs/control.md, "Configuration (YAML)"):
 * parsed with libyaml into plain C structs and validated in full. Parsing and
 * validation only: turning a service into a struct sy_service_spec, learning
 * backends and health are other modules' business.
 *
 * Conventions:
 *  - Addresses are in wire order (IPv4 in addr[0], other words 0), family is
 *    SY_AF_INET or SY_AF_INET6 (switchyard/flow_hash.h).
 *  - VIP ports and GUE ports are in network byte order (as in the region);
 *    backend and listener ports are in host byte order (as in sy_backend_id).
 *  - Every default of the schema is already applied: a service's table_size,
 *    hash_seed, encap sources and gue_port hold the service's own value or the
 *    one inherited from `defaults`; paths default from the instance name.
 *  - `line` fields are the 1-based line of the item in the file, for
 *    messages of later stages.
 */
#ifndef SWITCHYARD_CONTROL_CONFIG_H
#define SWITCHYARD_CONTROL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/region.h>

#include "registry_kinds.h"

#define SY_CONFIG_INSTANCE_MAX 32 /* [a-z0-9-]{1,31} + NUL */
#define SY_CONFIG_INSTANCE_RULE "[a-z0-9-], 1..31 characters"
#define SY_CONFIG_ZONE_MAX 32     /* [A-Za-z0-9_.-]{1,31} + NUL */
#define SY_CONFIG_GROUP_MAX 33    /* [A-Za-z0-9_.-]{1,32} + NUL, no leading '-' */

/* Defaults when neither the service nor `defaults` sets a value. */
#define SY_CONFIG_DEFAULT_TABLE_SIZE SY_MAGLEV_DEFAULT_M
#define SY_CONFIG_DEFAULT_HASH_SEED 0u
#define SY_CONFIG_DEFAULT_GUE_PORT 6080u
#define SY_CONFIG_DEFAULT_CLOCK_SKEW_S 30u
#define SY_CONFIG_DEFAULT_REG_IDLE_TIMEOUT_S 5u
#define SY_CONFIG_DEFAULT_REG_REQUEST_DEADLINE_S 10u

#define SY_CONFIG_SOURCE_ENUM(ID, name, req, dir, sdesc, kdesc, a, b) SY_SOURCE_##ID,
enum sy_config_source {
	SY_SOURCE_STATIC = 1,
	SY_SOURCE_EMBEDDED = 2,
	/* the registries (registry_kinds.h): SY_SOURCE_ETCD, SY_SOURCE_ZOOKEEPER, ... */
	SY_SOURCE_REGISTRY_FIRST,
	SY_SOURCE_REGISTRY_BEFORE_FIRST = SY_SOURCE_REGISTRY_FIRST - 1,
	SY_REGISTRY_KINDS(SY_CONFIG_SOURCE_ENUM, ~, ~)
	SY_SOURCE_END /* one past the last */
};
#undef SY_CONFIG_SOURCE_ENUM

enum sy_check_type {
	SY_CHECK_NONE = 0,
	SY_CHECK_TCP = 1,
	SY_CHECK_HTTP = 2,
	SY_CHECK_HTTPS = 3,  /* HTTP over TLS; the certificate is not verified */
	SY_CHECK_UDP = 4,    /* a datagram sent, an answer expected */
};

/* A check type's name in the configuration ("tcp", ...). */
const char *sy_check_type_name(enum sy_check_type t);

struct sy_config_prefix {
	uint8_t family;
	uint8_t prefix_len; /* 0..32 or 0..128; host bits are zero */
	uint32_t addr[4];   /* wire order */
};

struct sy_config_backend {
	uint8_t family;
	uint16_t port;      /* host order; default: the VIP's port (0 for "all") */
	uint32_t addr[4];   /* wire order */
	uint32_t weight;    /* 0..65535, default 1; 0 = draining */
	uint8_t mac[6];
	bool has_mac;
	char zone[SY_CONFIG_ZONE_MAX]; /* "" when not set */
	uint32_t server_id; /* QUIC server ID, 0 = not set */
	unsigned line;
};

struct sy_config_check {
	enum sy_check_type type; /* default SY_CHECK_NONE (no `check`) */
	uint32_t interval_ms;    /* default 1000 */
	uint32_t timeout_ms;     /* default 500; <= interval_ms */
	uint32_t rise;           /* default 2 */
	uint32_t fall;           /* default 3 */
	char *path;              /* http(s): default "/"; NULL otherwise */
	uint16_t expect;         /* http(s): default 200; 0 otherwise */
	char *send;              /* udp: the datagram, default ""; NULL otherwise */
	char *receive;           /* udp: what the answer starts with, default ""
				  * (any answer); NULL otherwise */
	bool through_tunnel;     /* `through: tunnel`: encapsulated to the VIP
				  * (health_tunnel.c); default direct */
};

struct sy_config_health {
	uint32_t default_ttl_s;  /* default 5 */
	struct sy_config_check check;
	uint32_t hold_down_s;    /* default 5 */
	double panic_threshold;  /* 0..1, default 0.5 */
	uint32_t panic_window_s; /* default 10 */
};

struct sy_config_service {
	char name[SY_NAME_MAX];   /* [A-Za-z0-9_.-]{1,63} */
	struct sy_vip_key vip;    /* port 0 = "all", network order; proto 6/17 */
	enum sy_fwd_mode mode;
	uint32_t table_size;      /* prime, SY_MAGLEV_MIN_M..SY_MAGLEV_MAX_M */
	uint32_t hash_seed;
	uint8_t hash_fields;      /* `hash`: enum sy_hash_fields, default 5-tuple */
	bool round_robin;         /* `scheduler: round-robin` (default maglev) */
	bool least_conns;         /* `scheduler: least-connections` */
	bool quic;                /* `quic: true`: QUIC connection-ID routing (udp) */
	uint32_t encap_source4;   /* wire order; 0 = none */
	uint32_t encap_source6[4];/* wire order; all 0 = none */
	uint16_t gue_port;        /* network order */
	uint8_t next_hop_mac[6];
	bool has_next_hop_mac;
	enum sy_config_source source;
	char *key_file;           /* embedded only (required there); else NULL */
	struct sy_config_backend *backends;
	size_t n_backends;
	uint32_t max_backends;    /* 0 = not set: an equal share (sy_config_caps) */
	struct sy_config_health health;
	unsigned line;
};

struct sy_config_api {
	char *socket;      /* default /run/switchyard/<instance>.sock */
	char *group;       /* NULL: not set */
	char *tcp_host;    /* address text of `tcp`; NULL: no TCP listener */
	uint8_t tcp_family;
	uint32_t tcp_addr[4];
	uint16_t tcp_port; /* host order */
	bool tcp_any;
	char *token_file;  /* required when tcp is set; else may be NULL */
};

struct sy_config_defaults {
	uint32_t table_size;
	uint32_t hash_seed;
	uint32_t encap_source4;    /* wire order; 0 = none */
	uint32_t encap_source6[4]; /* wire order; all 0 = none */
	uint16_t gue_port;         /* network order */
};

/* registry.embedded.read: who may list and watch (registry_read.h). */
#define SY_CONFIG_READ_MAX_SERVICES 64
#define SY_CONFIG_DEFAULT_MAX_WATCHERS 256u
struct sy_config_read {
	bool enabled;            /* the section is present; else reads are refused */
	char *token_file;        /* NULL only with unauthenticated */
	struct sy_config_prefix *allowed_prefixes; /* reader addresses; NULL/0: any */
	size_t n_allowed_prefixes;
	bool unauthenticated;
	char (*services)[SY_NAME_MAX]; /* name prefixes; NULL/0: every service */
	size_t n_services;
	uint32_t max_watchers;   /* default SY_CONFIG_DEFAULT_MAX_WATCHERS */
};

struct sy_config_embedded {
	bool enabled;        /* registry.embedded is present */
	char *listen_host;   /* address text */
	uint8_t listen_family;
	uint32_t listen_addr[4];
	uint16_t listen_port; /* host order */
	struct sy_config_prefix *allowed_prefixes;
	size_t n_allowed_prefixes; /* >= 1 when enabled */
	uint32_t max_clock_skew_s; /* default 30 */
	uint32_t idle_timeout_s;     /* default 5: a connection idle this long is closed */
	uint32_t request_deadline_s; /* default 10: a request not answered by then is closed */
	struct sy_config_read read;
};

#define SY_CONFIG_MAX_ENDPOINTS 16

/* registry.<name>, one per registry kind (registry_kinds.h): what any of
 * their sections may hold; a kind's keys say which it takes (the others
 * stay NULL or 0). */
struct sy_config_registry {
	bool enabled;
	/* the servers key: each URL of a URL_LIST (etcd's endpoints,
	 * "http://127.0.0.1:2379" or https://), or a STRING as it is
	 * (ZooKeeper's "127.0.0.1:2181,127.0.0.1:2182") */
	char *servers[SY_CONFIG_MAX_ENDPOINTS];
	size_t n_servers;        /* >= 1 when enabled */
	char *prefix;            /* the key's default if not set */
	char *ca_file;           /* TLS: verify the server with this CA; NULL = system */
	char *cert_file;         /* TLS client certificate and key (both or neither) */
	char *key_file;
	char *username;          /* auth: both or neither */
	char *password_file;
	uint32_t timeout_ms;     /* per request */
	uint32_t session_timeout_ms;
};

enum sy_bgp_daemon {
	SY_BGP_NONE = 0,
	SY_BGP_BIRD = 1,
};

#define SY_BGP_PROTOCOL_MAX 32 /* [A-Za-z_][A-Za-z0-9_]{0,29}, its 4 or 6, NUL */

/* bgp: announcing the VIPs (announce.h, bgp.c). */
struct sy_config_bgp {
	enum sy_bgp_daemon daemon;   /* default none */
	bool required;               /* default true */
	char *socket;                /* default /run/bird/bird.ctl */
	char *include_file;          /* default /run/switchyard/bird-<instance>.conf */
	char protocol[SY_BGP_PROTOCOL_MAX]; /* default "switchyard" */
	bool announce_on_fail_static;/* default true */
	uint32_t hold_down_s;        /* default 5 */
	uint32_t hold_down_max_s;    /* default 120; >= hold_down_s */
	uint32_t stable_s;           /* default 120 */
};

struct sy_config {
	char *path;        /* the file this came from */
	char instance[SY_CONFIG_INSTANCE_MAX];
	char *region;      /* default /dev/shm/switchyard-<instance> */
	char *state_file;  /* default /var/lib/switchyard/<instance>.state */
	struct sy_region_limits limits; /* default SY_REGION_DEFAULT_LIMITS */
	struct sy_config_api api;
	struct sy_config_defaults defaults;
	struct {
		struct sy_config_embedded embedded;
		struct sy_config_registry kind[SY_REGISTRY_N]; /* [SY_REGISTRY_ETCD], ... */
	} registry;
	struct sy_config_service *services; /* in file order */
	size_t n_services;
	struct sy_config_bgp bgp;
};

/* Parse and validate the file at path. Returns 0 and a new configuration in
 * *out, or -1 with one message "FILE:LINE: FIELD.PATH: what is wrong" in err
 * (errors that concern no field, like a YAML syntax error or an unreadable
 * file, have no FIELD.PATH; an unreadable file has no LINE). */
int sy_config_load(const char *path, struct sy_config **out, char *err,
		   size_t errlen);

/* The same from len bytes in memory (no NUL needed): path only names them in
 * messages and becomes the configuration's path. Used by the fuzzer. */
int sy_config_load_buffer(const char *path, const void *data, size_t len,
			  struct sy_config **out, char *err, size_t errlen);

/* Free a configuration (NULL is fine). */
void sy_config_free(struct sy_config *c);

/* A forwarding mode as the configuration writes it ("ipip", "gue",
 * "l2dsr"); "?" for anything else. */
const char *sy_fwd_mode_name(unsigned mode);
/* An instance name: [a-z0-9-]{1,31}. It names files (the region, the API
 * socket, BPF pins), so the configuration and syctl --instance share it. */
bool sy_config_instance_ok(const char *name);
/* The mode (enum sy_fwd_mode) the configuration names so, 0 if none. */
unsigned sy_fwd_mode_parse(const char *name);

#endif
