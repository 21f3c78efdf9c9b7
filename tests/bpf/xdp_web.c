/* SPDX-License-Identifier: BSD-3-Clause */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>

#include <switchyard/pkt_hdr.h>

#include "flows.h"
#include "xdp_lb_util.h"
#include "xdp_web.h"

#define FRAME_MAX (14 + 1500 + 64)
#define OUT_CAP (FRAME_MAX + 512)

static const struct sy_region_limits limits = { .max_lcores = 2, .max_services = 8,
						.max_backends = 64, .heap_size = 8u << 20 };

int sy_xdp_web_open(struct sy_xdp_web *e, const char *name, uint32_t n, uint32_t ct_flows)
{
	struct sy_xdp_opts o = { .ct_flows = ct_flows };
	char err[256] = "";

	memset(e, 0, sizeof(*e));
	e->cfg = (struct sy_xdp_config){ .port_mac = SY_TEST_PORT_MAC, .mtu = 1500 };
	snprintf(e->path, sizeof(e->path), "/dev/shm/sy-test-%s-%d", name, (int)getpid());
	unlink(e->path);
	if (sy_writer_create(e->path, name, &limits, NULL, &e->w, err, sizeof(err)) ||
	    sy_test_publish_web(e->w, n, n, err, sizeof(err))) {
		fprintf(stderr, "region: %s\n", err);
		return -1;
	}
	e->map = sy_writer_map(e->w);
	if (sy_xdp_open(&e->x, &o, err, sizeof(err)) ||
	    sy_xdp_configure(e->x, &e->cfg, err, sizeof(err)) ||
	    sy_xdp_sync(e->x, e->map->base, sy_writer_snapshot(e->w), err, sizeof(err))) {
		fprintf(stderr, "xdp: %s\n", err);
		return -1;
	}
	e->prog_fd = sy_xdp_prog_fd(e->x);
	return 0;
}

void sy_xdp_web_close(struct sy_xdp_web *e)
{
	sy_xdp_close(e->x, false);
	if (e->w)
		sy_writer_close(e->w);
	unlink(e->path);
	memset(e, 0, sizeof(*e));
}

int sy_xdp_web_publish(struct sy_xdp_web *e, uint32_t n)
{
	char err[256] = "";

	if (sy_test_publish_web(e->w, n, n, err, sizeof(err)) ||
	    sy_xdp_sync(e->x, e->map->base, sy_writer_snapshot(e->w), err, sizeof(err))) {
		fprintf(stderr, "publish: %s\n", err);
		return -1;
	}
	return 0;
}

int sy_test_on_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "cannot pin the test to CPU %d\n", cpu);
		return -1;
	}
	return 0;
}

int sy_xdp_web_run(struct sy_xdp_web *e, const uint8_t *frame, uint32_t len)
{
	static uint8_t out[OUT_CAP];
	uint32_t out_len = 0, action = 0;

	if (sy_xdp_test_run(e->prog_fd, frame, len, out, OUT_CAP, &out_len, &action, NULL))
		return -1;
	return action == XDP_TX && out_len >= 14 ? out[5] : 0;
}

int sy_xdp_web_syn(struct sy_xdp_web *e, uint32_t i, bool v6)
{
	static uint8_t in[FRAME_MAX];
	struct sy_test_flow f = sy_test_web_flow(i, v6);

	return sy_xdp_web_run(e, in, sy_test_frame(in, &f, SY_TCP_SYN, v6 ? 60 : 40));
}

int sy_xdp_web_icmp(struct sy_xdp_web *e, uint32_t i, bool v6)
{
	static uint8_t in[FRAME_MAX];
	struct sy_test_flow f = sy_test_web_flow(i, v6);

	return sy_xdp_web_run(e, in, sy_test_icmp_too_big(in, &f, 1400));
}

struct sy_xdp_web sy_test_web;

int sy_xdp_web_setup(void **state)
{
	(void)state;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "this test needs 2 CPUs, the machine has %ld\n",
			sysconf(_SC_NPROCESSORS_ONLN));
		return -1;
	}
	return sy_xdp_web_open(&sy_test_web, "xdp-web", 2, SY_XDP_WEB_CT_FLOWS);
}

int sy_xdp_web_teardown(void **state)
{
	(void)state;
	sy_xdp_web_close(&sy_test_web);
	return sy_test_on_cpu(0);
}

uint64_t sy_xdp_web_counter(struct sy_xdp_web *e, enum sy_counter c)
{
	uint64_t v[SY_LCORE_NCOUNTERS];

	sy_xdp_read_counters(e->x, v);
	return v[c];
}
