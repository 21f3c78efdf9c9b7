/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Configuration file parser and validator (see config.h, docs/control.md).
 *
 * The file is loaded with libyaml's document API (one node tree with marks)
 * and walked against the schema. Every check stops at the first problem and
 * formats one message "FILE:LINE: FIELD.PATH: what is wrong"; everything
 * allocated so far hangs off the struct sy_config, which is freed as a whole.
 *
 * Typing: libyaml does not resolve tags, so the scalar style decides: numbers
 * and booleans must be plain scalars (`port: "80"` is a string, an error);
 * strings may be plain or quoted; a plain empty, `~` or `null` scalar is "no
 * value", an error wherever a value is expected.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include <yaml.h>

#include <switchyard/maglev.h>
#include <switchyard/pkt_quic.h> /* SY_QUIC_SERVER_ID_MAX */
#include <switchyard/region_writer.h>

#include "config.h"
#include "config_schema.h" /* the allowed keys of every section */
#include "netaddr.h"       /* the backend address rule */

#define MAX_FILE_BYTES (16u << 20)
#define PATH_BUF 256

struct ctx {
	const char *file;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

/* One field being read: its key (NULL for a sequence item), its value and its
 * path for messages. */
struct fld {
	struct ctx *x;
	yaml_node_t *k, *v;
	char path[PATH_BUF];
};

/* ---- Messages ------------------------------------------------------------ */

static int failv(struct ctx *x, unsigned line, const char *path, const char *fmt,
		 va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!x->err || !x->errlen)
		return -1;
	if (path && *path)
		snprintf(x->err, x->errlen, "%s:%u: %s: %s", x->file, line, path, msg);
	else
		snprintf(x->err, x->errlen, "%s:%u: %s", x->file, line, msg);
	/* Keys and values are quoted from the file: keep the message one line. */
	for (char *c = x->err; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -1;
}

__attribute__((format(printf, 4, 5))) static int fail(struct ctx *x, unsigned line,
						      const char *path,
						      const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = failv(x, line, path, fmt, ap);
	va_end(ap);
	return r;
}

static unsigned line_of(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

/* At the value's line. */
__attribute__((format(printf, 2, 3))) static int ffail(struct fld *f, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = failv(f->x, line_of(f->v), f->path, fmt, ap);
	va_end(ap);
	return r;
}

/* At the key's line (a missing value may be marked on a later line). */
__attribute__((format(printf, 2, 3))) static int kfail(struct fld *f, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = failv(f->x, line_of(f->k ? f->k : f->v), f->path, fmt, ap);
	va_end(ap);
	return r;
}

static int oom(struct ctx *x)
{
	if (x->err && x->errlen)
		snprintf(x->err, x->errlen, "%s: out of memory", x->file);
	return -1;
}

/* out = "base.key" (or "key"), truncated to fit n bytes. */
static void join(char *out, size_t n, const char *base, const char *key)
{
	size_t used = 0;

	for (const char *parts[3] = { base && *base ? base : "", base && *base ? "." : "", key },
			*const *p = parts;
	     p < parts + 3; p++) {
		size_t l = strlen(*p);

		if (l > n - 1 - used)
			l = n - 1 - used;
		memcpy(out + used, *p, l);
		used += l;
	}
	out[used] = 0;
}

/* ---- Nodes --------------------------------------------------------------- */

static yaml_node_t *node(struct ctx *x, int id)
{
	return yaml_document_get_node(x->doc, id);
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_SCALAR_NODE:
		if (is_null(n))
			return "no value";
		return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "a scalar"
								       : "a quoted string";
	default:
		return "nothing";
	}
}

/* Checks that n is a mapping whose keys are strings, all in keys[], each
 * once. f describes n itself (its path is the prefix of its fields). */
static int check_map(struct fld *f, const char *const keys[])
{
	yaml_node_pair_t *p, *q;

	if (f->v->type != YAML_MAPPING_NODE) {
		if (is_null(f->v))
			return kfail(f, "has no value (expected a mapping)");
		return ffail(f, "expected a mapping, found %s", kind(f->v));
	}
	for (p = f->v->data.mapping.pairs.start; p < f->v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(f->x, p->key);
		char path[PATH_BUF], list[512] = "";
		size_t used = 0;
		bool known = false;

		if (k->type != YAML_SCALAR_NODE)
			return fail(f->x, line_of(k), f->path,
				    "a key must be a string, found %s", kind(k));
		if (strlen(sval(k)) != k->data.scalar.length)
			return fail(f->x, line_of(k), f->path, "a key contains a NUL character");
		join(path, sizeof(path), f->path, sval(k));
		for (size_t i = 0; keys[i]; i++) {
			if (!strcmp(keys[i], sval(k)))
				known = true;
			used += (size_t)snprintf(list + used, used < sizeof(list) ? sizeof(list) - used : 0,
						 "%s%s", i ? ", " : "", keys[i]);
			if (used >= sizeof(list))
				used = sizeof(list);
		}
		if (!known)
			return fail(f->x, line_of(k), path, "unknown key (expected one of: %s)",
				    list);
		for (q = f->v->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k0 = node(f->x, q->key);

			if (k0->type == YAML_SCALAR_NODE && !strcmp(sval(k0), sval(k)))
				return fail(f->x, line_of(k), path,
					    "duplicate key (first on line %u)", line_of(k0));
		}
	}
	return 0;
}

/* Finds key in the mapping described by m; 1 if present, else 0. */
static int field(struct fld *m, const char *key, struct fld *f)
{
	yaml_node_pair_t *p;

	f->x = m->x;
	f->k = f->v = NULL;
	join(f->path, sizeof(f->path), m->path, key);
	for (p = m->v->data.mapping.pairs.start; p < m->v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(m->x, p->key);

		if (k->type == YAML_SCALAR_NODE && !strcmp(sval(k), key)) {
			f->k = k;
			f->v = node(m->x, p->value);
			return 1;
		}
	}
	return 0;
}

static int missing(struct fld *m, const char *key)
{
	char path[PATH_BUF];

	join(path, sizeof(path), m->path, key);
	return fail(m->x, line_of(m->v), path, "required field is missing");
}

static int required(struct fld *m, const char *key, struct fld *f)
{
	return field(m, key, f) ? 0 : missing(m, key);
}

static void item(struct fld *seq, size_t i, struct fld *f)
{
	f->x = seq->x;
	f->k = NULL;
	f->v = node(seq->x, seq->v->data.sequence.items.start[i]);
	snprintf(f->path, sizeof(f->path), "%.200s[%zu]", seq->path, i);
}

static size_t seq_len(const struct fld *f)
{
	return (size_t)(f->v->data.sequence.items.top - f->v->data.sequence.items.start);
}

static int check_seq(struct fld *f, const char *hint)
{
	if (f->v->type == YAML_SEQUENCE_NODE)
		return 0;
	if (is_null(f->v))
		return kfail(f, "has no value (expected a sequence%s)", hint);
	return ffail(f, "expected a sequence%s, found %s", hint, kind(f->v));
}

/* ---- Scalars ------------------------------------------------------------- */

static int get_text(struct fld *f, const char *what, const char **s)
{
	if (f->v->type != YAML_SCALAR_NODE)
		return ffail(f, "expected %s, found %s", what, kind(f->v));
	if (is_null(f->v))
		return kfail(f, "has no value (expected %s)", what);
	if (strlen(sval(f->v)) != f->v->data.scalar.length)
		return ffail(f, "contains a NUL character");
	*s = sval(f->v);
	return 0;
}

/* Decimal or 0x hexadecimal, plain scalar. Rejects signs and leading zeros
 * (YAML 1.1 reads 010 as octal: ambiguous). */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && s[1]) {
		return -1;
	}
	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -1;
		if (v > (UINT64_MAX - d) / base)
			return -1;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

