/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-control's state. One mutex guards it all: the HTTP threads (API and
 * embedded registry), the health-check thread and the main loop take it for
 * short, bounded sections. Publishing holds it to capture the changed sets
 * and to commit, not while the Maglev tables are built (publish.c), so a
 * rebuild of a large service does not hold up heartbeats or the API.
 */
#ifndef SY_CONTROL_DAEMON_H
#define SY_CONTROL_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <switchyard/ct_guard.h>
#include <switchyard/region_writer.h>

#include "auth.h"
#include "backends.h"
#include "config.h"
#include "dp_health.h"
#include "registry_read.h"

#define SY_LATENCY_BUCKETS 16

/* Counts per bucket of sy_latency_bounds_ms (the last: above them all). */
struct sy_ms_histogram {
	uint64_t count[SY_LATENCY_BUCKETS + 1];
	double sum_ms;
};

/* A condition that lasts (a service at its backend cap, a service that
 * cannot be published) is logged when it starts, then at most once per
 * period while it lasts, with how often it recurred meanwhile, and when it
 * ends: a bounded number of lines however often it recurs. */
struct sy_log_episode {
	uint64_t start_ms;   /* 0: not on */
	uint64_t logged_ms;  /* its last line */
	uint64_t last_ms;    /* its last occurrence */
	uint64_t n, n_logged; /* occurrences, and how many when last logged */
};

/* Publishing one service (publish.c): a staging or commit of it that fails
 * leaves the others publishing; it is tried again after a back-off. */
struct sy_publish_failure {
	char error[256];     /* the latest failure, "" while it publishes */
	uint64_t since_ms;   /* first failure of this run */
	uint64_t retry_ms;   /* not tried again before */
	uint32_t attempts;   /* failures in a row */
	uint64_t total;      /* failures ever (/metrics) */
	struct sy_log_episode log;
};

struct sy_service_state {
	char name[SY_NAME_MAX];
	size_t cfg_index;            /* into d->cfg->services */
	struct sy_svc_backends b;
	uint8_t key[64];             /* embedded registrations' HMAC key */
	size_t key_len;
	uint64_t digest;
	uint64_t published_gen;
	uint64_t last_event_us;      /* oldest unpublished change, 0 = none */
	uint64_t rejected;           /* registrations refused */
	/* backend cap (state.c sy_source_admit; docs/control.md, "Backend caps") */
	uint32_t cap;                /* services[].max_backends or its share */
	bool cap_explicit;           /* set by max_backends, not a share */
	uint32_t kept_unknown;       /* fail-static members no longer known, at the last publish */
	uint64_t over_capacity;      /* new backends refused at the cap */
	uint64_t checks[2];          /* active checks ended: [0] failed, [1] passed */
	uint64_t checks_unsent;      /* active checks that could not leave this host,
				      * or not while the dataplane did not run */
	struct sy_log_episode cap_log;
	struct sy_publish_failure pub;
	/* what readers of the embedded registry see (registry_watch.c) */
	struct sy_revision rev;
};

/* A log line that anyone on the network can trigger at will (a refused
 * registration) is rate-limited, so that a flood cannot fill the disk or
 * drown the journal; the metrics still count every event. */
struct sy_log_limit {
	uint64_t second; /* CLOCK_MONOTONIC second of `lines` */
	uint32_t lines;  /* logged in that second */
	uint64_t held;   /* not logged since the last summary */
};

