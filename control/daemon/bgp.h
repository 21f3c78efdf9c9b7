/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-control's announcer (docs/control.md, "Announcing the VIPs"): on every
 * tick of the main loop it takes what holds for each VIP (the dataplane's
 * state, its services' published sets, the host's drain, a stop) to
 * announce.c's decision, and when the set of announced VIPs changes hands
 * the include file's text to a thread of its own that writes it and has
 * BIRD re-read it (bgp_bird.c): BIRD's I/O never holds the daemon lock.
 * The thread retries while BIRD is away (1, 2, 4, then every 5 s) and
 * checks it every 5 s while it answers; its state shows in status and
 * /metrics.
 *
 * Start: the decision is written before the API and the registries start
 * (a BIRD restarted later reads it), and BIRD must answer and read the
 * file unless bgp.required is false. Stop: every VIP is withdrawn and BIRD
 * told before sy-control exits; a failed start does the same.
 */
#ifndef SY_CONTROL_BGP_H
#define SY_CONTROL_BGP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "announce.h"
#include "bgp_bird.h"
#include "config.h"

struct sy_daemon;
struct json_t;

struct sy_bgp_vip {
	struct sy_vip_announce a;
	char services[256];      /* "web, web-tls" */
	uint32_t n_services;
};

/* What the driver thread last saw of the daemon (under mu). */
struct sy_bgp_daemon_state {
	bool known;                  /* asked at least once */
	enum sy_bird_result result;
	char msg[512];               /* the error, or BIRD's last answer */
	char version[64];            /* BIRD's greeting */
	uint64_t since_ms;           /* result unchanged since */
	uint64_t configures, errors; /* reconfigurations done, failed attempts */
};

struct sy_bgp {
	/* the decision (d->lock) */
	struct sy_announce_policy policy;
	struct sy_bgp_vip *vips;
	size_t n_vips;
	uint64_t cfg_gen;            /* the configuration the VIPs come from */
	bool stopping;
	char *text;                  /* the include file's text of the decision */
	/* fixed at start (a reload cannot change them) */
	enum sy_bgp_daemon daemon;
	bool required;
	char sock_path[108], include_file[4096], protocol[SY_BGP_PROTOCOL_MAX];
	char instance[SY_CONFIG_INSTANCE_MAX];
	/* the driver thread */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;                   /* mu */
	char *want;                  /* mu: the text to apply */
	uint64_t want_gen, applied_gen; /* mu */
	struct sy_bgp_daemon_state st;  /* mu */
};

/* Build the announcer, decide, write the decision and (bgp.daemon bird)
 * configure BIRD; a BIRD that cannot be configured is an error (-1, err)
 * when bgp.required, else a warning. Then starts the driver thread. After
 * the region, the first publish and the dataplane (XDP) are set up, before
 * the API and the sources; no lock held, no other thread running. */
int sy_bgp_start(struct sy_daemon *d, char *err, size_t errlen);

/* Decide again (d->lock held): every tick. */
void sy_bgp_tick(struct sy_daemon *d, uint64_t now_ms);

/* Withdraw every VIP and tell BIRD, stop the thread, free (no lock held).
 * Also after a failed start; a no-op without sy_bgp_start. */
void sy_bgp_stop(struct sy_daemon *d);

/* The operator's drain of the host (d->lock held): decided at the next
 * tick; the caller saves the state file. */
void sy_bgp_set_drained(struct sy_daemon *d, bool drained);

/* For status (d->lock held): {"daemon", "state", "message", ...,
 * "vips": [...]}; and the daemon's state alone (a copy, under mu). */
struct json_t *sy_bgp_status_json(struct sy_daemon *d);
void sy_bgp_daemon_state(struct sy_bgp *b, struct sy_bgp_daemon_state *out);
/* "off" (daemon none), else sy_bird_result_name(), "starting" before the
 * first answer. */
const char *sy_bgp_state_name(const struct sy_bgp *b, const struct sy_bgp_daemon_state *st);

#endif
