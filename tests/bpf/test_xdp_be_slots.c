/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The XDP program finds a packet's backend in sy_be_slots, by the slot its
 * ref carries (include/switchyard/xdp_maps.h); sy_backends stays every
 * backend's record. Whatever the slots do, a flow's backend is the one the
 * DPDK path would give it:
 *   - a backend whose MAC changes gets a new slot: its tracked flows stay
 *     with it (conntrack hits, no re-hash) and leave with the new MAC, and
 *     so do new flows (the table names the new slot);
 *   - the slots of departed backends, reused after the grace period by
 *     backends that arrive, never hand the newcomers the departed ones'
 *     flows: those re-hash (ct_reselect), the others keep their backend;
 *   - a slot whose record is marked gone sends the packet to sy_backends:
 *     the flow keeps its backend.
 * These hold on the code before the slots too (one hash lookup by uid): the
 * test guards the slot bookkeeping, not a former defect.
 *
 * web4 of tests/common/flows.h (198.18.100.9:80, ipip), with backends
 * 198.18.10.<n> of MAC 02:00:00:00:10:<n | mac_bits>, flows of
 * sy_test_web_flow(). Runs on CPU 0 (conntrack is per CPU). Needs root.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "flows.h"
#include "xdp_lb.h"
#include "xdp_lb_util.h"
#include "xdp_web.h"

#define N_FLOWS 300
#define GRACE_MS 50
#define CHANGED_MAC 0x40 /* or-ed into the MAC's last byte */

static struct {
	char path[128];
	struct sy_writer *w;
	struct sy_xdp *x;
	int prog_fd;
} env;

static uint8_t be_of[N_FLOWS]; /* each flow's backend n */

/* web4 with backends ns[n_ns], MACs ending in n | mac_bits. */
static void publish(const uint8_t *ns, uint32_t n_ns, uint8_t mac_bits)
{
	struct sy_backend_spec b[8];
	struct sy_service_spec s = { .name = "web4", .fwd_mode = SY_FWD_IPIP, .hash_seed = 7,
				     .table_size = 1021, .n_backends = n_ns, .backends = b };
	char err[256] = "", a[32];

	memset(b, 0, sizeof(b));
	for (uint32_t i = 0; i < n_ns; i++) {
		snprintf(a, sizeof(a), "198.18.10.%u", ns[i]);
		b[i].id.family = SY_AF_INET;
		b[i].id.port = 80;
		inet_pton(AF_INET, a, b[i].id.addr);
		b[i].weight = 1;
		memcpy(b[i].mac, (uint8_t[6]){ 0x02, 0, 0, 0, 0x10, (uint8_t)(ns[i] | mac_bits) }, 6);
	}
	s.vip = (struct sy_vip_key){ .family = SY_AF_INET, .proto = SY_IPPROTO_TCP, .port = htons(80) };
	inet_pton(AF_INET, "198.18.100.9", s.vip.addr);
	inet_pton(AF_INET, "198.18.0.1", &s.encap_src4);
	if (sy_writer_set_service(env.w, &s, err, sizeof(err)) ||
	    sy_writer_commit(env.w, NULL, err, sizeof(err)) ||
	    sy_xdp_sync(env.x, sy_writer_map(env.w)->base, sy_writer_snapshot(env.w), err, sizeof(err)))
		fail_msg("publish: %s", err);
}

struct sent {
	uint8_t backend; /* last byte of the outer destination address; 0: not sent */
	uint8_t mac;     /* last byte of the destination MAC */
};

/* A segment of flow i (SYN or ACK) through the program. */
static struct sent run(uint32_t i, uint8_t tcp_flags)
{
	static uint8_t in[256], out[512];
	struct sy_test_flow f = sy_test_web_flow(i, false);
	uint32_t len = sy_test_frame(in, &f, tcp_flags, 40), out_len = 0, action = 0;
	struct sent s = { 0, 0 };