struct sy_daemon {
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* something changed: publish now */
	char config_path[4096];
	struct sy_config *cfg;
	struct sy_writer *writer;
	struct sy_service_state *svc;
	size_t n_svc;
	struct sy_nonce_cache nonces;
	volatile bool quit;
	volatile bool reload_requested;
	uint64_t config_gen; /* configurations applied (start, reloads) */
	uint64_t marks;      /* changes signalled on `wake` (sy_daemon_mark, reloads) */
	bool adopted;                /* the region existed: adopted, not created */
	bool created_region;         /* this process created it (a failed start removes it) */
	/* the region's file (region_recover.c): SY_REGION_FILE_*, last check,
	 * re-creations after a removal, the process it was recovered from at
	 * start-up (0: none) */
	int region_file_state;
	uint64_t region_checked_ms, region_recreated;
	int32_t region_recovered_from;
	/* state_file.c: saved services not configured now, captures so far */
	struct json_t *state_dormant;
	unsigned long long state_seq;
	uint64_t started_ms;
	/* histograms over sy_latency_bounds_ms: publish latency (event ->
	 * committed) and the time one publish spends building its tables */
	struct sy_ms_histogram latency, build;
	uint64_t publishes, publish_errors, reg_accepted, reg_rejected;
	struct sy_log_limit refused_log; /* "registration refused" lines */
	struct sy_log_limit expired_log; /* "backend expired" lines */
	/* the health thread's "not sent" lines for the dataplane (one cause
	 * for every backend: a pause of a host with thousands of backends is
	 * a few lines, not thousands) and its "sent again" lines */
	struct sy_log_limit unsent_log, resent_log;
	/* its "backend down" and "backend up" lines (a rack going dark or
	 * coming back: one line a backend, like "backend expired") */
	struct sy_log_limit down_log, up_log;
	struct sy_log_limit publish_log; /* a commit of removals alone failed */
	struct sy_log_limit mac_wait_log; /* "waiting for next-hop MACs" (publisher only) */
	/* new backends refused at their service's cap, per enum sy_be_source */
	uint64_t over_capacity[SY_SRC_END];
	/* registry keys/values that did not parse, per enum sy_config_source */
	uint64_t registry_invalid[SY_SOURCE_END];
	char last_error[256];
	/* reads and watches of the embedded registry (registry_watch.c) */
	struct sy_read_stats read_stats;
	struct sy_registry_watch *watch;
	/* listeners (struct MHD_Daemon *) */
	void *api_unix, *api_tcp, *registry_http;
	char api_token[256];
	const char *version;
	/* dataplane: "dpdk" (sy-dataplane reads the region), "xdp" (we load
	 * the XDP program, xdp.c) or "auto" until decided */
	char dp_mode[8];
	char xdp_iface[64], xdp_redirect[64];
	char xdp_bpffs[200];              /* pin root; "" = /sys/fs/bpf */
	bool xdp_generic, xdp_stay;
	unsigned dpdk_wait_s;
	uint32_t xdp_ct_flows;
	uint32_t xdp_icmp_rate, xdp_icmp_burst; /* 0: the defaults */
	struct sy_ct_guard xdp_ct_guard; /* the XDP program's new-flow guard */
	struct sy_xdp *xdp;
	struct sy_dp_health dp_health;    /* sampled every tick (dp_health.c) */
	struct sy_reader xdp_reader;      /* claims the stats block below */
	struct sy_lcore_stats *xdp_stats; /* region block holding XDP counters */
	uint64_t xdp_tick_ms;
	/* syncs of the XDP maps failed in a row (0 after one takes); while
	 * any did, the maps are behind the region (sy_daemon_xdp_behind) and
	 * are tried again at xdp_retry_ms (sy_daemon_xdp_refresh), after a
	 * back-off that doubles while they keep failing (xdp.c) */
	uint32_t xdp_failed_syncs;
	uint64_t xdp_retry_ms;
	char run_as[64];                  /* --user: drop to this user */
	/* announcing the VIPs (bgp.c); the operator's drain of the host, kept
	 * in the state file (wall-clock seconds since it was drained) */
	struct sy_bgp *bgp;
	bool drained;
	int64_t drained_since;
};

/* The XDP program's maps lag the published tables: their last sync failed. */
static inline bool sy_daemon_xdp_behind(const struct sy_daemon *d)
{
	return d->xdp_failed_syncs > 0;
}

extern const double sy_latency_bounds_ms[SY_LATENCY_BUCKETS];
void sy_ms_histogram_add(struct sy_ms_histogram *h, double ms);