static int get_uint(struct fld *f, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s;

	if (get_text(f, "an integer", &s))
		return -1;
	if (f->v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return ffail(f, "expected an integer, found the string \"%.64s\"", s);
	if (parse_u64(s, out))
		return ffail(f, "expected an integer, found '%.64s'", s);
	if (*out < min || *out > max)
		return ffail(f, "%s is out of range (%llu..%llu)", s, (unsigned long long)min,
			     (unsigned long long)max);
	return 0;
}

static int get_u32(struct fld *f, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (get_uint(f, min, max, &v))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int get_bool(struct fld *f, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	const char *s;

	if (get_text(f, "true or false", &s))
		return -1;
	if (f->v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		for (size_t i = 0; i < 3; i++) {
			if (!strcasecmp(s, yes[i])) {
				*out = true;
				return 0;
			}
			if (!strcasecmp(s, no[i])) {
				*out = false;
				return 0;
			}
		}
	}
	return ffail(f, "expected true or false, found '%.64s'", s);
}

static int get_fraction(struct fld *f, double *out)
{
	const char *s;
	char *end;

	if (get_text(f, "a number", &s))
		return -1;
	if (f->v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return ffail(f, "expected a number, found the string \"%.64s\"", s);
	errno = 0;
	*out = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(*out) ||
	    strspn(s, "0123456789.eE+-") != strlen(s))
		return ffail(f, "expected a number, found '%.64s'", s);
	if (*out < 0.0 || *out > 1.0)
		return ffail(f, "%s is not in 0..1", s);
	return 0;
}

/* One of names[] (values in vals[]). */
static int get_enum(struct fld *f, const char *const names[], const int vals[],
		    const char *what, int *out)
{
	const char *s;

	if (get_text(f, what, &s))
		return -1;
	for (size_t i = 0; names[i]; i++) {
		if (!strcmp(s, names[i])) {
			*out = vals[i];
			return 0;
		}
	}
	return ffail(f, "'%.64s' is not %s", s, what);
}

#define NAME_NO_LEADING_DASH 1

static int get_name(struct fld *f, char *out, size_t cap, unsigned flags,
		    const char *what)
{
	const char *s;
	size_t n;
	bool ok;

	if (get_text(f, what, &s))
		return -1;
	n = strlen(s);
	ok = n >= 1 && n < cap && !((flags & NAME_NO_LEADING_DASH) && s[0] == '-');
	for (size_t i = 0; ok && i < n; i++) {
		char ch = s[i];

		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
	}
	if (!ok)
		return ffail(f, "'%.80s' is not a valid %s ([A-Za-z0-9_.-], 1..%zu characters%s)", s,
			     what, cap - 1,
			     flags & NAME_NO_LEADING_DASH ? ", not starting with '-'" : "");
	memcpy(out, s, n + 1);
	return 0;
}

/* An absolute path shorter than maxlen bytes; *out is replaced. */
static int get_abs_path(struct fld *f, size_t maxlen, char **out)
{
	const char *s;
	char *d;

	if (get_text(f, "a path", &s))
		return -1;
	if (s[0] != '/')
		return ffail(f, "'%.80s' is not an absolute path", s);
	if (strlen(s) >= maxlen)
		return ffail(f, "path is longer than %zu bytes", maxlen - 1);
	d = strdup(s);
	if (!d)
		return oom(f->x);
	free(*out);
	*out = d;
	return 0;
}

static int parse_ip(const char *s, uint8_t *family, uint32_t addr[4])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = SY_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = SY_AF_INET6;
		return 0;
	}
	return -1;
}

static int get_addr(struct fld *f, uint8_t *family, uint32_t addr[4])
{
	const char *s;

	if (get_text(f, "an IPv4 or IPv6 address", &s))
		return -1;
	if (parse_ip(s, family, addr))
		return ffail(f, "'%.80s' is not an IPv4 or IPv6 address", s);
	return 0;
}

static bool addr_zero(const uint32_t a[4])
{
	return !(a[0] | a[1] | a[2] | a[3]);
}

/* An outer source address of the given family (not the unspecified one). */
static int get_encap_source(struct fld *f, uint8_t want, uint32_t addr[4])
{
	uint8_t fam;

	if (get_addr(f, &fam, addr))
		return -1;
	if (fam != want)
		return ffail(f, "'%.80s' is not an %s address", sval(f->v),
			     want == SY_AF_INET ? "IPv4" : "IPv6");
	if (addr_zero(addr))
		return ffail(f, "the unspecified address cannot be a source");
	return 0;
}

/* ADDR:PORT or [ADDR6]:PORT, port 1..65535. */
static int get_hostport(struct fld *f, char **host, uint8_t *family, uint32_t addr[4],
			uint16_t *port)
{
	static const char hint[] =
		"expected ADDRESS:PORT or \"[IPV6]:PORT\" (quote IPv6 in brackets)";
	const char *s, *colon, *hs;
	char h[INET6_ADDRSTRLEN + 1];
	size_t hl;
	uint64_t p;

	if (f->v->type != YAML_SCALAR_NODE)
		return ffail(f, "%s, found %s", hint, kind(f->v));
	if (get_text(f, "ADDRESS:PORT", &s))
		return -1;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return ffail(f, "'%.80s': %s", s, hint);
		hs = s + 1;
		hl = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return ffail(f, "'%.80s': %s", s, hint);
		hs = s;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(h))
		return ffail(f, "'%.80s' is not an IPv4 or IPv6 address and port", s);
	memcpy(h, hs, hl);
	h[hl] = 0;
	if (parse_ip(h, family, addr) || (s[0] == '[' && *family != SY_AF_INET6))
		return ffail(f, "'%s' is not an IPv4 or IPv6 address", h);
	if (parse_u64(colon + 1, &p) || p < 1 || p > 65535)
		return ffail(f, "'%.16s' is not a port (1..65535)", colon + 1);
	*port = (uint16_t)p;
	*host = strdup(h);
	if (!*host)
		return oom(f->x);
	return 0;
}

