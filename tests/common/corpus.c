/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/pkt_hdr.h>

#include "corpus.h"

const char *const sy_corpus_counter_names[SY_C__COUNT] = {
#define SY_X(id, name, help) [SY_C_##id] = name,
	SY_COUNTERS(SY_X)
#undef SY_X
};

/* ---- Loading ----------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int unhex(const char *s, uint8_t **out, uint32_t *len)
{
	size_t n = strlen(s);

	*out = NULL;
	*len = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	if (n % 2)
		return -1;
	*out = malloc(n / 2 ? n / 2 : 1);
	if (!*out)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		(*out)[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = (uint32_t)(n / 2);
	return 0;
}

static int counter_index(const char *name)
{
	if (strcmp(name, "-") == 0)
		return -1;
	for (int i = 0; i < SY_C__COUNT; i++)
		if (strcmp(sy_corpus_counter_names[i], name) == 0)
			return i;
	return -2;
}

void sy_corpus_free(struct sy_corpus_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].in);
		free(c[i].out);
	}
	free(c);
}

long sy_corpus_load(const char *path, struct sy_corpus_case **cases)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0, alloc = 0;
	struct sy_corpus_case *c = NULL;
	int lineno = 0;

	if (!f) {
		fprintf(stderr, "%s: cannot open\n", path);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		char *tok[7], *save = NULL, *t;
		int nt = 0;
		struct sy_corpus_case *pc;

		lineno++;
		if (line[0] == '#')
			continue;
		for (t = strtok_r(line, " \t\r\n", &save); t && nt < 7;
		     t = strtok_r(NULL, " \t\r\n", &save))
			tok[nt++] = t;
		if (nt == 0)
			continue;
		if (nt != 5 && !(nt == 6 && strcmp(tok[5], "after") == 0))
			goto bad;
		if (n == alloc) {
			struct sy_corpus_case *nc;

			alloc = alloc ? alloc * 2 : 256;
			nc = realloc(c, alloc * sizeof(*c));
			if (!nc)
				goto bad;
			c = nc;
		}
		pc = &c[n];
		memset(pc, 0, sizeof(*pc));
		n++;
		pc->line = lineno;
		pc->after = nt == 6;
		if (pc->after && n == 1)
			goto bad; /* after nothing */
		pc->name = strdup(tok[0]);
		if (strcmp(tok[1], "tx") == 0)
			pc->verdict = SY_CORPUS_TX;
		else if (strcmp(tok[1], "kernel") == 0)
			pc->verdict = SY_CORPUS_KERNEL;
		else if (strcmp(tok[1], "drop") == 0)
			pc->verdict = SY_CORPUS_DROP;
		else
			goto bad;
		pc->counter = counter_index(tok[2]);
		if (!pc->name || pc->counter == -2 || unhex(tok[3], &pc->in, &pc->in_len) ||
		    !pc->in || unhex(tok[4], &pc->out, &pc->out_len) ||
		    (pc->verdict == SY_CORPUS_TX) != (pc->out != NULL))
			goto bad;
	}
	free(line);
	fclose(f);
	*cases = c;
	return (long)n;
bad:
	fprintf(stderr, "%s:%d: bad corpus line\n", path, lineno);
	free(line);
	fclose(f);
	sy_corpus_free(c, n);
	return -1;
}

