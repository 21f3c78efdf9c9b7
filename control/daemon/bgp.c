/* SPDX-License-Identifier: BSD-3-Clause
 * The announcer: decisions per VIP, handed to BIRD; see bgp.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "bgp.h"
#include "daemon.h"
#include "netaddr.h"

#define BIRD_TIMEOUT_MS 2000
#define PROBE_EVERY_MS 5000
#define RETRY_MAX_MS 5000

static void policy_of(const struct sy_config_bgp *c, struct sy_announce_policy *p)
{
	p->hold_down_ms = c->hold_down_s * 1000;
	p->hold_down_max_ms = c->hold_down_max_s * 1000;
	p->stable_ms = c->stable_s * 1000;
	p->on_fail_static = c->announce_on_fail_static;
}

static int cmp_addr(const struct sy_bgp_vip *a, uint8_t family, const uint32_t addr[4])
{
	if (a->a.family != family)
		return a->a.family < family ? -1 : 1;
	return memcmp(a->a.addr, addr, 16);
}

static int cmp_vip(const void *x, const void *y)
{
	const struct sy_bgp_vip *b = y;

	return cmp_addr(x, b->a.family, b->a.addr);
}

/* The VIPs of the configuration (each address once, in address order),
 * keeping the state of those that stay. 0, or -1 out of memory (the old
 * list stays). */
static int sync_vips(struct sy_bgp *b, const struct sy_config *cfg)
{
	struct sy_bgp_vip *v = calloc(cfg->n_services + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -1;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct sy_vip_key *k = &cfg->services[i].vip;
		struct sy_bgp_vip *e = NULL;
		size_t used;

		for (size_t j = 0; j < n && !e; j++)
			if (!cmp_addr(&v[j], k->family, k->addr))
				e = &v[j];
		if (!e) {
			e = &v[n++];
			for (size_t j = 0; j < b->n_vips; j++)
				if (!cmp_addr(&b->vips[j], k->family, k->addr))
					e->a = b->vips[j].a; /* its damping and counters */
			e->a.family = k->family;
			memcpy(e->a.addr, k->addr, 16);
		}
		used = strlen(e->services);
		snprintf(e->services + used, sizeof(e->services) - used, "%s%s", used ? ", " : "",
			 cfg->services[i].name);
		e->n_services++;
	}
	qsort(v, n, sizeof(*v), cmp_vip);
	free(b->vips);
	b->vips = v;
	b->n_vips = n;
	return 0;
}

/* What holds for VIP v now (d->lock held). */
static void inputs_of(struct sy_daemon *d, const struct sy_bgp_vip *v,
		      struct sy_announce_inputs *in)
{
	*in = (struct sy_announce_inputs){ .stopping = d->bgp->stopping, .drained = d->drained,
					   .dataplane_ok = d->dp_health.state == SY_DP_RUNNING };
	for (size_t i = 0; i < d->n_svc; i++) {
		const struct sy_service_state *s = &d->svc[i];
		const struct sy_vip_key *k = &d->cfg->services[s->cfg_index].vip;
		bool usable = false;

		if (k->family != v->a.family || memcmp(k->addr, v->a.addr, 16))
			continue;
		in->services++;
		for (uint32_t j = 0; j < s->b.n_published && !usable; j++)
			usable = s->b.published[j].weight > 0;
		if (usable && s->b.degraded)
			in->fail_static++;
		else if (usable)
			in->serving++;
	}
}

/* The include file's text of the current decision; NULL out of memory. */
static char *render(const struct sy_bgp *b)
{
	struct sy_bird_route *r = calloc(b->n_vips + 1, sizeof(*r));
	size_t n = 0;
	char *text;

	if (!r)
		return NULL;
	for (size_t i = 0; i < b->n_vips; i++) {
		if (!b->vips[i].a.announced)
			continue;
		r[n] = (struct sy_bird_route){ .family = b->vips[i].a.family,
					       .comment = b->vips[i].services };
		memcpy(r[n++].addr, b->vips[i].a.addr, 16);
	}
	text = sy_bird_render(b->protocol, b->instance, r, n);
	free(r);
	return text;
}