	assert_int_equal(sy_xdp_test_run(env.prog_fd, in, len, out, sizeof(out), &out_len, &action,
					 NULL), 0);
	if (action == XDP_TX && out_len >= 34) {
		s.backend = out[14 + 19]; /* ipip: the outer IPv4 header follows Ethernet */
		s.mac = out[5];
	}
	return s;
}

static uint64_t counter(enum sy_counter c)
{
	uint64_t v[SY_LCORE_NCOUNTERS];

	sy_xdp_read_counters(env.x, v);
	return v[c];
}

/* The slot sy_backends gives backend 198.18.10.n, or -1. */
static int slot_of(uint8_t n)
{
	int fd = sy_xdp_test_map_fd(env.prog_fd, "sy_backends"), slot = -1;
	uint64_t uid, prev = 0;
	bool first = true;

	assert_true(fd >= 0);
	for (; bpf_map_get_next_key(fd, first ? NULL : &prev, &uid) == 0; prev = uid, first = false) {
		struct sy_xdp_backend b;

		if (bpf_map_lookup_elem(fd, &uid, &b) == 0 && !(b.flags & SY_XDP_BACKEND_GONE) &&
		    ((const uint8_t *)b.addr)[3] == n)
			slot = (int)b.slot;
	}
	close(fd);
	return slot;
}

/* SYNs of flows [first, first + n): each to its Maglev backend, MAC bits
 * as published; their backends in be_of. */
static void open_flows(uint32_t first, uint32_t n, uint8_t mac_bits)
{
	const struct sy_snapshot *snap = sy_writer_snapshot(env.w);

	for (uint32_t i = first; i < first + n; i++) {
		struct sent s = run(i, SY_TCP_SYN);
		uint32_t want = sy_test_web_maglev(sy_writer_map(env.w)->base, snap, i, false);

		assert_int_not_equal(s.backend, 0);
		assert_int_equal(s.mac, want);
		assert_int_equal(s.backend | mac_bits, want);
		if (i < N_FLOWS)
			be_of[i] = s.backend;
	}
}

static void mac_change_moves_slot_keeps_flows(void **state)
{
	static const uint8_t four[] = { 1, 2, 3, 4 };
	int before[5], moved = 0;
	uint64_t hits, reselect;

	(void)state;
	publish(four, 4, 0);
	open_flows(0, N_FLOWS, 0);
	for (int n = 1; n <= 4; n++)
		before[n] = slot_of((uint8_t)n);
	publish(four, 4, CHANGED_MAC);
	for (int n = 1; n <= 4; n++)
		moved += slot_of((uint8_t)n) != before[n];
	assert_int_equal(moved, 4); /* every record changed: every backend has a new slot */

	hits = counter(SY_C_CT_HIT);
	reselect = counter(SY_C_CT_RESELECT);
	for (uint32_t i = 0; i < N_FLOWS; i++) {
		struct sent s = run(i, SY_TCP_ACK);

		assert_int_equal(s.backend, be_of[i]);
		assert_int_equal(s.mac, be_of[i] | CHANGED_MAC);
	}
	assert_int_equal(counter(SY_C_CT_HIT) - hits, N_FLOWS);
	assert_int_equal(counter(SY_C_CT_RESELECT) - reselect, 0);
	/* and new flows reach the new slots through the rebuilt table */
	open_flows(1000, 100, CHANGED_MAC);
}