/* ---- An independent reading of the input (test side) ----------------------------- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int sy_corpus_l2_skip(const uint8_t *d, uint32_t len, uint16_t *et)
{
	uint32_t off = 14;

	if (len < 14)
		return -1;
	*et = get16(d + 12);
	while (*et == SY_ETH_P_8021Q || *et == SY_ETH_P_8021AD) {
		if (off + 4 > len)
			return -1;
		*et = get16(d + off + 2);
		off += 4;
	}
	return (int)off;
}

int sy_corpus_read_tuple(const uint8_t *d, uint32_t len, struct sy_corpus_tuple *t)
{
	uint16_t et;
	int o = sy_corpus_l2_skip(d, len, &et);
	uint32_t off, l4, end = 0;
	bool first = true;
	uint8_t nh;

	memset(t, 0, sizeof(*t));
	if (o < 0)
		return -1;
	off = (uint32_t)o;
	if (et == SY_ETH_P_IPV4) {
		if (off + 20 > len || d[off] >> 4 != 4)
			return -1;
		t->family = SY_AF_INET;
		nh = d[off + 9];
		t->frag = (get16(d + off + 6) & 0x3fff) != 0;
		first = (get16(d + off + 6) & 0x1fff) == 0;
		end = off + get16(d + off + 2);
		memcpy(&t->key.src[0], d + off + 12, 4);
		memcpy(&t->key.dst[0], d + off + 16, 4);
		l4 = off + (uint32_t)(d[off] & 0xf) * 4;
		t->icmp_err = nh == 1 && l4 < len &&
			      (d[l4] == 3 || d[l4] == 11 || d[l4] == 12);
	} else if (et == SY_ETH_P_IPV6) {
		if (off + 40 > len || d[off] >> 4 != 6)
			return -1;
		t->family = SY_AF_INET6;
		nh = d[off + 6];
		memcpy(t->key.src, d + off + 8, 16);
		memcpy(t->key.dst, d + off + 24, 16);
		l4 = off + 40;
		end = l4 + get16(d + off + 4);
		while (nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51) {
			uint32_t hl;

			if (l4 + 8 > len)
				return -1;
			if (nh == 44) {
				hl = 8;
				t->frag |= (get16(d + l4 + 2) & 0xfff9) != 0; /* offset or M */
				first = (get16(d + l4 + 2) & 0xfff8) == 0;
			} else if (nh == 51) {
				hl = (d[l4 + 1] + 2u) * 4; /* AH: 4-octet units */
			} else {
				hl = (d[l4 + 1] + 1u) * 8;
			}
			nh = d[l4];
			l4 += hl;
		}
		t->icmp_err = nh == 58 && l4 < len && d[l4] >= 1 && d[l4] <= 4;
	} else {
		return -1;
	}
	t->proto = nh;
	t->key.family = t->family;
	t->key.proto = nh;
	if (end > len)
		end = len;
	/* a first fragment has the ports if its whole TCP header, or its UDP
	 * header with a length of at least 8, is in it (docs/dataplane.md) */
	if (t->frag && first && nh == 6)
		t->frag_first = l4 + 20 <= end && (d[l4 + 12] >> 4) * 4u >= 20 &&
				l4 + (d[l4 + 12] >> 4) * 4u <= end;
	if (t->frag && first && nh == 17)
		t->frag_first = l4 + 8 <= end && get16(d + l4 + 4) >= 8;
	if ((!t->frag || t->frag_first) && (nh == 6 || nh == 17)) {
		if (l4 + 4 > len)
			return -1;
		memcpy(&t->key.sport, d + l4, 2);
		memcpy(&t->key.dport, d + l4 + 2, 2);
	}
	return 0;
}

/* ---- Expectations ------------------------------------------------------------------ */

bool sy_corpus_needs_tuple(int counter)
{
	return counter == SY_C_FWD_PKTS || counter == SY_C_FRAGMENTS ||
	       counter == SY_C_FRAG_UNTRACKED || counter == SY_C_FRAG_FOLLOWED ||
	       counter == SY_C_ICMP_TO_BACKEND || counter == SY_C_ICMP_TOO_BIG_SENT ||
	       counter == SY_C_DROP_MTU || counter == SY_C_DROP_FAMILY ||
	       counter == SY_C_DROP_NO_ROOM || counter == SY_C_DROP_NO_BACKEND ||
	       counter == SY_C_ICMP_SUPPRESSED_DEST || counter == SY_C_ICMP_RATE_LIMITED ||
	       counter == SY_C_QUIC_CID_ROUTED || counter == SY_C_QUIC_CID_UNKNOWN;
}

void sy_corpus_expected_delta(const struct sy_corpus_case *c, const struct sy_corpus_tuple *t,
			      uint64_t exp[SY_C__COUNT])
{
	/* a later fragment in an `after` case follows its first (gen_corpus.py
	 * makes it so): its flow's entry is there */
	bool later = t->frag && !t->frag_first;
	enum sy_counter sel = later && c->after ? SY_C_CT_HIT
			      : later ? SY_C_FRAGMENTS
			      : t->icmp_err ? SY_C_ICMP_TO_BACKEND : SY_C_CT_NEW;

	memset(exp, 0, sizeof(uint64_t) * SY_C__COUNT);
	if (c->counter < 0)
		return;
	exp[c->counter] = 1;
	switch (c->counter) {
	case SY_C_FWD_PKTS:
		exp[SY_C_CT_NEW] = 1;
		break;
	case SY_C_FRAGMENTS:
		/* only first fragments are labelled so: tracked as their flow */
		exp[SY_C_FWD_PKTS] = 1;
		exp[SY_C_CT_NEW] = t->frag_first;
		break;
	case SY_C_FRAG_UNTRACKED:
		exp[SY_C_FRAGMENTS] = 1;
		exp[SY_C_FWD_PKTS] = 1;
		break;
	case SY_C_FRAG_FOLLOWED:
		/* after its first (an `after` case): the first's flow entry */
		exp[SY_C_FRAGMENTS] = 1;
		exp[SY_C_FWD_PKTS] = 1;
		exp[SY_C_CT_HIT] = 1;
		break;
	case SY_C_ICMP_TO_BACKEND:
		exp[SY_C_FWD_PKTS] = 1;
		break;
	case SY_C_QUIC_CID_ROUTED:
		/* by its connection ID: no conntrack (docs/dataplane.md) */
		exp[SY_C_FWD_PKTS] = 1;
		break;
	case SY_C_QUIC_CID_UNKNOWN:
		/* by the hash as any packet of a new flow */
		exp[SY_C_FWD_PKTS] = 1;
		exp[SY_C_CT_NEW] = 1;
		break;
	case SY_C_ICMP_SUPPRESSED_DEST:
	case SY_C_ICMP_RATE_LIMITED:
		/* too big and not answered: a drop_mtu too */
		exp[SY_C_DROP_MTU] = 1;
		if (sel == SY_C_CT_NEW)
			exp[sel] = 1;
		break;
	case SY_C_ICMP_TOO_BIG_SENT:
	case SY_C_DROP_MTU:
	case SY_C_DROP_FAMILY:
	case SY_C_DROP_NO_ROOM:
		/* a TCP/UDP flow is tracked before the rewrite fails; fragments
		 * and ICMP errors count how they were routed only when sent */
		if (sel == SY_C_CT_NEW || sel == SY_C_CT_HIT)
			exp[sel] = 1;
		break;
	default:
		break;
	}
}