static void log_change(const struct sy_bgp_vip *v)
{
	char a[64];

	sy_format_ip(v->a.family, v->a.addr, a, sizeof(a));
	if (v->a.announced)
		sy_logf("info", "\"VIP announced\" vip=%s services=\"%s\"", a, v->services);
	else if (v->a.reason == SY_ANN_HOLD_DOWN)
		sy_logf("info", "\"VIP held down\" vip=%s hold_ms=%u flaps=%u", a, v->a.hold_ms,
			v->a.flaps);
	else
		sy_logf("warn", "\"VIP withdrawn\" vip=%s reason=%s why=\"%s\"", a,
			sy_ann_reason_name(v->a.reason), sy_ann_reason_text(v->a.reason));
}

/* Decide for every VIP; true if the announced set changed (b->text then
 * holds the new text). */
static bool decide(struct sy_daemon *d, uint64_t now_ms)
{
	struct sy_bgp *b = d->bgp;
	bool changed = false;
	char *text;

	if (b->cfg_gen != d->config_gen && sync_vips(b, d->cfg) == 0) {
		policy_of(&d->cfg->bgp, &b->policy);
		b->cfg_gen = d->config_gen;
		changed = true; /* VIPs came or went, services renamed: new text */
	}
	for (size_t i = 0; i < b->n_vips; i++) {
		struct sy_announce_inputs in;
		enum sy_ann_reason before = b->vips[i].a.reason;

		inputs_of(d, &b->vips[i], &in);
		if (sy_announce_step(&b->vips[i].a, &b->policy, &in, now_ms)) {
			changed = true;
			log_change(&b->vips[i]);
		} else if (before != b->vips[i].a.reason && !b->vips[i].a.announced &&
			   b->vips[i].a.reason == SY_ANN_HOLD_DOWN) {
			log_change(&b->vips[i]);
		}
	}
	if (!changed && b->text)
		return false;
	text = render(b);
	if (!text)
		return false; /* out of memory: tried again at the next tick */
	if (b->text && !strcmp(text, b->text)) {
		free(text);
		return false;
	}
	free(b->text);
	b->text = text;
	return true;
}

/* ---- the driver thread ------------------------------------------------------ */

static uint64_t mono_ms(void)
{
	return sy_now_ms();
}

static void set_state(struct sy_bgp *b, enum sy_bird_result r, const char *msg, const char *version,
		      bool configured)
{
	uint64_t now = mono_ms();

	pthread_mutex_lock(&b->mu);
	if (!b->st.known || b->st.result != r) {
		if (r == SY_BIRD_OK)
			sy_logf("info", "\"bgp: BIRD configured\" socket=%s file=%s bird=\"%s\"",
				b->sock_path, b->include_file, version ? version : "");
		else
			sy_logf(b->st.known || !b->required ? "warn" : "error",
				"\"bgp: BIRD %s\" socket=%s error=\"%s\"", sy_bird_result_name(r),
				b->sock_path, msg);
		b->st.since_ms = now;
	}
	b->st.known = true;
	b->st.result = r;
	snprintf(b->st.msg, sizeof(b->st.msg), "%s", msg);
	if (version && *version)
		snprintf(b->st.version, sizeof(b->st.version), "%s", version);
	if (r == SY_BIRD_OK && configured)
		b->st.configures++;
	if (r != SY_BIRD_OK)
		b->st.errors++;
	pthread_mutex_unlock(&b->mu);
}

/* Write text (generation gen) unless *written says it is on disk, and
 * have BIRD read it: the result. */
static enum sy_bird_result apply(struct sy_bgp *b, const char *text, uint64_t gen,
				 uint64_t *written)
{
	char msg[512], version[64] = "";
	enum sy_bird_result r;

	if (*written != gen) {
		if (sy_bird_write_file(b->include_file, text, msg, sizeof(msg))) {
			set_state(b, SY_BIRD_ERROR, msg, NULL, false);
			return SY_BIRD_ERROR;
		}
		*written = gen;
	}
	r = sy_bird_configure(b->sock_path, b->protocol, b->include_file, BIRD_TIMEOUT_MS, msg,
			      sizeof(msg), version, sizeof(version));
	set_state(b, r, msg, version, true);
	return r;
}

