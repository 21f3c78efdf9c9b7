/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The XDP program's first lookup, the destination address (sy_vip_addrs,
 * bpf/xdp_vip_addrs.c), as services come and go:
 *
 *   1. the records derived from a VIP index: one per address of TCP/UDP
 *      services, per protocol none / the one service (port, record) /
 *      several; address entries and other protocols add nothing;
 *   2. the program (BPF_PROG_TEST_RUN, maps filled by sy_xdp_sync() from a
 *      region) through five snapshots of one VIP address 198.18.210.1:
 *      one TCP service, then several TCP and one UDP, then an all-ports
 *      one beside them, then only the UDP one, then none (a service on
 *      another address only). Each stage runs the same probes (TCP to
 *      ports 80 / 443 / 81, UDP 53 / 54, a TCP fragment, an ICMP echo, an
 *      IPIP packet to the address; TCP to 198.18.210.9; IPv6) and checks
 *      the verdict: the backend reached (outer destination), the drop
 *      counter, or the kernel. The expectations are those of the region's
 *      own lookup (sy_snapshot_match, address entries), which the DPDK path
 *      uses.
 *
 * Needs root (part 2); fails, never skips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/bpf.h>

#include <bpf/bpf.h>

#include <switchyard/counters.h>
#include <switchyard/pkt_hdr.h>
#include <switchyard/region_writer.h>

#include "flows.h"
#include "services_file.h"
#include "xdp_lb.h"
#include "xdp_lb_util.h"
#include "xdp_vip_addrs.h"

/* ---- 1. records from a VIP index ------------------------------------------------ */

static struct sy_xdp_vip_entry entry(const char *addr, uint8_t proto, uint16_t port,
				     bool addr_entry, uint32_t slot)
{
	struct sy_xdp_vip_entry e;

	memset(&e, 0, sizeof(e));
	e.key.family = strchr(addr, ':') ? SY_AF_INET6 : SY_AF_INET;
	assert_int_equal(inet_pton(e.key.family == SY_AF_INET ? AF_INET : AF_INET6, addr, e.key.addr),
			 1);
	if (addr_entry)
		e.key.family |= SY_VIP_ADDR_KEY;
	e.key.proto = proto;
	e.key.port = htons(port);
	e.v.slot = slot;
	e.v.fwd_mode = SY_FWD_IPIP;
	e.v.table_size = 251;
	return e;
}

static const struct sy_xdp_addr_record *record(const struct sy_xdp_addr_record *r, size_t n,
					       const char *addr)
{
	struct sy_xdp_addr_record k;

	memset(&k, 0, sizeof(k));
	k.key.family = strchr(addr, ':') ? SY_AF_INET6 : SY_AF_INET;
	assert_int_equal(inet_pton(k.key.family == SY_AF_INET ? AF_INET : AF_INET6, addr, k.key.addr),
			 1);
	return bsearch(&k, r, n, sizeof(*r), sy_xdp_addr_record_cmp);
}