static int get_prefix(struct fld *f, struct sy_config_prefix *out)
{
	const char *s, *slash;
	char a[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
	uint64_t len;
	unsigned max;
	size_t al;
	uint8_t bytes[16];

	if (get_text(f, "a prefix (ADDRESS/LENGTH)", &s))
		return -1;
	slash = strchr(s, '/');
	al = slash ? (size_t)(slash - s) : 0;
	if (!slash || al == 0 || al >= sizeof(a))
		return ffail(f, "'%.80s' is not a prefix (ADDRESS/LENGTH)", s);
	memcpy(a, s, al);
	a[al] = 0;
	memset(out, 0, sizeof(*out));
	if (parse_ip(a, &out->family, out->addr))
		return ffail(f, "'%.80s' is not a prefix: '%s' is not an address", s, a);
	max = out->family == SY_AF_INET ? 32 : 128;
	if (parse_u64(slash + 1, &len) || len > max)
		return ffail(f, "'%.80s' is not a prefix: length must be 0..%u", s, max);
	out->prefix_len = (uint8_t)len;
	memcpy(bytes, out->addr, 16);
	for (unsigned bit = (unsigned)len; bit < max; bit++)
		bytes[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	if (memcmp(bytes, out->addr, max / 8)) {
		inet_ntop(out->family == SY_AF_INET ? AF_INET : AF_INET6, bytes, canon,
			  sizeof(canon));
		return ffail(f, "'%.80s' has host bits set (did you mean %s/%u?)", s, canon,
			     (unsigned)len);
	}
	return 0;
}

static int get_mac(struct fld *f, uint8_t mac[6])
{
	const char *s;
	bool ok;

	if (get_text(f, "a MAC address", &s))
		return -1;
	ok = strlen(s) == 17;
	for (size_t i = 0; ok && i < 17; i++) {
		if (i % 3 == 2)
			ok = s[i] == ':';
		else
			ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
			     (s[i] >= 'A' && s[i] <= 'F');
	}
	if (!ok)
		return ffail(f, "'%.80s' is not a MAC address (xx:xx:xx:xx:xx:xx)", s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)strtoul(s + 3 * i, NULL, 16);
	if (mac[0] & 1)
		return ffail(f, "%s is a multicast MAC address", s);
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return ffail(f, "%s is the zero MAC address", s);
	return 0;
}

static int get_port(struct fld *f, uint16_t *host_order)
{
	uint32_t p;

	if (get_u32(f, 1, 65535, &p))
		return -1;
	*host_order = (uint16_t)p;
	return 0;
}

static int get_table_size(struct fld *f, uint32_t *out)
{
	char msg[128];
	uint64_t v;

	if (get_uint(f, 0, UINT64_MAX, &v))
		return -1;
	if (v > UINT32_MAX)
		return ffail(f, "table size %s out of range %u..%u", sval(f->v), SY_MAGLEV_MIN_M,
			     SY_MAGLEV_MAX_M);
	if (sy_maglev_check_size((uint32_t)v, msg, sizeof(msg)))
		return ffail(f, "%s", msg);
	*out = (uint32_t)v;
	return 0;
}

static void fmt_addr(uint8_t family, const uint32_t addr[4], char *out, size_t n)
{
	if (!inet_ntop(family == SY_AF_INET ? AF_INET : AF_INET6, addr, out, (socklen_t)n))
		snprintf(out, n, "?");
}

/* ---- Sections ------------------------------------------------------------ */

static int parse_limits(struct fld *m, struct sy_region_limits *l)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_LIMITS(SY_CONFIG_KEY_NAME, ~) NULL };
	struct fld f;
	uint32_t mb;

	if (check_map(m, keys))
		return -1;
	if (field(m, "lcores", &f) && get_u32(&f, 1, 1024, &l->max_lcores))
		return -1;
	if (field(m, "services", &f) && get_u32(&f, 1, 65536, &l->max_services))
		return -1;
	if (field(m, "backends", &f) && get_u32(&f, 1, 1u << 24, &l->max_backends))
		return -1;
	if (field(m, "heap_mb", &f)) {
		if (get_u32(&f, 1, 65536, &mb))
			return -1;
		l->heap_size = (uint64_t)mb << 20;
	}
	return 0;
}

static bool is_loopback(uint8_t family, const uint32_t a[4])
{
	static const uint8_t lo6[16] = { [15] = 1 };

	if (family == SY_AF_INET)
		return ((const uint8_t *)a)[0] == 127;
	return !memcmp(a, lo6, 16);
}

static int parse_api(struct fld *m, struct sy_config_api *api)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_API(SY_CONFIG_KEY_NAME, ~) NULL };
	struct fld f, tcp;
	bool has_tcp;

	if (check_map(m, keys))
		return -1;
	if (field(m, "socket", &f) &&
	    get_abs_path(&f, sizeof(((struct sockaddr_un *)0)->sun_path), &api->socket))
		return -1;
	if (field(m, "group", &f)) {
		char g[SY_CONFIG_GROUP_MAX];

		if (get_name(&f, g, sizeof(g), NAME_NO_LEADING_DASH, "group name"))
			return -1;
		api->group = strdup(g);
		if (!api->group)
			return oom(m->x);
	}
	if (field(m, "tcp_any", &f) && get_bool(&f, &api->tcp_any))
		return -1;
	if (field(m, "token_file", &f) && get_abs_path(&f, PATH_MAX, &api->token_file))
		return -1;
	has_tcp = field(m, "tcp", &tcp);
	if (has_tcp) {
		if (get_hostport(&tcp, &api->tcp_host, &api->tcp_family, api->tcp_addr,
				 &api->tcp_port))
			return -1;
		if (!api->tcp_any && !is_loopback(api->tcp_family, api->tcp_addr))
			return ffail(&tcp,
				     "%s is not a loopback address: the TCP API is loopback "
				     "only unless tcp_any: true",
				     api->tcp_host);
		if (!api->token_file)
			return ffail(&tcp, "a TCP listener needs token_file (bearer token)");
	}
	return 0;
}

static int parse_defaults(struct fld *m, struct sy_config_defaults *d)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_DEFAULTS(SY_CONFIG_KEY_NAME, ~) NULL };
	struct fld f;
	uint32_t a[4];
	uint16_t port;

	if (check_map(m, keys))
		return -1;
	if (field(m, "table_size", &f) && get_table_size(&f, &d->table_size))
		return -1;
	if (field(m, "hash_seed", &f) && get_u32(&f, 0, UINT32_MAX, &d->hash_seed))
		return -1;
	if (field(m, "encap_source4", &f)) {
		if (get_encap_source(&f, SY_AF_INET, a))
			return -1;
		d->encap_source4 = a[0];
	}
	if (field(m, "encap_source6", &f) && get_encap_source(&f, SY_AF_INET6, d->encap_source6))
		return -1;
	if (field(m, "gue_port", &f)) {
		if (get_port(&f, &port))
			return -1;
		d->gue_port = htons(port);
	}
	return 0;
}

/* An optional string field copied into *out. */
static int get_string(struct fld *m, const char *key, char **out)
{
	struct fld f;
	const char *s;

	if (!field(m, key, &f))
		return 0;
	if (get_text(&f, "a string", &s))
		return -1;
	if (!*s)
		return ffail(&f, "must not be empty");
	*out = strdup(s);
	return *out ? 0 : oom(m->x);
}

/* registry.<kind>'s fields, by key name (registry_kinds.h lists each
 * kind's keys: a key not here fails the config_schema test). */
static char **registry_text(struct sy_config_registry *r, const char *key)
{
	static const struct {
		const char *key;
		size_t off;
	} t[] = {
		{ "prefix", offsetof(struct sy_config_registry, prefix) },
		{ "ca_file", offsetof(struct sy_config_registry, ca_file) },
		{ "cert_file", offsetof(struct sy_config_registry, cert_file) },
		{ "key_file", offsetof(struct sy_config_registry, key_file) },
		{ "username", offsetof(struct sy_config_registry, username) },
		{ "password_file", offsetof(struct sy_config_registry, password_file) },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(key, t[i].key))
			return (char **)((char *)r + t[i].off);
	return NULL;
}

static uint32_t *registry_u32(struct sy_config_registry *r, const char *key)
{
	if (!strcmp(key, "timeout_ms"))
		return &r->timeout_ms;
	if (!strcmp(key, "session_timeout_ms"))
		return &r->session_timeout_ms;
	return NULL;
}

/* The servers key: 1..SY_CONFIG_MAX_ENDPOINTS http(s) URLs, or one string. */
static int get_registry_servers(struct fld *m, const struct sy_config_key_doc *k,
				struct sy_config_registry *r)
{
	struct fld f, ef;
	size_t n;

	if (required(m, k->key, &f))
		return -1;
	if (k->type != SY_CT_URL_LIST) {
		if (get_string(m, k->key, &r->servers[0]))
			return -1;
		r->n_servers = 1;
		return 0;
	}
	if (check_seq(&f, " of URLs"))
		return -1;
	n = seq_len(&f);
	if (!n || n > SY_CONFIG_MAX_ENDPOINTS)
		return ffail(&f, "1..%d %s", SY_CONFIG_MAX_ENDPOINTS, k->key);
	for (size_t i = 0; i < n; i++) {
		const char *u;

		item(&f, i, &ef);
		if (get_text(&ef, "a URL", &u))
			return -1;
		if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
			return ffail(&ef, "'%s' is not an http:// or https:// URL", u);
		r->servers[i] = strdup(u);
		if (!r->servers[i])
			return oom(m->x);
		r->n_servers++;
	}
	return 0;
}

/* An INT key's range, "MIN..MAX" in the schema (the test holds it to the
 * loader's). */
static void schema_range(const struct sy_config_key_doc *k, uint32_t *min, uint32_t *max)
{
	unsigned long lo = 0, hi = UINT32_MAX;

	sscanf(k->range, "%lu..%lu", &lo, &hi);
	*min = (uint32_t)lo;
	*max = (uint32_t)hi;
}