static void reused_slots_never_take_departed_flows(void **state)
{
	static const uint8_t four[] = { 1, 2, 3, 4 }, two[] = { 1, 2 }, newcomers[] = { 1, 2, 5, 6 };
	const struct sy_snapshot *snap;
	uint64_t hits, reselect;
	uint32_t departed = 0;
	int s3, s4, s5, s6;

	(void)state;
	publish(four, 4, 0);
	open_flows(0, N_FLOWS, 0);
	s3 = slot_of(3);
	s4 = slot_of(4);
	publish(two, 2, 0);
	usleep((GRACE_MS + 30) * 1000);
	sy_xdp_tick(env.x);
	publish(newcomers, 4, 0);
	s5 = slot_of(5);
	s6 = slot_of(6);
	/* the newcomers sit in the departed ones' slots: what this test is about */
	assert_true((s5 == s3 && s6 == s4) || (s5 == s4 && s6 == s3));

	snap = sy_writer_snapshot(env.w);
	hits = counter(SY_C_CT_HIT);
	reselect = counter(SY_C_CT_RESELECT);
	for (uint32_t i = 0; i < N_FLOWS; i++) {
		struct sent s = run(i, SY_TCP_ACK);

		if (be_of[i] <= 2) {
			assert_int_equal(s.backend, be_of[i]);
			continue;
		}
		departed++;
		assert_int_equal(s.backend,
				 sy_test_web_maglev(sy_writer_map(env.w)->base, snap, i, false));
	}
	assert_true(departed > 0);
	assert_int_equal(counter(SY_C_CT_HIT) - hits, N_FLOWS);
	assert_int_equal(counter(SY_C_CT_RESELECT) - reselect, departed);
}

static void gone_slot_falls_back_to_record(void **state)
{
	static const uint8_t four[] = { 1, 2, 3, 4 };
	int fd = sy_xdp_test_map_fd(env.prog_fd, "sy_be_slots");
	uint64_t hits, reselect;

	(void)state;
	assert_true(fd >= 0);
	publish(four, 4, 0);
	open_flows(0, N_FLOWS, 0);
	for (uint8_t n = 1; n <= 4; n++) {
		uint32_t slot = (uint32_t)slot_of(n);
		struct sy_xdp_backend b;

		assert_int_equal(bpf_map_lookup_elem(fd, &slot, &b), 0);
		b.flags |= SY_XDP_BACKEND_GONE;
		assert_int_equal(bpf_map_update_elem(fd, &slot, &b, BPF_ANY), 0);
	}
	close(fd);
	hits = counter(SY_C_CT_HIT);
	reselect = counter(SY_C_CT_RESELECT);
	for (uint32_t i = 0; i < N_FLOWS; i++)
		assert_int_equal(run(i, SY_TCP_ACK).backend, be_of[i]);
	assert_int_equal(counter(SY_C_CT_HIT) - hits, N_FLOWS);
	assert_int_equal(counter(SY_C_CT_RESELECT) - reselect, 0);
}

/* A fresh region and program for every test. */
static int setup(void **state)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 8,
						     .max_backends = 64, .heap_size = 8u << 20 };
	struct sy_xdp_opts o = { .ct_flows = 8192, .grace_ms = GRACE_MS };
	struct sy_xdp_config cfg = { .port_mac = SY_TEST_PORT_MAC, .mtu = 1500 };
	char err[256] = "";

	(void)state;
	if (sy_test_on_cpu(0))
		return -1;
	snprintf(env.path, sizeof(env.path), "/dev/shm/sy-test-be-slots-%d", (int)getpid());
	unlink(env.path);
	if (sy_writer_create(env.path, "be-slots", &lim, NULL, &env.w, err, sizeof(err)) ||
	    sy_xdp_open(&env.x, &o, err, sizeof(err)) ||
	    sy_xdp_configure(env.x, &cfg, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	env.prog_fd = sy_xdp_prog_fd(env.x);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sy_xdp_close(env.x, false);
	sy_writer_close(env.w);
	unlink(env.path);
	memset(&env, 0, sizeof(env));
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mac_change_moves_slot_keeps_flows, setup, teardown),
		cmocka_unit_test_setup_teardown(reused_slots_never_take_departed_flows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(gone_slot_falls_back_to_record, setup, teardown),
	};

	if (getuid() != 0) {
		fprintf(stderr, "test_xdp_be_slots needs root (BPF)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
