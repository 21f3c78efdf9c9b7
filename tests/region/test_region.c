/* SPDX-License-Identifier: BSD-3-Clause
 * Behaviour of the shared-table region's writer and reader APIs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <switchyard/region_writer.h>

static char path[128];
static const struct sy_region_limits small = { .max_lcores = 4, .max_services = 16,
					       .max_backends = 256, .heap_size = 8u << 20 };

static uint16_t be16(uint16_t x)
{
	return (uint16_t)(x >> 8 | x << 8);
}

static uint32_t v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	return (uint32_t)a | (uint32_t)b << 8 | (uint32_t)c << 16 | (uint32_t)d << 24;
}

static struct sy_backend_spec backend(uint8_t last, uint32_t weight)
{
	struct sy_backend_spec b = { .weight = weight };

	b.id.family = SY_AF_INET;
	b.id.addr[0] = v4(198, 18, 1, last);
	b.id.port = 80;
	return b;
}

static struct sy_service_spec service(const char *name, uint8_t vip_last, uint16_t port,
				      const struct sy_backend_spec *b, uint32_t n)
{
	struct sy_service_spec s = { .fwd_mode = SY_FWD_IPIP, .table_size = 251,
				     .hash_seed = 7, .n_backends = n, .backends = b };

	snprintf(s.name, sizeof(s.name), "%s", name);
	s.vip.family = SY_AF_INET;
	s.vip.addr[0] = v4(198, 19, 0, vip_last);
	s.vip.port = be16(port);
	s.vip.proto = 6;
	return s;
}

static struct sy_writer *make_writer(void)
{
	struct sy_writer *w;
	char err[256];

	unlink(path);
	assert_int_equal(sy_writer_create(path, "test", &small, NULL, &w, err, sizeof(err)), 0);
	return w;
}

static void commit_ok(struct sy_writer *w, struct sy_commit_stats *st)
{
	char err[256] = "";
	int rc = sy_writer_commit(w, st, err, sizeof(err));

	if (rc)
		print_message("commit: %s\n", err);
	assert_int_equal(rc, 0);
}

static const struct sy_service *find(struct sy_writer *w, uint8_t vip_last, uint16_t port)
{
	struct sy_vip_key k = { .family = SY_AF_INET, .proto = 6 };

	k.addr[0] = v4(198, 19, 0, vip_last);
	k.port = be16(port);
	return sy_snapshot_match(sy_writer_map(w)->base, sy_writer_snapshot(w), &k);
}

static void test_open_rejects_foreign_and_stale_files(void **state)
{
	struct sy_region_map m;
	struct sy_writer *w;
	char err[256], other[160];
	FILE *f;
	uint32_t bad_version = SY_REGION_ABI_VERSION + 1;

	(void)state;
	snprintf(other, sizeof(other), "%s.junk", path);
	/* a file too small to hold a header */
	f = fopen(other, "w");
	fputs("not a region", f);
	fclose(f);
	assert_int_equal(sy_region_map_open(other, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too small"));
	/* a file large enough, but something else */
	f = fopen(other, "w");
	for (int i = 0; i < 256; i++)
		fputs("this is not a region, just a text file that is long enough.\n", f);
	fclose(f);
	assert_int_equal(sy_region_map_open(other, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad magic"));
	assert_non_null(strstr(err, other));
	unlink(other);

	assert_int_equal(sy_region_map_open("/dev/shm/sy-no-such-region", &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));

	w = make_writer();
	sy_writer_close(w);
	/* A region from another ABI version. */
	f = fopen(path, "r+");
	fseek(f, offsetof(struct sy_region_header, abi_version), SEEK_SET);
	fwrite(&bad_version, sizeof(bad_version), 1, f);
	fclose(f);
	assert_int_equal(sy_region_map_open(path, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ABI version"));
	unlink(path);

	/* A truncated region. */
	w = make_writer();
	sy_writer_close(w);
	assert_int_equal(truncate(path, 1 << 20), 0);
	assert_int_equal(sy_region_map_open(path, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "truncated"));
	unlink(path);
}

/* The port counter block: where the layout puts it, the map's check of it,
 * and the sequence counter that gives readers whole copies. */
static void test_port_block(void **state)
{
	struct sy_region_map m;
	struct sy_writer *w = make_writer();
	struct sy_port_block *pb = sy_region_ports(sy_writer_map(w));
	const struct sy_region_header *h = sy_writer_map(w)->hdr;
	struct sy_port_stats copy;
	uint64_t bad;
	char err[256];
	FILE *f;

	(void)state;
	assert_true(h->ports_off >= h->header_size && h->ports_off % 4096 == 0);
	assert_true(h->ports_off + sizeof(*pb) <= h->stats_off);
	assert_int_equal(atomic_load(&pb->n_ports), 0);

	/* written, then read whole */
	sy_port_stats_write_begin(&pb->port[1]);
	pb->port[1].port_id = 3;
	snprintf(pb->port[1].name, sizeof(pb->port[1].name), "net_af_packet0");
	pb->port[1].c.ipackets = 1000;
	pb->port[1].c.imissed = 7;
	pb->port[1].c.rx_nombuf = 2;
	pb->port[1].link = SY_PORT_LINK_DOWN;
	sy_port_stats_write_end(&pb->port[1]);
	assert_int_equal(sy_port_stats_read(&pb->port[1], &copy), 0);
	assert_int_equal(copy.port_id, 3);
	assert_string_equal(sy_port_link_name(copy.link), "down");
	/* where a dataplane before the field left its padding: 0 */
	assert_string_equal(sy_port_link_name(SY_PORT_LINK_UNKNOWN), "unknown");
	assert_int_equal(offsetof(struct sy_port_stats, link), 6);
	assert_string_equal(copy.name, "net_af_packet0");
	assert_int_equal(copy.c.ipackets, 1000);
	assert_int_equal(copy.c.imissed, 7);
	assert_int_equal(copy.c.rx_nombuf, 2);
	assert_int_equal(atomic_load(&copy.seq), 2);
	/* a write in progress (or a writer that died in one) gives no copy */
	sy_port_stats_write_begin(&pb->port[1]);
	assert_int_equal(sy_port_stats_read(&pb->port[1], &copy), -1);
	sy_port_stats_write_end(&pb->port[1]);
	assert_int_equal(sy_port_stats_read(&pb->port[1], &copy), 0);
	sy_writer_close(w);

	/* a block that does not fit in the file is refused at open */
	f = fopen(path, "r+");
	bad = (uint64_t)1 << 40;
	fseek(f, offsetof(struct sy_region_header, ports_off), SEEK_SET);
	fwrite(&bad, sizeof(bad), 1, f);
	fclose(f);
	assert_int_equal(sy_region_map_open(path, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "section offsets outside the file"));
	unlink(path);
}

static void test_limits_and_spec_errors(void **state)
{
	struct sy_region_limits bad = small;
	struct sy_backend_spec b[2] = { backend(1, 1), backend(1, 1) };
	struct sy_service_spec s;
	struct sy_writer *w;
	char err[256];

	(void)state;
	bad.max_lcores = 0;
	unlink(path);
	assert_int_equal(sy_writer_create(path, "t", &bad, NULL, &w, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lcores"));
	assert_int_equal(access(path, F_OK), -1);

	w = make_writer();
	/* creating over an existing region is refused, not clobbered */
	{
		struct sy_writer *w2;

		assert_int_equal(sy_writer_create(path, "t", &small, NULL, &w2, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "adopt"));
	}
	s = service("web", 1, 80, b, 1);
	s.table_size = 1000;
	assert_int_equal(sy_writer_set_service(w, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not prime"));
	s.table_size = 251;
	s.fwd_mode = 9;
	assert_int_equal(sy_writer_set_service(w, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode"));
	/* one scheduler: both round-robin and least-connections is refused */
	s = service("web", 1, 80, b, 1);
	s.round_robin = 1;
	s.least_conns = 1;
	assert_int_equal(sy_writer_set_service(w, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "both round-robin and least-connections"));
	/* duplicate backend identity: refused when staged (the table is built
	 * there), nothing staged, nothing published */
	s = service("web", 1, 80, b, 2);
	assert_int_equal(sy_writer_set_service(w, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "same identity"));
	assert_int_equal(sy_writer_commit(w, NULL, err, sizeof(err)), 0);
	assert_null(sy_writer_snapshot(w));
	assert_int_equal(sy_writer_remove_service(w, "nope", err, sizeof(err)), -1);
	sy_writer_close(w);
	unlink(path);
}

/* A staging that fails drops that service's staged change only: the other
 * staged services still go out, with their own tables. */
static void test_failed_staging_keeps_the_others(void **state)
{
	struct sy_backend_spec b[3] = { backend(1, 1), backend(2, 1), backend(3, 1) };
	struct sy_backend_spec dup[2] = { backend(1, 1), backend(1, 1) };
	struct sy_service_spec s;
	struct sy_writer *w = make_writer();
	char err[256];

	(void)state;
	s = service("a", 1, 80, b, 1);
	assert_int_equal(sy_writer_set_service(w, &s, err, sizeof(err)), 0);
	s = service("b", 2, 80, b, 2);
	assert_int_equal(sy_writer_set_service(w, &s, err, sizeof(err)), 0);
	s = service("c", 3, 80, b, 3);
	assert_int_equal(sy_writer_set_service(w, &s, err, sizeof(err)), 0);
	s = service("a", 1, 80, dup, 2); /* restaging a, wrongly */
	assert_int_equal(sy_writer_set_service(w, &s, err, sizeof(err)), -1);
	commit_ok(w, NULL);
	assert_null(find(w, 1, 80));
	assert_non_null(find(w, 2, 80));
	assert_int_equal(find(w, 2, 80)->n_backends, 2);
	assert_non_null(find(w, 3, 80));
	assert_int_equal(find(w, 3, 80)->n_backends, 3);
	assert_true(sy_service_intact(find(w, 3, 80)));
	sy_writer_close(w);
	unlink(path);
}

static void test_publish_lookup_and_all_ports(void **state)
{
	struct sy_backend_spec b[3] = { backend(1, 1), backend(2, 1), backend(3, 2) };
	struct sy_service_spec web = service("web", 1, 80, b, 3);
	struct sy_service_spec any = service("any", 1, 0, b, 2);
	struct sy_maglev_backend mb[3];
	uint32_t table[251];
	const struct sy_service *s;
	struct sy_writer *w = make_writer();
	char err[256];

	(void)state;
	assert_int_equal(sy_writer_set_service(w, &web, err, sizeof(err)), 0);
	assert_int_equal(sy_writer_set_service(w, &any, err, sizeof(err)), 0);
	commit_ok(w, NULL);

	s = find(w, 1, 80);
	assert_non_null(s);
	assert_string_equal(s->name, "web");
	assert_int_equal(s->n_backends, 3);
	assert_true(sy_service_intact(s));
	/* port 443 of the same address falls back to the all-ports service */
	s = find(w, 1, 443);
	assert_non_null(s);
	assert_string_equal(s->name, "any");
	assert_null(find(w, 2, 80));

	/* the published table is exactly what Maglev builds for the set */
	s = find(w, 1, 80);
	for (int i = 0; i < 3; i++)
		mb[i] = (struct sy_maglev_backend){ .id = b[i].id, .weight = b[i].weight };
	assert_int_equal(sy_maglev_build(mb, 3, 251, table, err, sizeof(err)), 0);
	assert_int_equal(s->digest, sy_maglev_digest(mb, 3, 251, table));
	for (uint32_t h = 0; h < 251; h++) {
		uint32_t i = sy_service_pick(sy_writer_map(w)->base, s, h);

		assert_int_equal(sy_backend_id_cmp(&sy_service_backends(sy_writer_map(w)->base, s)[i].id,
						   &b[table[h]].id), 0);
	}
	sy_writer_close(w);
	unlink(path);
}

static void test_only_changed_services_rebuilt_and_uids_kept(void **state)
{
	struct sy_backend_spec b[4] = { backend(1, 1), backend(2, 1), backend(3, 1), backend(4, 1) };
	struct sy_service_spec a = service("a", 1, 80, b, 3), c = service("c", 2, 80, b, 2);
	const struct sy_service *a1, *c1, *a2, *c2;
	const uint8_t *base;
	struct sy_commit_stats st;
	uint64_t uid_of[4];
	uint32_t slot;
	struct sy_writer *w = make_writer();
	char err[256];

	(void)state;
	base = sy_writer_map(w)->base;
	sy_writer_set_service(w, &a, err, sizeof(err));
	sy_writer_set_service(w, &c, err, sizeof(err));
	commit_ok(w, &st);
	assert_int_equal(st.rebuilt, 2);
	a1 = find(w, 1, 80);
	c1 = find(w, 2, 80);
	slot = a1->slot;
	for (int i = 0; i < 3; i++)
		uid_of[i] = sy_service_backends(base, a1)[i].uid;

	/* add backend 4 to a: only a gets a new object, c is shared */
	a.n_backends = 4;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, &st);
	assert_int_equal(st.rebuilt, 1);
	a2 = find(w, 1, 80);
	c2 = find(w, 2, 80);
	assert_ptr_equal(c1, c2);
	assert_ptr_not_equal(a1, a2);
	assert_int_equal(a2->slot, slot); /* per-VIP counters continue */
	for (int i = 0; i < 3; i++)
		assert_int_equal(sy_service_find_uid(base, a2, uid_of[i]), i);

	/* the same set again: nothing rebuilt, no new generation */
	{
		uint64_t gen = st.generation;

		sy_writer_set_service(w, &a, err, sizeof(err));
		commit_ok(w, &st);
		assert_int_equal(st.rebuilt, 0);
		assert_int_equal(st.unchanged, 1);
		assert_int_equal(st.generation, gen);
	}

	/* remove backend 1: its uid is gone, the others keep theirs */
	a.backends = &b[1];
	a.n_backends = 3;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, &st);
	a2 = find(w, 1, 80);
	assert_int_equal(sy_service_find_uid(base, a2, uid_of[0]), SY_MAGLEV_NONE);
	assert_int_not_equal(sy_service_find_uid(base, a2, uid_of[1]), SY_MAGLEV_NONE);

	/* remove c */
	assert_int_equal(sy_writer_remove_service(w, "c", err, sizeof(err)), 0);
	commit_ok(w, &st);
	assert_int_equal(st.removed, 1);
	assert_null(find(w, 2, 80));
	assert_int_equal(sy_writer_snapshot(w)->n_services, 1);
	sy_writer_close(w);
	unlink(path);
}

static void test_failed_commit_changes_nothing(void **state)
{
	struct sy_backend_spec b[2] = { backend(1, 1), backend(2, 1) };
	struct sy_service_spec a = service("a", 1, 80, b, 2), dup = service("dup", 1, 80, b, 1);
	const struct sy_snapshot *before;
	uint64_t used0, used1, fr;
	struct sy_writer *w = make_writer();
	char err[256];

	(void)state;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, NULL);
	before = sy_writer_snapshot(w);
	sy_writer_heap_usage(w, &used0, &fr);
	a.n_backends = 1;
	sy_writer_set_service(w, &a, err, sizeof(err));
	sy_writer_set_service(w, &dup, err, sizeof(err));
	assert_int_equal(sy_writer_commit(w, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "same VIP"));
	assert_ptr_equal(sy_writer_snapshot(w), before);
	assert_int_equal(find(w, 1, 80)->n_backends, 2);
	sy_writer_heap_usage(w, &used1, &fr);
	assert_int_equal(used0, used1);
	sy_writer_close(w);
	unlink(path);
}

/* One staged service that cannot get its backend slots fails the commit
 * alone: it is named and unstaged, the other staged changes stay and the
 * next commit publishes them (issue 12, point 2: one service over the
 * region's room blocked every commit of every service). Before: the second
 * commit published nothing ("a" kept 2 backends, st.failed did not exist). */
static void test_failed_service_leaves_the_others_staged(void **state)
{
	struct sy_backend_spec b[3] = { backend(1, 1), backend(2, 1), backend(3, 1) };
	struct sy_backend_spec *many = calloc(small.max_backends + 8, sizeof(*many));
	struct sy_service_spec a = service("a", 1, 80, b, 2), big;
	const struct sy_snapshot *before;
	struct sy_commit_stats st;
	struct sy_writer *w = make_writer();
	uint64_t used0, used1, fr;
	char err[256] = "";

	(void)state;
	assert_non_null(many);
	for (uint32_t i = 0; i < small.max_backends + 8; i++) {
		many[i] = backend((uint8_t)(i % 250 + 1), 1);
		many[i].id.port = (uint16_t)(1000 + i / 250);
	}
	big = service("big", 2, 80, many, small.max_backends + 8);
	assert_int_equal(sy_writer_set_service(w, &a, err, sizeof(err)), 0);
	commit_ok(w, NULL);
	before = sy_writer_snapshot(w);
	sy_writer_heap_usage(w, &used0, &fr);

	/* big first: it takes slots before it runs out; they come back */
	a.n_backends = 3;
	assert_int_equal(sy_writer_set_service(w, &big, err, sizeof(err)), 0);
	assert_int_equal(sy_writer_set_service(w, &a, err, sizeof(err)), 0);
	assert_int_equal(sy_writer_commit(w, &st, err, sizeof(err)), -1);
	assert_string_equal(st.failed, "big");
	assert_non_null(strstr(err, "backend slots in use"));
	assert_ptr_equal(sy_writer_snapshot(w), before);
	sy_writer_heap_usage(w, &used1, &fr);
	assert_int_equal(used0, used1);

	/* a is still staged: the next commit publishes it, without big */
	commit_ok(w, &st);
	assert_int_equal(st.rebuilt, 1);
	assert_string_equal(st.failed, "");
	assert_int_equal(find(w, 1, 80)->n_backends, 3);
	assert_null(find(w, 2, 80));
	assert_int_equal(sy_writer_snapshot(w)->n_services, 1);

	/* a cause that is no one service's (the same VIP twice): all dropped */
	a.n_backends = 1;
	big = service("dup", 1, 80, b, 1);
	sy_writer_set_service(w, &a, err, sizeof(err));
	sy_writer_set_service(w, &big, err, sizeof(err));
	assert_int_equal(sy_writer_commit(w, &st, err, sizeof(err)), -1);
	assert_string_equal(st.failed, "");
	commit_ok(w, &st);
	assert_int_equal(st.rebuilt, 0);
	assert_int_equal(find(w, 1, 80)->n_backends, 3);
	free(many);
	sy_writer_close(w);
	unlink(path);
}

static void test_reclamation_waits_for_online_readers(void **state)
{
	struct sy_backend_spec b[2] = { backend(1, 1), backend(2, 1) };
	struct sy_service_spec a = service("a", 1, 80, b, 1);
	struct sy_region_map m;
	struct sy_reader r;
	const struct sy_snapshot *held;
	struct sy_writer *w = make_writer();
	char err[256];

	(void)state;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, NULL);
	assert_int_equal(sy_region_map_open(path, &m, err, sizeof(err)), 0);
	assert_int_equal(sy_reader_register(&m, 1, &r, err, sizeof(err)), 0);
	/* a second process cannot take a live slot; out-of-range slot refused */
	{
		struct sy_reader r2;

		assert_int_equal(sy_reader_register(&m, 9, &r2, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "0..3"));
	}
	held = sy_reader_begin(&r);
	assert_non_null(held);

	a.n_backends = 2;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, NULL);
	/* the reader holds the old root and service: they must wait */
	assert_int_equal(sy_writer_reclaim(w), 2);
	assert_true(sy_snapshot_intact(held));
	/* next burst: quiescent point passed, memory can go */
	assert_int_equal(sy_reader_begin(&r)->generation, sy_writer_snapshot(w)->generation);
	assert_int_equal(sy_writer_reclaim(w), 0);

	/* an offline reader does not hold reclamation */
	sy_reader_begin(&r);
	sy_reader_offline(&r);
	a.n_backends = 1;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, NULL);
	assert_int_equal(sy_writer_reclaim(w), 0);
	sy_reader_online(&r);
	assert_int_equal(sy_reader_begin(&r)->generation, sy_writer_snapshot(w)->generation);

	sy_reader_unregister(&r);
	sy_region_map_close(&m);
	sy_writer_close(w);
	unlink(path);
}

static void test_dead_reader_does_not_block_forever(void **state)
{
	struct sy_backend_spec b[2] = { backend(1, 1), backend(2, 1) };
	struct sy_service_spec a = service("a", 1, 80, b, 1);
	struct sy_writer *w = make_writer();
	char err[256];
	pid_t pid;
	int st;

	(void)state;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, NULL);
	pid = fork();
	if (pid == 0) {
		struct sy_region_map m;
		struct sy_reader r;

		if (sy_region_map_open(path, &m, err, sizeof(err)) ||
		    sy_reader_register(&m, 2, &r, err, sizeof(err)))
			_exit(1);
		sy_reader_begin(&r);
		_exit(0); /* dies holding a snapshot, never unregisters */
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(atomic_load(&sy_region_slot(sy_writer_map(w), 2)->online), 1);
	a.n_backends = 2;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, NULL);
	assert_int_equal(sy_writer_reclaim(w), 0);
	assert_int_equal(atomic_load(&sy_region_slot(sy_writer_map(w), 2)->online), 0);
	sy_writer_close(w);
	unlink(path);
}

static void test_adopt_keeps_serving_and_refuses_second_writer(void **state)
{
	struct sy_backend_spec b[3] = { backend(1, 1), backend(2, 1), backend(3, 1) };
	struct sy_service_spec a = service("a", 1, 80, b, 2), c = service("c", 2, 80, b, 3);
	const struct sy_snapshot *snap;
	struct sy_writer *w = make_writer(), *w2;
	uint64_t root, gen, uid0, used, fr, used2;
	struct sy_region_map m;
	struct sy_reader r;
	char err[256];

	(void)state;
	sy_writer_set_service(w, &a, err, sizeof(err));
	sy_writer_set_service(w, &c, err, sizeof(err));
	commit_ok(w, NULL);
	/* a reader holds the old generation across the writer's restart */
	assert_int_equal(sy_region_map_open(path, &m, err, sizeof(err)), 0);
	assert_int_equal(sy_reader_register(&m, 0, &r, err, sizeof(err)), 0);
	sy_reader_begin(&r);
	a.n_backends = 3;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, NULL);
	assert_int_equal(sy_writer_reclaim(w), 2);
	snap = sy_writer_snapshot(w);
	root = atomic_load(&sy_writer_map(w)->hdr->root_off);
	gen = snap->generation;
	uid0 = sy_service_backends(sy_writer_map(w)->base, find(w, 1, 80))[0].uid;
	sy_writer_heap_usage(w, &used, &fr);

	assert_int_equal(sy_writer_adopt(path, NULL, &w2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "another writer"));
	sy_writer_close(w); /* as if sy-control died: the region stays */

	assert_int_equal(sy_writer_adopt(path, NULL, &w2, err, sizeof(err)), 0);
	assert_int_equal(atomic_load(&sy_writer_map(w2)->hdr->root_off), root);
	assert_int_equal(sy_writer_snapshot(w2)->generation, gen);
	/* live objects and the still-held retired ones are accounted for */
	sy_writer_heap_usage(w2, &used2, &fr);
	assert_int_equal(used2, used);
	assert_int_equal(sy_writer_reclaim(w2), 2);
	sy_reader_begin(&r);
	assert_int_equal(sy_writer_reclaim(w2), 0);

	/* the adopted writer continues: existing backends keep their uid */
	a.n_backends = 1;
	sy_writer_set_service(w2, &a, err, sizeof(err));
	commit_ok(w2, NULL);
	assert_int_equal(sy_service_backends(sy_writer_map(w2)->base, find(w2, 1, 80))[0].uid, uid0);
	assert_int_equal(find(w2, 2, 80)->n_backends, 3);
	sy_reader_unregister(&r);
	sy_region_map_close(&m);
	sy_writer_close(w2);
	unlink(path);
}

static void test_reused_counter_slots_start_at_zero(void **state)
{
	struct sy_backend_spec b[1] = { backend(1, 1) };
	struct sy_service_spec a = service("a", 1, 80, b, 1);
	struct sy_writer *w = make_writer();
	struct sy_region_map *m = sy_writer_map(w);
	uint32_t slot;
	char err[256];

	(void)state;
	sy_writer_set_service(w, &a, err, sizeof(err));
	commit_ok(w, NULL);
	slot = find(w, 1, 80)->slot;
	sy_stats_vips(sy_region_stats(m, 3))[slot].pkts = 99;
	sy_writer_remove_service(w, "a", err, sizeof(err));
	commit_ok(w, NULL);
	assert_int_equal(sy_writer_reclaim(w), 0);
	assert_int_equal(sy_stats_vips(sy_region_stats(m, 3))[slot].pkts, 0);
	sy_writer_close(w);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_rejects_foreign_and_stale_files),
		cmocka_unit_test(test_port_block),
		cmocka_unit_test(test_limits_and_spec_errors),
		cmocka_unit_test(test_failed_staging_keeps_the_others),
		cmocka_unit_test(test_publish_lookup_and_all_ports),
		cmocka_unit_test(test_only_changed_services_rebuilt_and_uids_kept),
		cmocka_unit_test(test_failed_commit_changes_nothing),
		cmocka_unit_test(test_failed_service_leaves_the_others_staged),
		cmocka_unit_test(test_reclamation_waits_for_online_readers),
		cmocka_unit_test(test_dead_reader_does_not_block_forever),
		cmocka_unit_test(test_adopt_keeps_serving_and_refuses_second_writer),
		cmocka_unit_test(test_reused_counter_slots_start_at_zero),
	};

	snprintf(path, sizeof(path), "/dev/shm/sy-region-test-%d", getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