/* Two keys that are both set or neither. */
static int together(struct fld *m, const char *a, const char *va, const char *b, const char *vb)
{
	struct fld f;

	if (!va == !vb)
		return 0;
	field(m, va ? a : b, &f);
	return ffail(&f, "%s and %s go together", a, b);
}

/* registry.<name> of a registry kind, read by its keys in the schema:
 * the servers key, the prefix (default and rule), the files, the
 * credentials, the timeouts (default and range from the schema). */
static int parse_registry_kind(struct fld *m, const char *name, const char *servers_key,
			       bool dir, struct sy_config_registry *r)
{
	const char *keys[32];
	const struct sy_config_key_doc *k;
	char path[64];
	size_t nk = 0;
	struct fld f;

	snprintf(path, sizeof(path), "registry.%s", name);
	for (size_t i = 0; i < sy_config_n_keys && nk < 31; i++)
		if (!strcmp(sy_config_keys[i].section, path))
			keys[nk++] = sy_config_keys[i].key;
	keys[nk] = NULL;
	if (check_map(m, keys))
		return -1;
	r->enabled = true;
	for (size_t i = 0; i < sy_config_n_keys; i++) {
		uint32_t *u, min, max;
		char **t;

		k = &sy_config_keys[i];
		if (strcmp(k->section, path))
			continue;
		if (!strcmp(k->key, servers_key)) {
			if (get_registry_servers(m, k, r))
				return -1;
		} else if ((u = registry_u32(r, k->key))) {
			schema_range(k, &min, &max);
			*u = (uint32_t)strtoul(k->def, NULL, 10);
			if (field(m, k->key, &f) && get_u32(&f, min, max, u))
				return -1;
		} else if ((t = registry_text(r, k->key))) {
			if (k->type == SY_CT_PATH ? field(m, k->key, &f) && get_abs_path(&f, PATH_MAX, t)
						  : get_string(m, k->key, t))
				return -1;
			if (!strcmp(k->key, "prefix") && !*t && !(*t = strdup(k->def)))
				return oom(m->x);
		} else {
			return ffail(m, "%s: a key this version cannot read", k->key);
		}
	}
	if (r->prefix) {
		const char *why = sy_registry_prefix_check(r->prefix, dir);

		if (why)
			return field(m, "prefix", &f), ffail(&f, "%s", why);
	}
	/* ZooKeeper's digest scheme splits "user:password" at the first ':' */
	if (!strcmp(name, "zookeeper") && r->username && strchr(r->username, ':'))
		return field(m, "username", &f), ffail(&f, "a digest user name has no ':'");
	return together(m, "cert_file", r->cert_file, "key_file", r->key_file) ||
	       together(m, "username", r->username, "password_file", r->password_file);
}

/* A list of 1..max prefixes into a new array (*out, *n). */
static int get_prefix_list(struct fld *m, struct fld *f, size_t max,
			   struct sy_config_prefix **out, size_t *n)
{
	struct fld pf;
	size_t len;

	if (check_seq(f, " of prefixes"))
		return -1;
	len = seq_len(f);
	if (!len)
		return ffail(f, "at least one prefix is required");
	if (len > max)
		return ffail(f, "at most %zu prefixes", max);
	*out = calloc(len, sizeof(**out));
	if (!*out)
		return oom(m->x);
	*n = len;
	for (size_t i = 0; i < len; i++) {
		item(f, i, &pf);
		if (get_prefix(&pf, &(*out)[i]))
			return -1;
	}
	return 0;
}

/* registry.embedded.read (docs/registry-api.md, "Access") */
static int parse_read(struct fld *m, struct sy_config_read *r)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_READ(SY_CONFIG_KEY_NAME, ~) NULL };
	struct fld f, sf;
	size_t n;

	if (check_map(m, keys))
		return -1;
	r->enabled = true;
	r->max_watchers = SY_CONFIG_DEFAULT_MAX_WATCHERS;
	if (field(m, "token_file", &f) && get_abs_path(&f, PATH_MAX, &r->token_file))
		return -1;
	if (field(m, "unauthenticated", &f) && get_bool(&f, &r->unauthenticated))
		return -1;
	if (r->token_file && r->unauthenticated)
		return ffail(&f, "true, but token_file is set: choose one");
	if (!r->token_file && !r->unauthenticated)
		return ffail(m, "needs token_file (the read token), or unauthenticated: true");
	if (field(m, "services", &f)) {
		if (check_seq(&f, " of service-name prefixes"))
			return -1;
		n = seq_len(&f);
		if (!n || n > SY_CONFIG_READ_MAX_SERVICES)
			return ffail(&f, "1..%d service-name prefixes", SY_CONFIG_READ_MAX_SERVICES);
		r->services = calloc(n, sizeof(*r->services));
		if (!r->services)
			return oom(m->x);
		r->n_services = n;
		for (size_t i = 0; i < n; i++) {
			item(&f, i, &sf);
			if (get_name(&sf, r->services[i], SY_NAME_MAX, 0, "service-name prefix"))
				return -1;
		}
	}
	if (field(m, "allowed_prefixes", &f) &&
	    get_prefix_list(m, &f, 64, &r->allowed_prefixes, &r->n_allowed_prefixes))
		return -1;
	if (field(m, "max_watchers", &f) && get_u32(&f, 1, 4096, &r->max_watchers))
		return -1;
	return 0;
}

static int parse_registry(struct fld *m, struct sy_config *c)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_REGISTRY(SY_CONFIG_KEY_NAME, ~) NULL };
	static const char *const ekeys[] = { SY_CONFIG_KEYS_EMBEDDED(SY_CONFIG_KEY_NAME, ~) NULL };
	struct sy_config_embedded *e = &c->registry.embedded;
	struct fld em, f;

	if (check_map(m, keys))
		return -1;