static void *driver(void *arg)
{
	struct sy_bgp *b = arg;
	uint64_t written_gen = 1, retry_ms = 1000; /* sy_bgp_start wrote generation 1 */
	bool ok = b->st.known && b->st.result == SY_BIRD_OK;
	uint64_t next_ms = mono_ms() + (ok ? PROBE_EVERY_MS : retry_ms);

	pthread_mutex_lock(&b->mu);
	for (;;) {
		uint64_t gen;
		char *text;
		enum sy_bird_result r;

		while (!b->quit && b->want_gen == b->applied_gen && mono_ms() < next_ms) {
			struct timespec ts;
			uint64_t wait = next_ms - mono_ms();

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		}
		if (b->quit)
			break;
		gen = b->want_gen;
		text = b->want ? strdup(b->want) : NULL;
		ok = b->st.known && b->st.result == SY_BIRD_OK;
		pthread_mutex_unlock(&b->mu);

		if (!text) {
			r = SY_BIRD_ERROR; /* out of memory: tried again */
		} else if (gen != b->applied_gen || !ok) {
			/* a new decision, or BIRD was away: write and configure */
			r = apply(b, text, gen, &written_gen);
		} else {
			char msg[512], version[64] = "";

			r = sy_bird_probe(b->sock_path, b->protocol, b->include_file, BIRD_TIMEOUT_MS,
					  msg, sizeof(msg), version, sizeof(version));
			set_state(b, r, r == SY_BIRD_OK ? "ok" : msg, version, false);
		}
		free(text);
		pthread_mutex_lock(&b->mu);
		if (r == SY_BIRD_OK) {
			b->applied_gen = gen;
			retry_ms = 1000;
			next_ms = mono_ms() + PROBE_EVERY_MS;
		} else {
			next_ms = mono_ms() + retry_ms;
			retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
		}
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* ---- start, tick, stop ------------------------------------------------------- */

int sy_bgp_start(struct sy_daemon *d, char *err, size_t errlen)
{
	const struct sy_config_bgp *c = &d->cfg->bgp;
	struct sy_bgp *b = calloc(1, sizeof(*b));
	enum sy_bird_result r;

	if (!b) {
		snprintf(err, errlen, "bgp: out of memory");
		return -1;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->daemon = c->daemon;
	b->required = c->required;
	snprintf(b->sock_path, sizeof(b->sock_path), "%s", c->socket);
	snprintf(b->include_file, sizeof(b->include_file), "%s", c->include_file);
	snprintf(b->protocol, sizeof(b->protocol), "%s", c->protocol);
	snprintf(b->instance, sizeof(b->instance), "%s", d->cfg->instance);
	b->cfg_gen = UINT64_MAX; /* the VIPs are taken at the first decision */
	d->bgp = b;

	pthread_mutex_lock(&d->lock);
	sy_dp_health_sample(d, sy_now_ms());
	decide(d, sy_now_ms());
	b->want = b->text ? strdup(b->text) : NULL;
	pthread_mutex_unlock(&d->lock);
	if (!b->want) {
		snprintf(err, errlen, "bgp: out of memory");
		return -1;
	}
	b->want_gen = 1;
	if (b->daemon == SY_BGP_NONE)
		return 0;
	{
		/* its directory (one level, like /run/switchyard, which the API
		 * socket shares): BIRD's user reads the file in it */
		char dir[sizeof(b->include_file)], *slash;

		snprintf(dir, sizeof(dir), "%s", b->include_file);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = 0;
			if (mkdir(dir, 0755) == 0)
				sy_logf("info", "\"bgp: directory created\" dir=%s", dir);
		}
	}
	{
		uint64_t written = 0;

		r = apply(b, b->want, 1, &written);
	}
	if (r == SY_BIRD_OK) {
		b->applied_gen = 1;
	} else if (b->required) {
		snprintf(err, errlen, "bgp: %s (bgp.required: false starts without it and retries)",
			 b->st.msg);
		return -1;
	}
	if (pthread_create(&b->thread, NULL, driver, b)) {
		snprintf(err, errlen, "bgp: cannot start its thread");
		return -1;
	}
	b->thread_started = true;
	return 0;
}

void sy_bgp_tick(struct sy_daemon *d, uint64_t now_ms)
{
	struct sy_bgp *b = d->bgp;

	if (!b || !decide(d, now_ms) || b->daemon == SY_BGP_NONE)
		return;
	pthread_mutex_lock(&b->mu);
	free(b->want);
	b->want = strdup(b->text);
	if (b->want)
		b->want_gen++;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

void sy_bgp_stop(struct sy_daemon *d)
{
	struct sy_bgp *b = d->bgp;

	if (!b)
		return;
	if (b->thread_started) {
		pthread_mutex_lock(&b->mu);
		b->quit = true;
		pthread_cond_signal(&b->cv);
		pthread_mutex_unlock(&b->mu);
		pthread_join(b->thread, NULL);
	}
	pthread_mutex_lock(&d->lock);
	b->stopping = true;
	decide(d, sy_now_ms());
	d->bgp = NULL; /* the API no longer reads it */
	pthread_mutex_unlock(&d->lock);
	if (b->daemon == SY_BGP_BIRD && b->text) {
		uint64_t written = 0;
		enum sy_bird_result r = apply(b, b->text, 1, &written);

		if (r == SY_BIRD_OK)
			sy_logf("info", "\"bgp: every VIP withdrawn\" file=%s", b->include_file);
		else
			sy_logf("error", "\"bgp: every VIP withdrawn in the file, but BIRD could not be told (it reads the file when it starts or reconfigures)\" file=%s error=\"%s\"",
				b->include_file, b->st.msg);
	}
	free(b->vips);
	free(b->text);
	free(b->want);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

void sy_bgp_set_drained(struct sy_daemon *d, bool drained)
{
	if (d->drained != drained) {
		d->drained = drained;
		d->drained_since = drained ? (int64_t)time(NULL) : 0;
		sy_logf(drained ? "warn" : "info", "\"host %s by the operator: %s\"",
			drained ? "drained" : "undrained",
			drained ? "every VIP withdrawn" : "VIPs announced again when healthy");
	}
	pthread_cond_signal(&d->wake);
}

/* ---- status ------------------------------------------------------------------ */

void sy_bgp_daemon_state(struct sy_bgp *b, struct sy_bgp_daemon_state *out)
{
	pthread_mutex_lock(&b->mu);
	*out = b->st;
	pthread_mutex_unlock(&b->mu);
}

const char *sy_bgp_state_name(const struct sy_bgp *b, const struct sy_bgp_daemon_state *st)
{
	if (b->daemon == SY_BGP_NONE)
		return "off";
	return st->known ? sy_bird_result_name(st->result) : "starting";
}

json_t *sy_bgp_status_json(struct sy_daemon *d)
{
	struct sy_bgp *b = d->bgp;
	struct sy_bgp_daemon_state st;
	uint64_t now = sy_now_ms();
	json_t *vips, *j;

	if (!b) /* before the start, after the stop */
		return json_pack("{s:s, s:s, s:[]}", "daemon", "none", "state", "off", "vips");
	vips = json_array();
	sy_bgp_daemon_state(b, &st);
	for (size_t i = 0; i < b->n_vips; i++) {
		const struct sy_vip_announce *a = &b->vips[i].a;
		char ip[64];

		sy_format_ip(a->family, a->addr, ip, sizeof(ip));
		json_array_append_new(
			vips, json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:i, s:I, s:I}", "vip", ip,
					"services", b->vips[i].services, "announced", a->announced,
					"reason", sy_ann_reason_name(a->reason), "why",
					sy_ann_reason_text(a->reason), "for_s",
					(json_int_t)((now - a->since_ms) / 1000), "flaps", (int)a->flaps,
					"hold_down_left_ms",
					(json_int_t)sy_announce_hold_left_ms(a, now), "hold_down_ms",
					(json_int_t)(a->failure != SY_ANN_HEALTHY ? a->hold_ms : 0)));
		if (a->failure != SY_ANN_HEALTHY && a->reason != a->failure)
			json_object_set_new(json_array_get(vips, json_array_size(vips) - 1), "failure",
					    json_string(sy_ann_reason_name(a->failure)));
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "daemon",
		      b->daemon == SY_BGP_BIRD ? "bird" : "none", "state", sy_bgp_state_name(b, &st),
		      "message", st.msg, "socket", b->sock_path, "include_file", b->include_file,
		      "state_for_s", (json_int_t)(st.known ? (now - st.since_ms) / 1000 : 0),
		      "configures", (json_int_t)st.configures, "errors", (json_int_t)st.errors,
		      "vips", vips);
	if (st.version[0])
		json_object_set_new(j, "bird", json_string(st.version));
	return j;
}