static void records_from_vip_index(void **state)
{
	const struct sy_xdp_vip_entry vips[] = {
		entry("198.18.210.1", SY_IPPROTO_TCP, 80, false, 1),
		entry("198.18.210.1", SY_IPPROTO_UDP, 53, false, 2),
		entry("198.18.210.1", SY_IPPROTO_TCP, 0, true, 1),  /* address entries */
		entry("198.18.210.1", SY_IPPROTO_UDP, 0, true, 2),
		entry("198.18.210.2", SY_IPPROTO_TCP, 22, false, 3),
		entry("2001:2::210", SY_IPPROTO_TCP, 443, false, 4),
		entry("198.18.210.2", SY_IPPROTO_TCP, 0, false, 5), /* all ports */
		entry("198.18.210.2", SY_IPPROTO_TCP, 0, true, 5),
		entry("198.18.210.3", 132, 80, false, 6),            /* not TCP/UDP */
		entry("2001:2::210", SY_IPPROTO_TCP, 0, true, 4),
	};
	const struct sy_xdp_addr_record *a, *b, *c;
	struct sy_xdp_addr_services zero;
	struct sy_xdp_addr_record *r;
	size_t n = 99;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	r = sy_xdp_addr_records(vips, sizeof(vips) / sizeof(vips[0]), &n);
	assert_non_null(r);
	assert_int_equal(n, 3); /* .1, .2 and the IPv6 address; not .3 */
	for (size_t i = 1; i < n; i++)
		assert_true(sy_xdp_addr_record_cmp(&r[i - 1], &r[i]) < 0);
	a = record(r, n, "198.18.210.1");
	b = record(r, n, "198.18.210.2");
	c = record(r, n, "2001:2::210");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_null(record(r, n, "198.18.210.3"));
	/* one service per protocol: port and record */
	assert_int_equal(a->v.tcp.kind, SY_XDP_ADDR_ONE);
	assert_int_equal(a->v.tcp.port, htons(80));
	assert_int_equal(a->v.tcp.svc.slot, 1);
	assert_int_equal(a->v.udp.kind, SY_XDP_ADDR_ONE);
	assert_int_equal(a->v.udp.port, htons(53));
	assert_int_equal(a->v.udp.svc.slot, 2);
	/* a port and an all-ports service: several, nothing else kept */
	assert_int_equal(b->v.tcp.kind, SY_XDP_ADDR_MANY);
	assert_memory_equal(&b->v.tcp, &(struct sy_xdp_addr_services){ .kind = SY_XDP_ADDR_MANY },
			    sizeof(zero));
	assert_memory_equal(&b->v.udp, &zero, sizeof(zero));
	assert_int_equal(c->key.family, SY_AF_INET6);
	assert_int_equal(c->v.tcp.kind, SY_XDP_ADDR_ONE);
	assert_int_equal(c->v.tcp.svc.slot, 4);
	assert_memory_equal(&c->v.udp, &zero, sizeof(zero));
	free(r);

	r = sy_xdp_addr_records(NULL, 0, &n);
	assert_non_null(r);
	assert_int_equal(n, 0);
	free(r);
}

/* ---- 2. the program as the VIP index changes ------------------------------------ */

#define OUT_CAP 512

static struct {
	char path[128], dir[64];
	struct sy_writer *w;
	struct sy_region_map *map;
	struct sy_xdp *x;
	int prog_fd;
} env;

/* The region holds exactly the services of `text` (services_file.h),
 * mirrored into the maps. */