#define PARSE_REGISTRY(ID, name, req, dir, sdesc, kdesc, a, b)                               \
	if (field(m, #name, &f) &&                                                           \
	    parse_registry_kind(&f, #name, req, dir, &c->registry.kind[SY_REGISTRY_##ID]))   \
		return -1;
	SY_REGISTRY_KINDS(PARSE_REGISTRY, ~, ~)
#undef PARSE_REGISTRY
	if (!field(m, "embedded", &em))
		return 0;
	if (check_map(&em, ekeys))
		return -1;
	e->enabled = true;
	if (required(&em, "listen", &f) ||
	    get_hostport(&f, &e->listen_host, &e->listen_family, e->listen_addr,
			 &e->listen_port))
		return -1;
	if (required(&em, "allowed_prefixes", &f) ||
	    get_prefix_list(m, &f, SIZE_MAX, &e->allowed_prefixes, &e->n_allowed_prefixes))
		return -1;
	if (field(&em, "max_clock_skew_s", &f) && get_u32(&f, 1, 3600, &e->max_clock_skew_s))
		return -1;
	if (field(&em, "idle_timeout_s", &f) && get_u32(&f, 1, 3600, &e->idle_timeout_s))
		return -1;
	if (field(&em, "request_deadline_s", &f) && get_u32(&f, 1, 3600, &e->request_deadline_s))
		return -1;
	if (field(&em, "read", &f) && parse_read(&f, &e->read))
		return -1;
	return 0;
}

static int parse_bgp(struct fld *m, struct sy_config_bgp *b)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_BGP(SY_CONFIG_KEY_NAME, ~) NULL };
	static const char *const daemons[] = { "none", "bird", NULL };
	static const int dvals[] = { SY_BGP_NONE, SY_BGP_BIRD };
	struct fld f;
	int v;

	if (check_map(m, keys))
		return -1;
	if (field(m, "daemon", &f)) {
		if (get_enum(&f, daemons, dvals, "a BGP daemon (none or bird)", &v))
			return -1;
		b->daemon = (enum sy_bgp_daemon)v;
	}
	if ((field(m, "required", &f) && get_bool(&f, &b->required)) ||
	    (field(m, "socket", &f) &&
	     get_abs_path(&f, sizeof(((struct sockaddr_un *)0)->sun_path), &b->socket)) ||
	    (field(m, "include_file", &f) && get_abs_path(&f, PATH_MAX, &b->include_file)) ||
	    (field(m, "announce_on_fail_static", &f) && get_bool(&f, &b->announce_on_fail_static)) ||
	    (field(m, "hold_down_s", &f) && get_u32(&f, 0, 3600, &b->hold_down_s)) ||
	    (field(m, "hold_down_max_s", &f) && get_u32(&f, 0, 86400, &b->hold_down_max_s)) ||
	    (field(m, "stable_s", &f) && get_u32(&f, 1, 86400, &b->stable_s)))
		return -1;
	if (field(m, "protocol", &f)) {
		const char *s;
		size_t n;
		bool ok;

		if (get_text(&f, "a BIRD protocol name", &s))
			return -1;
		n = strlen(s);
		/* a BIRD symbol, and room for the 4 / 6 after it */
		ok = n >= 1 && n < SY_BGP_PROTOCOL_MAX - 1 &&
		     ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_');
		for (size_t i = 1; ok && i < n; i++)
			ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			     (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
		if (!ok)
			return ffail(&f, "'%.80s' is not a BIRD protocol name ([A-Za-z_][A-Za-z0-9_]{0,%d})",
				     s, SY_BGP_PROTOCOL_MAX - 3);
		memcpy(b->protocol, s, n + 1);
	}
	if (b->hold_down_max_s < b->hold_down_s) {
		if (!field(m, "hold_down_max_s", &f))
			field(m, "hold_down_s", &f);
		return ffail(&f, "hold_down_max_s (%u) is less than hold_down_s (%u)",
			     b->hold_down_max_s, b->hold_down_s);
	}
	return 0;
}

static const char *const check_types[] = { "none", "tcp", "http", "https", "udp", NULL };

const char *sy_check_type_name(enum sy_check_type t)
{
	return (unsigned)t < sizeof(check_types) / sizeof(check_types[0]) - 1 ? check_types[t] : "?";
}

/* A udp check's text (send, receive): printable ASCII, at most 512 bytes;
 * default "". */
static int check_text(struct fld *m, const char *key, char **out)
{
	const char *v = "";
	struct fld f;
	bool ok = true;

	if (field(m, key, &f)) {
		if (get_text(&f, "a text", &v))
			return -1;
		ok = strlen(v) <= 512;
		for (const char *q = v; ok && *q; q++)
			ok = *q >= ' ' && *q < 0x7f;
		if (!ok)
			return ffail(&f, "'%.80s' is not printable ASCII of at most 512 bytes", v);
	}
	*out = strdup(v);
	return *out ? 0 : oom(m->x);
}

static int parse_check(struct fld *m, struct sy_config_check *c)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_CHECK(SY_CONFIG_KEY_NAME, ~) NULL };
	static const int tvals[] = { SY_CHECK_NONE, SY_CHECK_TCP, SY_CHECK_HTTP, SY_CHECK_HTTPS,
				     SY_CHECK_UDP };
	bool http;
	static const char *const probe_keys[] = { "interval_ms", "timeout_ms", "rise", "fall",
						  NULL };
	struct fld f, tf;
	int t;

	if (check_map(m, keys))
		return -1;
	if (required(m, "type", &f) ||
	    get_enum(&f, check_types, tvals, "a check type (none, tcp, http, https or udp)", &t))
		return -1;
	c->type = (enum sy_check_type)t;
	http = c->type == SY_CHECK_HTTP || c->type == SY_CHECK_HTTPS;
	if (c->type == SY_CHECK_NONE) {
		for (size_t i = 0; probe_keys[i]; i++)
			if (field(m, probe_keys[i], &f))
				return kfail(&f, "only used with a check (type tcp, http, https or udp)");
	}
	if (!http) {
		if (field(m, "path", &f) || field(m, "expect", &f))
			return kfail(&f, "only used with type http or https");
	}
	if (c->type != SY_CHECK_UDP) {
		if (field(m, "send", &f) || field(m, "receive", &f))
			return kfail(&f, "only used with type udp");
	} else if (check_text(m, "send", &c->send) || check_text(m, "receive", &c->receive)) {
		return -1;
	}
	if (field(m, "through", &f)) {
		static const char *const ways[] = { "direct", "tunnel", NULL };
		static const int wvals[] = { 0, 1 };
		int w;

		if (get_enum(&f, ways, wvals, "direct or tunnel", &w))
			return -1;
		if (w && c->type != SY_CHECK_TCP)
			return ffail(&f, "through: tunnel is a tcp check's (a SYN through the "
				     "tunnel, answered by the VIP)");
		c->through_tunnel = w;
	}
	if (field(m, "interval_ms", &f) && get_u32(&f, 10, 3600000, &c->interval_ms))
		return -1;
	if (field(m, "timeout_ms", &tf) && get_u32(&tf, 1, 3600000, &c->timeout_ms))
		return -1;
	if (c->timeout_ms > c->interval_ms) {
		if (!tf.v)
			field(m, "interval_ms", &tf);
		return ffail(&tf, "timeout_ms (%u) must not exceed interval_ms (%u)",
			     c->timeout_ms, c->interval_ms);
	}
	if (field(m, "rise", &f) && get_u32(&f, 1, 100, &c->rise))
		return -1;
	if (field(m, "fall", &f) && get_u32(&f, 1, 100, &c->fall))
		return -1;
	if (http) {
		const char *p = "/";
		uint32_t e = 200;
		bool ok;

		if (field(m, "path", &f)) {
			if (get_text(&f, "a URL path", &p))
				return -1;
			ok = p[0] == '/' && strlen(p) <= 1024;
			for (const char *q = p; ok && *q; q++)
				ok = *q > ' ' && *q < 0x7f;
			if (!ok)
				return ffail(&f,
					     "'%.80s' is not a URL path ('/' then printable "
					     "ASCII without spaces, at most 1024 bytes)",
					     p);
		}
		if (field(m, "expect", &f) && get_u32(&f, 100, 599, &e))
			return -1;
		c->expect = (uint16_t)e;
		c->path = strdup(p);
		if (!c->path)
			return oom(m->x);
	}
	return 0;
}

static int parse_health(struct fld *m, struct sy_config_health *h)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_HEALTH(SY_CONFIG_KEY_NAME, ~) NULL };
	struct fld f;

	if (check_map(m, keys))
		return -1;
	if (field(m, "default_ttl_s", &f) && get_u32(&f, 1, 86400, &h->default_ttl_s))
		return -1;
	if (field(m, "check", &f) && parse_check(&f, &h->check))
		return -1;
	if (field(m, "hold_down_s", &f) && get_u32(&f, 0, 86400, &h->hold_down_s))
		return -1;
	if (field(m, "panic_threshold", &f) && get_fraction(&f, &h->panic_threshold))
		return -1;
	if (field(m, "panic_window_s", &f) && get_u32(&f, 1, 86400, &h->panic_window_s))
		return -1;
	return 0;
}