int sy_corpus_check_backend(const uint8_t *base, const struct sy_snapshot *snap,
			    const struct sy_corpus_tuple *t, const uint8_t *out, uint32_t out_len,
			    char *why, size_t whylen)
{
	struct sy_vip_key k = { .family = t->family, .proto = t->proto, .port = t->key.dport };
	const struct sy_service *svc;
	const struct sy_backend *b;
	uint32_t idx, fields;
	uint16_t et;
	int o;

	memcpy(k.addr, t->key.dst, sizeof(k.addr));
	svc = t->frag && !t->frag_first ? sy_snapshot_vip_addr(base, snap, &k)
					 : sy_snapshot_match(base, snap, &k);
	if (!svc) {
		snprintf(why, whylen, "no service for the input's tuple");
		return -1;
	}
	/* the fields the service hashes (services[].hash), without the ports
	 * for a later fragment */
	fields = sy_service_hash_fields(svc);
	if (t->frag && !t->frag_first)
		fields = sy_hash_fields_without_ports(fields);
	idx = sy_service_pick(base, svc, sy_service_flow_hash(&t->key, svc->hash_seed, fields));
	if (idx == SY_MAGLEV_NONE) {
		snprintf(why, whylen, "service %s has no backend for the tuple", svc->name);
		return -1;
	}
	b = &sy_service_backends(base, svc)[idx];
	if (out_len < 14 || memcmp(out, b->mac, 6) != 0) {
		snprintf(why, whylen, "output MAC is not backend %u's", idx);
		return -1;
	}
	o = sy_corpus_l2_skip(out, out_len, &et);
	if (o <= 0) {
		snprintf(why, whylen, "output L2 header unreadable");
		return -1;
	}
	if (svc->fwd_mode == SY_FWD_L2DSR) {
		/* the IP packet is untouched: still to the VIP */
		if (et != (t->family == SY_AF_INET ? SY_ETH_P_IPV4 : SY_ETH_P_IPV6)) {
			snprintf(why, whylen, "l2dsr output ethertype %#x", et);
			return -1;
		}
		return 0;
	}
	if (b->id.family == SY_AF_INET) {
		if (et != SY_ETH_P_IPV4 || (uint32_t)o + 20 > out_len ||
		    memcmp(out + o + 16, &b->id.addr[0], 4) != 0) {
			snprintf(why, whylen, "outer IPv4 destination is not backend %u's", idx);
			return -1;
		}
	} else {
		if (et != SY_ETH_P_IPV6 || (uint32_t)o + 40 > out_len ||
		    memcmp(out + o + 24, b->id.addr, 16) != 0) {
			snprintf(why, whylen, "outer IPv6 destination is not backend %u's", idx);
			return -1;
		}
	}
	return 0;
}

void sy_corpus_report(const char *test, const char *path, const struct sy_corpus_case *cases,
		      size_t n, bool passed)
{
	size_t tx = 0, too_big = 0, kernel = 0, encap = 0, drops = 0;
	const char *v = passed ? "PASS" : "FAIL";

	for (size_t i = 0; i < n; i++) {
		if (cases[i].verdict == SY_CORPUS_TX && cases[i].counter == SY_C_ICMP_TOO_BIG_SENT)
			too_big++;
		else if (cases[i].verdict == SY_CORPUS_TX)
			tx++;
		else if (cases[i].verdict == SY_CORPUS_KERNEL)
			kernel++;
		else if (cases[i].counter == SY_C_DROP_ENCAPSULATED)
			encap++;
		else
			drops++;
	}
	printf("RELIABILITY|%s_forwarding|%zu crafted frames to VIPs (%s)|none|%s|"
	       "each sent to the backend predicted in its own service's set, output bytes exact; "
	       "%zu more too big after encapsulation answered with ICMP to the client\n",
	       test, tx, path, v, too_big);
	printf("RELIABILITY|%s_not_vip|%zu frames not for a balanced VIP/port (ARP, other addresses, "
	       "echo, NDP) (%s)|none|%s|all passed to the kernel untouched, none forwarded\n",
	       test, kernel, path, v);
	printf("RELIABILITY|%s_spoofed_tunnel|%zu encapsulated frames (ipip, 6in4, ...) to a VIP "
	       "(%s)|none|%s|all dropped and counted in drop_encapsulated\n",
	       test, encap, path, v);
	printf("RELIABILITY|%s_malformed|%zu malformed or unserviceable frames (%s)|none|%s|"
	       "all dropped, each counted under its reason\n",
	       test, drops, path, v);
	fflush(stdout);
}