static void stage(const char *text)
{
	char file[128], err[256] = "";
	FILE *f;

	snprintf(file, sizeof(file), "%s/services.txt", env.dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	if (sy_services_file_apply(env.w, file, err, sizeof(err)) ||
	    sy_xdp_sync(env.x, env.map->base, sy_writer_snapshot(env.w), err, sizeof(err)))
		print_message("stage: %s\n", err);
	assert_string_equal(err, "");
}

static uint16_t ip4_csum(const uint8_t *ip)
{
	uint32_t s = 0;

	for (int i = 0; i < 20; i += 2)
		if (i != 10)
			s += (uint32_t)ip[i] << 8 | ip[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

enum probe_kind { PLAIN, FRAGMENT, ECHO, IPIP };

struct probe {
	const char *name;
	const char *dst; /* VIP or not */
	uint8_t proto;
	uint16_t dport;
	enum probe_kind kind;
};

static const struct probe probes[] = {
	{ "tcp :80", "198.18.210.1", SY_IPPROTO_TCP, 80, PLAIN },
	{ "tcp :443", "198.18.210.1", SY_IPPROTO_TCP, 443, PLAIN },
	{ "tcp :81", "198.18.210.1", SY_IPPROTO_TCP, 81, PLAIN },
	{ "udp :53", "198.18.210.1", SY_IPPROTO_UDP, 53, PLAIN },
	{ "udp :54", "198.18.210.1", SY_IPPROTO_UDP, 54, PLAIN },
	{ "tcp fragment", "198.18.210.1", SY_IPPROTO_TCP, 80, FRAGMENT },
	{ "icmp echo", "198.18.210.1", SY_IPPROTO_TCP, 80, ECHO },
	{ "ipip", "198.18.210.1", SY_IPPROTO_TCP, 80, IPIP },
	{ "other address", "198.18.210.9", SY_IPPROTO_TCP, 80, PLAIN },
	{ "ipv6 tcp :443", "2001:2::210", SY_IPPROTO_TCP, 443, PLAIN },
};
#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

/* The probe's frame from a client of the test ranges. */
static uint32_t probe_frame(const struct probe *p, uint8_t *o)
{
	struct sy_test_flow f = { .proto = p->proto, .sport = 33333, .dport = p->dport };
	uint32_t len;

	f.family = strchr(p->dst, ':') ? SY_AF_INET6 : SY_AF_INET;
	assert_int_equal(inet_pton(f.family == SY_AF_INET ? AF_INET : AF_INET6, p->dst, f.vip), 1);
	assert_int_equal(inet_pton(f.family == SY_AF_INET ? AF_INET : AF_INET6,
				   f.family == SY_AF_INET ? "198.19.7.7" : "2001:2:0:7::7", f.client),
			 1);
	len = sy_test_frame(o, &f, SY_TCP_ACK, f.family == SY_AF_INET ? 60 : 80);
	if (p->kind == FRAGMENT)
		o[14 + 6] = 0, o[14 + 7] = 3; /* offset 24 bytes, last: no ports */
	else if (p->kind == ECHO)
		o[14 + 9] = SY_IPPROTO_ICMP, o[34] = 8, o[35] = 0;
	else if (p->kind == IPIP)
		o[14 + 9] = SY_IPPROTO_IPIP;
	if (f.family == SY_AF_INET) {
		uint16_t c = ip4_csum(o + 14);

		memcpy(o + 24, &c, 2);
	}
	return len;
}

/* What the program did with the probe: "-> ADDR" (the outer destination),
 * "kernel", or "drop COUNTER" (the drop counter that grew). */
static void run_probe(const struct probe *p, char *got, size_t n)
{
	static const char *const names[] = {
#define SY_X(id, name, help) [SY_C_##id] = name,
		SY_COUNTERS(SY_X)
#undef SY_X
	};
	uint8_t in[256], out[OUT_CAP];
	uint32_t len = probe_frame(p, in), out_len = 0, action = 0;
	uint64_t c0[SY_LCORE_NCOUNTERS], c1[SY_LCORE_NCOUNTERS];

	sy_xdp_read_counters(env.x, c0);
	assert_int_equal(sy_xdp_test_run(env.prog_fd, in, len, out, sizeof(out), &out_len, &action,
					 NULL),
			 0);
	sy_xdp_read_counters(env.x, c1);
	if (action == XDP_TX && out_len >= 54 && out[12] == 0x86 && out[13] == 0xdd) {
		got[0] = '-', got[1] = '>', got[2] = ' ';
		inet_ntop(AF_INET6, out + 38, got + 3, (socklen_t)(n - 3));
	} else if (action == XDP_TX && out_len >= 34) {
		got[0] = '-', got[1] = '>', got[2] = ' ';
		inet_ntop(AF_INET, out + 30, got + 3, (socklen_t)(n - 3));
	} else if (action == XDP_PASS) {
		snprintf(got, n, "kernel");
	} else {
		snprintf(got, n, "drop ?");
		for (int c = SY_C_DROP_RUNT; c < SY_C__COUNT; c++)
			if (!strncmp(names[c], "drop_", 5) && c1[c] - c0[c] == 1)
				snprintf(got, n, "drop %s", names[c] + 5);
	}
}

#define GRACE_MS 30u /* the address slots' grace period in this test */

/* The key of an address of the test ranges. */
static struct sy_xdp_addr_key addr_key(const char *addr)
{
	struct sy_xdp_addr_key k;

	memset(&k, 0, sizeof(k));
	k.family = strchr(addr, ':') ? SY_AF_INET6 : SY_AF_INET;
	assert_int_equal(inet_pton(k.family == SY_AF_INET ? AF_INET : AF_INET6, addr, k.addr), 1);
	return k;
}

/* The address slot of addr as the program reads it. */
static struct sy_xdp_vip_slot slot_of(const char *addr)
{
	struct sy_xdp_addr_key k = addr_key(addr);
	uint32_t i = sy_xdp_vip_slot_of(k.addr, k.family);
	int fd = sy_xdp_test_map_fd(env.prog_fd, "sy_vip_slots");
	struct sy_xdp_vip_slot v;

	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &i, &v), 0);
	close(fd);
	return v;
}

/* Whether sy_vip_addrs has a record of addr. */
static bool is_vip_address(const char *addr)
{
	struct sy_xdp_addr_key k = addr_key(addr);
	int fd = sy_xdp_test_map_fd(env.prog_fd, "sy_vip_addrs");
	struct sy_xdp_vip_addr v;
	bool found;

	assert_true(fd >= 0);
	found = bpf_map_lookup_elem(fd, &k, &v) == 0;
	close(fd);
	return found;
}

/* Run every probe; want[i] is what probe i must get. */
static void run_probes(const char *stage_name, const char *when, const char *const want[N_PROBES])
{
	int bad = 0;

	for (size_t i = 0; i < N_PROBES; i++) {
		char got[64];

		run_probe(&probes[i], got, sizeof(got));
		if (strcmp(got, want[i])) {
			print_message("%s (%s): %s: got \"%s\", want \"%s\"\n", stage_name, when,
				      probes[i].name, got, want[i]);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* The probes right after the sync, while the slots of changed addresses
 * wait out their grace period and send packets to sy_vip_addrs (an old
 * record left in a slot would answer here), and again once the slots
 * hold the new records: each VIP address's slot then holds it, and the
 * others' say that no VIP address maps there. */
static void expect(const char *stage_name, const char *const want[N_PROBES])
{
	run_probes(stage_name, "right after the sync", want);
	usleep((GRACE_MS + 10) * 1000);
	sy_xdp_tick(env.x);
	for (size_t i = 0; i < N_PROBES; i++) {
		struct sy_xdp_vip_slot v = slot_of(probes[i].dst);
		struct sy_xdp_addr_key k = addr_key(probes[i].dst);

		if (is_vip_address(probes[i].dst)) {
			assert_int_equal(v.state, SY_XDP_VIP_SLOT_ONE);
			assert_memory_equal(&v.key, &k, sizeof(k));
		} else {
			assert_int_equal(v.state, SY_XDP_VIP_SLOT_EMPTY);
		}
	}
	run_probes(stage_name, "from the address slots", want);
}

#define SVC_HTTP "service http tcp 198.18.210.1 80 ipip m=251 src4=198.18.0.1\n" \
		 "backend http 198.18.21.1 80 02:00:00:00:21:01\n"
#define SVC_HTTPS "service https tcp 198.18.210.1 443 ipip m=251 src4=198.18.0.1\n" \
		  "backend https 198.18.21.2 443 02:00:00:00:21:02\n"
#define SVC_DNS "service dns udp 198.18.210.1 53 ipip m=251 src4=198.18.0.1\n" \
		"backend dns 198.18.21.3 53 02:00:00:00:21:03\n"
#define SVC_ALL "service all tcp 198.18.210.1 0 ipip m=251 src4=198.18.0.1\n" \
		"backend all 198.18.21.4 0 02:00:00:00:21:04\n"
#define SVC_V6 "service web6 tcp 2001:2::210 443 ipip m=251 src6=2001:2::1\n" \
	       "backend web6 2001:2::21:6 443 02:00:00:00:21:06\n"
#define SVC_OTHER "service other tcp 198.18.210.9 80 ipip m=251 src4=198.18.0.1\n" \
		  "backend other 198.18.21.9 80 02:00:00:00:21:09\n"

static void verdicts_as_services_change(void **state)
{
	(void)state;

	/* one service on the address */
	stage(SVC_HTTP SVC_V6);
	expect("one service", (const char *const[N_PROBES]){
		"-> 198.18.21.1", "drop no_service", "drop no_service", "drop no_service",
		"drop no_service", "-> 198.18.21.1", "kernel", "drop encapsulated", "kernel",
		"-> 2001:2::21:6" });

	/* several TCP services, one UDP: fragments to the lowest port */
	stage(SVC_HTTP SVC_HTTPS SVC_DNS SVC_V6);
	expect("several", (const char *const[N_PROBES]){
		"-> 198.18.21.1", "-> 198.18.21.2", "drop no_service", "-> 198.18.21.3",
		"drop no_service", "-> 198.18.21.1", "kernel", "drop encapsulated", "kernel",
		"-> 2001:2::21:6" });

	/* an all-ports service beside them: the other ports and the fragments */
	stage(SVC_HTTP SVC_HTTPS SVC_DNS SVC_ALL SVC_V6);
	expect("all ports", (const char *const[N_PROBES]){
		"-> 198.18.21.1", "-> 198.18.21.2", "-> 198.18.21.4", "-> 198.18.21.3",
		"drop no_service", "-> 198.18.21.4", "kernel", "drop encapsulated", "kernel",
		"-> 2001:2::21:6" });

	/* only the UDP service left: TCP to the address is still not the
	 * kernel's; the IPv6 address left entirely */
	stage(SVC_DNS);
	expect("one udp service", (const char *const[N_PROBES]){
		"drop no_service", "drop no_service", "drop no_service", "-> 198.18.21.3",
		"drop no_service", "drop no_service", "kernel", "drop encapsulated", "kernel",
		"kernel" });

	/* the address is no VIP any more */
	stage(SVC_OTHER);
	expect("no service", (const char *const[N_PROBES]){
		"kernel", "kernel", "kernel", "kernel", "kernel", "kernel", "kernel", "kernel",
		"-> 198.18.21.9", "kernel" });

	/* and back: the record is written again */
	stage(SVC_HTTP SVC_OTHER);
	expect("again", (const char *const[N_PROBES]){
		"-> 198.18.21.1", "drop no_service", "drop no_service", "drop no_service",
		"drop no_service", "-> 198.18.21.1", "kernel", "drop encapsulated",
		"-> 198.18.21.9", "kernel" });
}

/* Two VIP addresses in one slot: the slot sends their packets to
 * sy_vip_addrs, and each still reaches its own service; once one leaves,
 * the slot holds the other. */
static void colliding_addresses(void **state)
{
	static uint32_t first[SY_XDP_VIP_SLOTS]; /* slot -> 1 + the first address there */
	char a[2][32], text[1024];
	int found = 0;

	(void)state;
	/* two addresses of 198.18.0.0/15 that share a slot (consecutive
	 * addresses spread evenly: among 8,193 two must) */
	memset(first, 0, sizeof(first));
	for (uint32_t i = 0; i <= SY_XDP_VIP_SLOTS && !found; i++) {
		char addr[32];
		struct sy_xdp_addr_key k;
		uint32_t slot;

		snprintf(addr, sizeof(addr), "198.%u.%u.%u", 18 + (i >> 16), (i >> 8) & 255, i & 255);
		k = addr_key(addr);
		slot = sy_xdp_vip_slot_of(k.addr, k.family);
		if (first[slot]) {
			uint32_t j = first[slot] - 1;

			snprintf(a[0], sizeof(a[0]), "198.%u.%u.%u", 18 + (j >> 16), (j >> 8) & 255,
				 j & 255);
			snprintf(a[1], sizeof(a[1]), "%s", addr);
			found = 2;
		}
		first[slot] = i + 1;
	}
	assert_int_equal(found, 2);
	snprintf(text, sizeof(text),
		 "service one tcp %s 80 ipip m=251 src4=198.18.0.1\n"
		 "backend one 198.18.22.1 80 02:00:00:00:22:01\n"
		 "service two tcp %s 80 ipip m=251 src4=198.18.0.1\n"
		 "backend two 198.18.22.2 80 02:00:00:00:22:02\n",
		 a[0], a[1]);
	stage(text);
	usleep((GRACE_MS + 10) * 1000);
	sy_xdp_tick(env.x);
	assert_int_equal(slot_of(a[0]).state, SY_XDP_VIP_SLOT_ASK);
	for (int i = 0; i < 2; i++) {
		struct probe p = { "tcp :80", a[i], SY_IPPROTO_TCP, 80, PLAIN };
		char got[64];

		run_probe(&p, got, sizeof(got));
		assert_string_equal(got, i ? "-> 198.18.22.2" : "-> 198.18.22.1");
	}
	/* the first leaves: the slot holds the second, after the grace */
	snprintf(text, sizeof(text),
		 "service two tcp %s 80 ipip m=251 src4=198.18.0.1\n"
		 "backend two 198.18.22.2 80 02:00:00:00:22:02\n", a[1]);
	stage(text);
	usleep((GRACE_MS + 10) * 1000);
	sy_xdp_tick(env.x);
	{
		struct sy_xdp_vip_slot v = slot_of(a[1]);
		struct sy_xdp_addr_key k = addr_key(a[1]);
		struct probe p0 = { "tcp :80", a[0], SY_IPPROTO_TCP, 80, PLAIN };
		struct probe p1 = { "tcp :80", a[1], SY_IPPROTO_TCP, 80, PLAIN };
		char got[64];

		assert_int_equal(v.state, SY_XDP_VIP_SLOT_ONE);
		assert_memory_equal(&v.key, &k, sizeof(k));
		run_probe(&p1, got, sizeof(got));
		assert_string_equal(got, "-> 198.18.22.2");
		run_probe(&p0, got, sizeof(got));
		assert_string_equal(got, "kernel");
	}
}

static int setup(void **state)
{
	static const struct sy_region_limits lim = { .max_lcores = 2, .max_services = 16,
						     .max_backends = 64, .heap_size = 16u << 20 };
	struct sy_xdp_opts o = { .ct_flows = 4096, .grace_ms = GRACE_MS };
	struct sy_xdp_config cfg = { .port_mac = SY_TEST_PORT_MAC, .mtu = 1500 };
	char err[256] = "";

	(void)state;
	snprintf(env.path, sizeof(env.path), "/dev/shm/sy-test-xdpvipaddrs-%d", (int)getpid());
	snprintf(env.dir, sizeof(env.dir), "/tmp/sy-test-xdpvipaddrs-XXXXXX");
	if (!mkdtemp(env.dir) ||
	    sy_writer_create(env.path, "test", &lim, NULL, &env.w, err, sizeof(err)) ||
	    sy_xdp_open(&env.x, &o, err, sizeof(err)) ||
	    sy_xdp_configure(env.x, &cfg, err, sizeof(err))) {
		fprintf(stderr, "setup (needs root): %s\n", err[0] ? err : "mkdtemp");
		return -1;
	}
	env.map = sy_writer_map(env.w);
	env.prog_fd = sy_xdp_prog_fd(env.x);
	return 0;
}

static int teardown(void **state)
{
	char file[128];

	(void)state;
	if (env.x)
		sy_xdp_close(env.x, false);
	if (env.w)
		sy_writer_close(env.w);
	unlink(env.path);
	snprintf(file, sizeof(file), "%s/services.txt", env.dir);
	unlink(file);
	rmdir(env.dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_from_vip_index),
		cmocka_unit_test_setup_teardown(verdicts_as_services_change, setup, teardown),
		cmocka_unit_test_setup_teardown(colliding_addresses, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