uint64_t sy_now_ms(void);
uint64_t sy_now_us(void);
void sy_logf(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True if one more `what` line may be logged this second (at most per_s);
 * the lines held back are counted and their number logged once a later
 * second opens. */
bool sy_log_limit_pass(struct sy_log_limit *l, uint32_t per_s, const char *what);
/* The summary of the lines held back in an earlier second, if any: for a
 * caller whose lines come in bursts (the summary then comes within a
 * second, not at the next burst). */
void sy_log_limit_flush(struct sy_log_limit *l, uint32_t per_s, const char *what);
/* One more occurrence of an episode's condition at now_ms: SY_EPISODE_START
 * for the first (also the first after period_ms without any: it had ended
 * unseen), SY_EPISODE_SUMMARY once period_ms have passed since its last
 * line, else SY_EPISODE_QUIET. *held: occurrences since the last line. */
enum sy_episode_line { SY_EPISODE_QUIET, SY_EPISODE_START, SY_EPISODE_SUMMARY };
enum sy_episode_line sy_log_episode_hit(struct sy_log_episode *e, uint64_t now_ms,
					uint64_t period_ms, uint64_t *held);
/* The condition ended: true (and *n, its occurrences) if it was on. */
bool sy_log_episode_end(struct sy_log_episode *e, uint64_t *n);
/* Backends a service counts against its cap (sy_source_admit). */
uint32_t sy_service_counted(const struct sy_service_state *s);

/* state.c: build the service list from a config (initial or reload). */
int sy_daemon_apply_config(struct sy_daemon *d, struct sy_config *cfg, char *err, size_t errlen);
struct sy_service_state *sy_daemon_service(struct sy_daemon *d, const char *name);
void sy_daemon_mark(struct sy_daemon *d, struct sy_service_state *s);

/* publish.c: publish every dirty service. The caller holds the lock; it is
 * released while the tables are built, so the state may change meanwhile. */
int sy_daemon_publish(struct sy_daemon *d);

/* neigh.c: next-hop MAC of a backend from the kernel's neighbour table
 * (and a nudge so the kernel resolves it). */
bool sy_neigh_lookup(const struct sy_backend_id *id, uint8_t mac[6]);

/* api.c */
int sy_api_start(struct sy_daemon *d, char *err, size_t errlen);
void sy_api_stop(struct sy_daemon *d);

/* xdp.c: the XDP dataplane (no-ops unless --dataplane xdp or auto chose it) */
struct sy_xdp;
struct sy_bgp;
int sy_daemon_xdp_start(struct sy_daemon *d, char *err, size_t errlen);
void sy_daemon_xdp_sync(struct sy_daemon *d);          /* after each commit */
/* a failed sync tried again when due, grace-period deletions
 * (rate-limited); with export, the program's counters into the region's
 * stats block too (callers about to read it). d->lock held. */
void sy_daemon_xdp_refresh(struct sy_daemon *d, bool export);
int sy_daemon_xdp_lookup(struct sy_daemon *d, const struct sy_service *s,
			 const struct sy_flow_key *k, char *ep, size_t eplen, char *why,
			 size_t whylen);
void sy_daemon_xdp_stop(struct sy_daemon *d);
/* the region was re-created (region_recover.c): its counters block moved */
void sy_daemon_xdp_region_moved(struct sy_daemon *d);
int sy_xdp_detach_instance(const char *bpffs, const char *instance, char *err, size_t errlen);
int sy_daemon_xdp_chown(struct sy_daemon *d, unsigned uid, unsigned gid, char *err, size_t errlen);

/* privdrop.c: become d->run_as keeping only the capabilities still needed
 * (no-op without --user). Before any thread starts. */
int sy_daemon_drop_privileges(struct sy_daemon *d, char *err, size_t errlen);

/* health.c */
int sy_health_start(struct sy_daemon *d);
void sy_health_stop(struct sy_daemon *d);

#endif