static int parse_backend(struct fld *m, const struct sy_config_service *s,
			 struct sy_config_backend *b)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_BACKEND(SY_CONFIG_KEY_NAME, ~) NULL };
	const char *why;
	struct fld f;

	if (check_map(m, keys))
		return -1;
	b->line = line_of(m->v);
	b->weight = 1;
	b->port = ntohs(s->vip.port);
	if (required(m, "address", &f) || get_addr(&f, &b->family, b->addr))
		return -1;
	if ((why = sy_backend_addr_unusable(b->family, b->addr)))
		return ffail(&f, "%s cannot be a backend: %s", sval(f.v), why);
	if (field(m, "port", &f)) {
		unsigned min = s->vip.port ? 1 : 0;
		uint64_t p;

		/* 0 names the backend of an all-ports service (it serves the
		 * client's port); in a one-port service it is a mistake */
		if (get_uint(&f, 0, UINT64_MAX, &p))
			return -1;
		if (p < min || p > 65535)
			return ffail(&f, "%s is out of range (%u..65535)%s", sval(f.v), min,
				     p ? "" : ": 0 only in an all-ports service");
		b->port = (uint16_t)p;
	}
	if (field(m, "weight", &f) && get_u32(&f, 0, SY_MAGLEV_MAX_WEIGHT, &b->weight))
		return -1;
	if (field(m, "mac", &f)) {
		if (get_mac(&f, b->mac))
			return -1;
		b->has_mac = true;
	}
	if (field(m, "zone", &f) && get_name(&f, b->zone, sizeof(b->zone), 0, "zone name"))
		return -1;
	if (field(m, "server_id", &f) && get_u32(&f, 1, SY_QUIC_SERVER_ID_MAX, &b->server_id))
		return -1;
	return 0;
}

/* A QUIC server ID names one backend of its service. */
static int check_server_id(struct fld *bf, const struct sy_config_service *s, size_t i)
{
	const struct sy_config_backend *b = &s->backends[i];
	struct fld f;

	for (size_t j = 0; b->server_id && j < i; j++)
		if (s->backends[j].server_id == b->server_id) {
			field(bf, "server_id", &f);
			return ffail(&f, "server ID %u (0x%x) is also backends[%zu]'s (line %u): "
					 "one backend per QUIC server ID in a service",
				     b->server_id, b->server_id, j, s->backends[j].line);
		}
	return 0;
}

/* Forwarding modes as the configuration writes them, by mode - 1. */
static const char *const fwd_modes[] = { "ipip", "gue", "l2dsr", NULL };
static const int fwd_mode_vals[] = { SY_FWD_IPIP, SY_FWD_GUE, SY_FWD_L2DSR };

bool sy_config_instance_ok(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n < SY_CONFIG_INSTANCE_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

const char *sy_fwd_mode_name(unsigned mode)
{
	return mode >= SY_FWD_IPIP && mode <= SY_FWD_L2DSR ? fwd_modes[mode - 1] : "?";
}

/* services[].hash, in enum sy_hash_fields order */
static const char *const hash_fields_names[] = { SY_HASH_FIELDS_NAMES, NULL };
static const int hash_fields_vals[] = { SY_HASH_5TUPLE, SY_HASH_3TUPLE, SY_HASH_SRC_IP,
					SY_HASH_SRC_IP_PORT };

unsigned sy_fwd_mode_parse(const char *name)
{
	for (unsigned i = 0; fwd_modes[i]; i++)
		if (!strcmp(fwd_modes[i], name))
			return (unsigned)fwd_mode_vals[i];
	return 0;
}

/* Cross-field rules of one service, after all its fields are read. */
static int check_service(struct fld *m, struct sy_config_service *s)
{
	bool has4 = s->encap_source4 != 0, has6 = !addr_zero(s->encap_source6);
	struct fld f, bl, bf;

	if (s->mode == SY_FWD_IPIP || s->mode == SY_FWD_GUE) {
		if (!has4 && !has6) {
			field(m, "mode", &f);
			return ffail(&f,
				     "mode %s needs encap_source4 or encap_source6 (in the "
				     "service or in defaults)",
				     sy_fwd_mode_name(s->mode));
		}
	}
	/* the probe goes to the backends of the VIP's family, from that
	 * family's encap source */
	if (s->health.check.through_tunnel &&
	    ((s->mode != SY_FWD_IPIP && s->mode != SY_FWD_GUE) ||
	     (s->vip.family == SY_AF_INET ? !has4 : !has6))) {
		field(m, "health", &f);
		return ffail(&f,
			     "a check through: tunnel needs mode ipip or gue and the encap source "
			     "of the VIP's family (service %s: mode %s, %s VIP, %s)",
			     s->name, sy_fwd_mode_name(s->mode),
			     s->vip.family == SY_AF_INET ? "an IPv4" : "an IPv6",
			     s->vip.family == SY_AF_INET ? "encap_source4" : "encap_source6");
	}
	if (!s->n_backends)
		return 0;
	field(m, "backends", &bl);
	for (size_t i = 0; i < s->n_backends; i++) {
		const struct sy_config_backend *b = &s->backends[i];
		struct fld bm;

		item(&bl, i, &bm);
		if (s->mode == SY_FWD_L2DSR && b->family != s->vip.family) {
			field(&bm, "address", &bf);
			return ffail(&bf, "mode l2dsr needs backends of the VIP's address family (%s)",
				     s->vip.family == SY_AF_INET ? "IPv4" : "IPv6");
		}
		if (s->mode != SY_FWD_L2DSR &&
		    (b->family == SY_AF_INET ? !has4 : !has6)) {
			field(&bm, "address", &bf);
			return ffail(&bf,
				     "an %s backend needs %s (in the service or in defaults) "
				     "for mode %s",
				     b->family == SY_AF_INET ? "IPv4" : "IPv6",
				     b->family == SY_AF_INET ? "encap_source4" : "encap_source6",
				     sy_fwd_mode_name(s->mode));
		}
		if (s->health.check.type != SY_CHECK_NONE && b->port == 0) {
			if (!field(&bm, "port", &bf))
				bf = bm;
			return ffail(&bf,
				     "a %s health check needs the backend's port (the VIP "
				     "is all ports: set port)",
				     sy_check_type_name(s->health.check.type));
		}
	}
	return 0;
}

static int parse_service(struct fld *m, struct sy_config *c, size_t idx)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_SERVICE(SY_CONFIG_KEY_NAME, ~) NULL };
	static const char *const protos[] = { "tcp", "udp", NULL };
	static const int pvals[] = { 6, 17 };
#define SOURCE_VAL(ID, name, req, dir, sdesc, kdesc, a, b) SY_SOURCE_##ID,
	static const char *const sources[] = { "static", "embedded",
					       SY_REGISTRY_KINDS(SY_REGISTRY_NAME_STR, ~, ~) NULL };
	static const int svals[] = { SY_SOURCE_STATIC, SY_SOURCE_EMBEDDED,
				     SY_REGISTRY_KINDS(SOURCE_VAL, ~, ~) };
