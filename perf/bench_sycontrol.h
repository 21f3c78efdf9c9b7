/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A real sy-control for benchmarks (perf/publish_latency_bench.c,
 * perf/resolve_latency_bench.c): a temporary directory for its
 * configuration, log, API socket and secrets, a free loopback port for the
 * embedded registry, the daemon started as a child (never outliving the
 * bench) and stopped by its PID, and a libcurl client for signed
 * registrations (docs/control.md, "Embedded registry protocol").
 *
 * Errors: functions return 0 or -1 with a message in bc->err / cl->err;
 * the bench decides whether to give up. Nothing here asserts or exits.
 */
#ifndef SWITCHYARD_PERF_BENCH_SYCONTROL_H
#define SWITCHYARD_PERF_BENCH_SYCONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "auth.h"

struct bench_control {
	char dir[64];    /* temporary directory, "" until created */
	char config[128];
	char socket[128];
	char log[128];
	char region[128]; /* in /dev/shm, unique per bench process */
	uint16_t reg_port; /* the embedded registry's port on 127.0.0.1 */
	pid_t pid;        /* sy-control, 0 = not running */
	char err[256];
};

uint64_t bench_now_ns(void);  /* CLOCK_MONOTONIC: comparable across processes */
uint64_t bench_wall_ms(void); /* CLOCK_REALTIME (a registration's timestamp) */
void bench_sleep_ms(unsigned ms);
int bench_cmp_u64(const void *a, const void *b); /* for qsort */
/* Nearest-rank percentile of a sorted array (0 if empty). */
uint64_t bench_pct(const uint64_t *v, size_t n, double q);

/* The value of --opt s, lo..hi; exits 2 with a message otherwise. */
uint32_t bench_arg_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi);

/* ../control/sy-control next to this executable (build/control/sy-control). */
void bench_default_sy_control(char *out, size_t n);

/* The directory /tmp/TAG-XXXXXX, the paths in it and a free port. */
int bench_control_init(struct bench_control *bc, const char *tag);
/* A random 32-byte secret as hex in bc->dir/NAME (mode 0600): a service key
 * or a read token. key (SY_KEY_MAX bytes) and *klen get it; path gets the
 * file's path. */
int bench_control_secret(struct bench_control *bc, const char *name, uint8_t *key, size_t *klen,
			 char *path, size_t path_len);
/* Starts sy-control --config bc->config (output to bc->log), pinned to cpu
 * (-1: not pinned), and waits (at most timeout_ms) for its API socket to
 * answer and the embedded registry (bc->reg_port) to accept connections. */
int bench_control_start(struct bench_control *bc, const char *sy_control, int cpu,
			unsigned timeout_ms);
/* False once sy-control has exited (said on stderr). */
bool bench_control_alive(struct bench_control *bc);
/* SIGTERM, then SIGKILL after grace_ms; waits for it (bounded). */
void bench_control_stop(struct bench_control *bc, unsigned grace_ms);
/* The last lines of sy-control's log on stderr. */
void bench_control_log_tail(const struct bench_control *bc, int lines);
/* Stops sy-control and removes every file the bench put in bc->dir, the
 * directory and the region. */
void bench_control_remove(struct bench_control *bc);

/* ---- signed registrations over HTTP (one reused libcurl handle) ---------- */

struct bench_reg_client {
	CURL *c;
	char url_reg[96], url_dereg[96];
	char resp[1024];
	size_t rlen;
	struct curl_slist *hdr;
	char body[SY_REG_MAX_BODY];
	char err[CURL_ERROR_SIZE];
};

int bench_reg_init(struct bench_reg_client *cl, uint16_t port, unsigned timeout_ms);
void bench_reg_free(struct bench_reg_client *cl);
/* Everything before the request goes out: body (weight 1, ttl the
 * service's default), signature, headers. reg: register (else deregister)
 * IPv4 addr_host (host order):port of service. */
int bench_reg_prepare(struct bench_reg_client *cl, bool reg, const char *service,
		      const uint8_t *key, size_t klen, uint32_t addr_host, uint16_t port);
/* Sends the prepared request; returns the HTTP status (0: no answer, cl->err). */
long bench_reg_send(struct bench_reg_client *cl);

#endif