#undef SOURCE_VAL
	struct sy_config_service *s = &c->services[idx];
	struct fld f, vipf;
	uint32_t a[4];
	int v;

	if (check_map(m, keys))
		return -1;
	s->line = line_of(m->v);
	s->table_size = c->defaults.table_size;
	s->hash_seed = c->defaults.hash_seed;
	s->encap_source4 = c->defaults.encap_source4;
	memcpy(s->encap_source6, c->defaults.encap_source6, sizeof(s->encap_source6));
	s->gue_port = c->defaults.gue_port;
	s->health = (struct sy_config_health){
		.default_ttl_s = 5,
		.check = { .type = SY_CHECK_NONE, .interval_ms = 1000, .timeout_ms = 500,
			   .rise = 2, .fall = 3 },
		.hold_down_s = 5,
		.panic_threshold = 0.5,
		.panic_window_s = 10,
	};

	if (required(m, "name", &f) || get_name(&f, s->name, sizeof(s->name), 0, "service name"))
		return -1;
	for (size_t j = 0; j < idx; j++)
		if (!strcmp(c->services[j].name, s->name))
			return ffail(&f, "duplicate service name '%s' (also services[%zu], line %u)",
				     s->name, j, c->services[j].line);

	if (required(m, "vip", &vipf) || get_addr(&vipf, &s->vip.family, s->vip.addr))
		return -1;
	if (addr_zero(s->vip.addr))
		return ffail(&vipf, "the unspecified address cannot be a VIP");
	if (required(m, "port", &f))
		return -1;
	if (f.v->type == YAML_SCALAR_NODE && !strcmp(sval(f.v), "all")) {
		s->vip.port = 0;
	} else {
		const char *t;
		uint64_t p;

		if (get_text(&f, "a port (1..65535 or \"all\")", &t))
			return -1;
		if (f.v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			return ffail(&f, "expected a port number, found the string \"%.64s\" "
					 "(1..65535 or \"all\")", t);
		if (parse_u64(t, &p) || p < 1 || p > 65535)
			return ffail(&f, "%.64s is not a port (1..65535 or \"all\")", t);
		s->vip.port = htons((uint16_t)p);
	}
	if (required(m, "protocol", &f) ||
	    get_enum(&f, protos, pvals, "a protocol (tcp or udp)", &v))
		return -1;
	s->vip.proto = (uint8_t)v;
	for (size_t j = 0; j < idx; j++) {
		const struct sy_config_service *o = &c->services[j];
		char as[INET6_ADDRSTRLEN], ps[16];

		if (!sy_vip_key_eq(&o->vip, &s->vip))
			continue;
		fmt_addr(s->vip.family, s->vip.addr, as, sizeof(as));
		if (s->vip.port)
			snprintf(ps, sizeof(ps), "port %u", ntohs(s->vip.port));
		else
			snprintf(ps, sizeof(ps), "all ports");
		return ffail(&vipf, "%s %s %s is already the VIP of services[%zu] '%s' (line %u)",
			     as, ps, s->vip.proto == 6 ? "tcp" : "udp", j, o->name, o->line);
	}

	if (required(m, "mode", &f) ||
	    get_enum(&f, fwd_modes, fwd_mode_vals, "a mode (ipip, gue or l2dsr)", &v))
		return -1;
	s->mode = (enum sy_fwd_mode)v;
	if (field(m, "table_size", &f) && get_table_size(&f, &s->table_size))
		return -1;
	if (field(m, "hash_seed", &f) && get_u32(&f, 0, UINT32_MAX, &s->hash_seed))
		return -1;
	if (field(m, "hash", &f)) {
		int v;

		if (get_enum(&f, hash_fields_names, hash_fields_vals,
			     "a hash (5-tuple, 3-tuple, source-ip or source-ip-port)", &v))
			return -1;
		s->hash_fields = (uint8_t)v;
	}
	if (field(m, "scheduler", &f)) {
		static const char *const names[] = { "maglev", "round-robin", "least-connections",
						      NULL };
		static const int vals[] = { 0, SY_SERVICE_ROUND_ROBIN, SY_SERVICE_LEAST_CONNS };
		int v;

		if (get_enum(&f, names, vals,
			     "a scheduler (maglev, round-robin or least-connections)", &v))
			return -1;
		s->round_robin = v == SY_SERVICE_ROUND_ROBIN;
		s->least_conns = v == SY_SERVICE_LEAST_CONNS;
	}
	if (field(m, "quic", &f)) {
		if (get_bool(&f, &s->quic))
			return -1;
		if (s->quic && s->vip.proto != SY_IPPROTO_UDP)
			return ffail(&f, "QUIC routing needs a udp service (this one is tcp)");
	}
	if (field(m, "encap_source4", &f)) {
		if (get_encap_source(&f, SY_AF_INET, a))
			return -1;
		s->encap_source4 = a[0];
	}
	if (field(m, "encap_source6", &f) && get_encap_source(&f, SY_AF_INET6, s->encap_source6))
		return -1;
	if (field(m, "gue_port", &f)) {
		uint16_t p;

		if (get_port(&f, &p))
			return -1;
		s->gue_port = htons(p);
	}
	if (field(m, "next_hop_mac", &f)) {
		if (get_mac(&f, s->next_hop_mac))
			return -1;
		s->has_next_hop_mac = true;
	}

	if (required(m, "source", &f) ||
	    get_enum(&f, sources, svals, "a source (static, embedded" SY_REGISTRY_KINDS(SY_REGISTRY_COMMA_NAME, ~, ~) ")", &v))
		return -1;
	s->source = (enum sy_config_source)v;
	if (s->source == SY_SOURCE_EMBEDDED) {
		if (!c->registry.embedded.enabled)
			return ffail(&f, "source embedded needs registry.embedded (listen, "
					 "allowed_prefixes)");
		if (required(m, "key_file", &f) || get_abs_path(&f, PATH_MAX, &s->key_file))
			return -1;
	} else if (field(m, "key_file", &f)) {
		return kfail(&f, "only used with source embedded");
	}
	switch (s->source) { /* a registry's section must be there */
#define NEEDS_REGISTRY(ID, name, req, dir, sdesc, kdesc, a, b)                                    \
	case SY_SOURCE_##ID:                                                                 \
		if (!c->registry.kind[SY_REGISTRY_##ID].enabled)                             \
			return field(m, "source", &f),                                       \
			       ffail(&f, "source " #name " needs registry." #name " (" req ")"); \
		break;
		SY_REGISTRY_KINDS(NEEDS_REGISTRY, ~, ~)
#undef NEEDS_REGISTRY
	default:
		break;
	}

	if (field(m, "health", &f) && parse_health(&f, &s->health))
		return -1;
	if (field(m, "max_backends", &f) && get_u32(&f, 1, 1u << 24, &s->max_backends))
		return -1;

	/* A static service without backends is allowed: it is an empty service
	 * (its VIP is claimed, new flows are dropped as no_backend) to which the
	 * API can add backends later. For the other sources `backends` is the
	 * initial set, so it is optional too. */
	if (field(m, "backends", &f)) {
		struct fld bf;
		size_t n;

		if (check_seq(&f, " of backends"))
			return -1;
		n = seq_len(&f);
		if (n) {
			s->backends = calloc(n, sizeof(*s->backends));
			if (!s->backends)
				return oom(m->x);
		}
		s->n_backends = n;
		for (size_t i = 0; i < n; i++) {
			struct sy_config_backend *b = &s->backends[i];

			item(&f, i, &bf);
			if (parse_backend(&bf, s, b) || check_server_id(&bf, s, i))
				return -1;
			for (size_t j = 0; j < i; j++) {
				const struct sy_config_backend *o = &s->backends[j];
				char as[INET6_ADDRSTRLEN];

				if (o->family != b->family || o->port != b->port ||
				    memcmp(o->addr, b->addr, sizeof(b->addr)))
					continue;
				fmt_addr(b->family, b->addr, as, sizeof(as));
				return ffail(&bf,
					     "duplicate backend %s port %u (also "
					     "backends[%zu], line %u)",
					     as, b->port, j, o->line);
			}
		}
	}
	if (s->max_backends && s->n_backends > s->max_backends) {
		field(m, "max_backends", &f);
		return ffail(&f, "%u is fewer than the %zu backends listed", s->max_backends,
			     s->n_backends);
	}
	return check_service(m, s);
}

static int parse_root(struct ctx *x, yaml_node_t *root, struct sy_config *c)
{
	static const char *const keys[] = { SY_CONFIG_KEYS_ROOT(SY_CONFIG_KEY_NAME, ~) NULL };
	struct fld r = { .x = x, .v = root }, f;
	const char *s;

	if (root->type != YAML_MAPPING_NODE)
		return fail(x, line_of(root), NULL,
			    "the top level is %s; expected a mapping (instance:, services:, ...)",
			    kind(root));
	if (check_map(&r, keys))
		return -1;
	if (required(&r, "instance", &f) || get_text(&f, "an instance name", &s))
		return -1;
	if (!sy_config_instance_ok(s))
		return ffail(&f, "'%.80s' is not a valid instance name (" SY_CONFIG_INSTANCE_RULE ")",
			     s);
	memcpy(c->instance, s, strlen(s) + 1);

	if (field(&r, "region", &f)) {
		if (get_abs_path(&f, PATH_MAX, &c->region))
			return -1;
	} else if (asprintf(&c->region, "/dev/shm/switchyard-%s", c->instance) < 0) {
		c->region = NULL;
		return oom(x);
	}
	if (field(&r, "state_file", &f)) {
		if (get_abs_path(&f, PATH_MAX, &c->state_file))
			return -1;
	} else if (asprintf(&c->state_file, "/var/lib/switchyard/%s.state", c->instance) < 0) {
		c->state_file = NULL;
		return oom(x);
	}

	c->limits = SY_REGION_DEFAULT_LIMITS;
	if (field(&r, "limits", &f) && parse_limits(&f, &c->limits))
		return -1;

	if (field(&r, "api", &f) && parse_api(&f, &c->api))
		return -1;
	if (!c->api.socket &&
	    asprintf(&c->api.socket, "/run/switchyard/%s.sock", c->instance) < 0) {
		c->api.socket = NULL;
		return oom(x);
	}

	c->defaults.table_size = SY_CONFIG_DEFAULT_TABLE_SIZE;
	c->defaults.hash_seed = SY_CONFIG_DEFAULT_HASH_SEED;
	c->defaults.gue_port = htons(SY_CONFIG_DEFAULT_GUE_PORT);
	if (field(&r, "defaults", &f) && parse_defaults(&f, &c->defaults))
		return -1;

	c->registry.embedded.max_clock_skew_s = SY_CONFIG_DEFAULT_CLOCK_SKEW_S;
	c->registry.embedded.idle_timeout_s = SY_CONFIG_DEFAULT_REG_IDLE_TIMEOUT_S;
	c->registry.embedded.request_deadline_s = SY_CONFIG_DEFAULT_REG_REQUEST_DEADLINE_S;
	if (field(&r, "registry", &f) && parse_registry(&f, c))
		return -1;

	c->bgp.required = true;
	c->bgp.announce_on_fail_static = true;
	c->bgp.hold_down_s = 5;
	c->bgp.hold_down_max_s = 120;
	c->bgp.stable_s = 120;
	snprintf(c->bgp.protocol, sizeof(c->bgp.protocol), "switchyard");
	if (field(&r, "bgp", &f) && parse_bgp(&f, &c->bgp))
		return -1;
	if (!c->bgp.socket && !(c->bgp.socket = strdup("/run/bird/bird.ctl")))
		return oom(x);
	if (!c->bgp.include_file &&
	    asprintf(&c->bgp.include_file, "/run/switchyard/bird-%s.conf", c->instance) < 0) {
		c->bgp.include_file = NULL;
		return oom(x);
	}

	/* No services (absent or []) is a valid, empty configuration. */
	if (field(&r, "services", &f)) {
		struct fld sf;
		size_t n;

		if (check_seq(&f, " of services"))
			return -1;
		n = seq_len(&f);
		if (n) {
			c->services = calloc(n, sizeof(*c->services));
			if (!c->services)
				return oom(x);
		}
		c->n_services = n;
		for (size_t i = 0; i < n; i++) {
			item(&f, i, &sf);
			if (parse_service(&sf, c, i))
				return -1;
		}
	}
	return 0;
}

/* ---- Loading ------------------------------------------------------------- */

static int read_file(struct ctx *x, const char *path, unsigned char **buf, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	unsigned char *b;

	if (!fp) {
		if (x->err && x->errlen)
			snprintf(x->err, x->errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	b = malloc(cap);
	if (!b) {
		fclose(fp);
		return oom(x);
	}
	for (;;) {
		size_t got = fread(b + n, 1, cap - n, fp);

		n += got;
		if (n < cap) {
			if (ferror(fp)) {
				if (x->err && x->errlen)
					snprintf(x->err, x->errlen, "%s: read error", path);
				free(b);
				fclose(fp);
				return -1;
			}
			break;
		}
		if (cap >= MAX_FILE_BYTES) {
			if (x->err && x->errlen)
				snprintf(x->err, x->errlen, "%s: larger than %u bytes", path,
					 MAX_FILE_BYTES);
			free(b);
			fclose(fp);
			return -1;
		}
		cap *= 2;
		unsigned char *nb = realloc(b, cap);

		if (!nb) {
			free(b);
			fclose(fp);
			return oom(x);
		}
		b = nb;
	}
	fclose(fp);
	*buf = b;
	*len = n;
	return 0;
}

static int syntax_error(struct ctx *x, yaml_parser_t *p, const unsigned char *buf, size_t len)
{
	unsigned line = (unsigned)p->problem_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR)
		return oom(x);
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += buf[i] == '\n';
		return fail(x, line, NULL, "YAML syntax error: %s",
			    p->problem ? p->problem : "unreadable input");
	}
	if (p->context)
		return fail(x, line, NULL, "YAML syntax error: %s (%s on line %u)",
			    p->problem ? p->problem : "invalid YAML", p->context,
			    (unsigned)p->context_mark.line + 1);
	return fail(x, line, NULL, "YAML syntax error: %s",
		    p->problem ? p->problem : "invalid YAML");
}

void sy_config_free(struct sy_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->region);
	free(c->state_file);
	free(c->api.socket);
	free(c->api.group);
	free(c->api.tcp_host);
	free(c->api.token_file);
	free(c->registry.embedded.listen_host);
	free(c->registry.embedded.allowed_prefixes);
	free(c->registry.embedded.read.token_file);
	free(c->registry.embedded.read.services);
	free(c->registry.embedded.read.allowed_prefixes);
	for (size_t k = 0; k < SY_REGISTRY_N; k++) {
		struct sy_config_registry *r = &c->registry.kind[k];

		for (size_t i = 0; i < r->n_servers; i++)
			free(r->servers[i]);
		free(r->prefix);
		free(r->ca_file);
		free(r->cert_file);
		free(r->key_file);
		free(r->username);
		free(r->password_file);
	}
	free(c->bgp.socket);
	free(c->bgp.include_file);
	for (size_t i = 0; i < c->n_services; i++) {
		free(c->services[i].key_file);
		free(c->services[i].backends);
		free(c->services[i].health.check.path);
		free(c->services[i].health.check.send);
		free(c->services[i].health.check.receive);
	}
	free(c->services);
	free(c);
}

/* Parse and validate len bytes of YAML (buf need not be NUL-terminated);
 * path names them in messages and in the result. */
static int load_buffer(struct ctx *x, const char *path, const unsigned char *buf, size_t len,
		       struct sy_config **out)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct sy_config *c = NULL;
	yaml_node_t *root;
	int rc = -1;

	if (!yaml_parser_initialize(&parser))
		return oom(x);
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(x, &parser, buf, len);
		goto out_parser;
	}
	x->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		fail(x, 1, NULL, "the file is empty; expected a mapping (instance:, services:, ...)");
		goto out_doc;
	}
	/* Exactly one document: a second one (or garbage after "...") is an
	 * error, not silently ignored. */
	if (!yaml_parser_load(&parser, &extra)) {
		syntax_error(x, &parser, buf, len);
		goto out_doc;
	}
	if (yaml_document_get_root_node(&extra)) {
		fail(x, (unsigned)extra.start_mark.line + 1, NULL,
		     "a second YAML document; the configuration is one document");
		yaml_document_delete(&extra);
		goto out_doc;
	}
	yaml_document_delete(&extra);

	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		oom(x);
		goto out_doc;
	}
	if (parse_root(x, root, c))
		goto out_doc;
	*out = c;
	c = NULL;
	rc = 0;
out_doc:
	sy_config_free(c);
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	return rc;
}

int sy_config_load(const char *path, struct sy_config **out, char *err, size_t errlen)
{
	struct ctx x = { .file = path, .err = err, .errlen = errlen };
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (read_file(&x, path, &buf, &len))
		return -1;
	rc = load_buffer(&x, path, buf, len, out);
	free(buf);
	return rc;
}

int sy_config_load_buffer(const char *path, const void *data, size_t len,
			  struct sy_config **out, char *err, size_t errlen)
{
	struct ctx x = { .file = path, .err = err, .errlen = errlen };

	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (len > MAX_FILE_BYTES) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %u bytes", path, MAX_FILE_BYTES);
		return -1;
	}
	return load_buffer(&x, path, data, len, out);
}
