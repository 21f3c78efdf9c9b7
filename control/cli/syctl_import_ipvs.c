/* SPDX-License-Identifier: BSD-3-Clause
 *
 * `syctl import-ipvs`: `ipvsadm -Sn` output -> Switchyard YAML configuration
 * (docs/control.md, "Migrating from IPVS").
 *
 * The input is the line format ipvsadm -S writes and ipvsadm -R reads:
 *
 *   -A -t 198.18.100.1:80 -s wlc [-p 300 [-M 255.255.255.0]] [--pe sip] [-o]
 *      [-b sh-port,...]                        (also -u, --sctp-service, -f MARK [-6])
 *   -a -t 198.18.100.1:80 -r 198.18.1.1:80 -g|-i|-m -w 1
 *      [--tun-type ipip|gue|gre [--tun-port P] [--tun-nocsum|--tun-csum|--tun-remcsum]]
 *      [-x UPPER] [-y LOWER]
 *   -C
 *
 * Long option names (--add-service, --tcp-service, --weight=3, ...), a leading
 * "ipvsadm", empty lines and # comments are accepted too, as `ipvsadm -R` and
 * hand-written rules files have them; so are the " ops" and " pe NAME" that
 * older ipvsadm versions printed. Everything is read into memory first; the
 * YAML is then printed, loaded back with the real configuration loader
 * (sy_config_load_buffer) and only then written (-o: a temporary file renamed
 * over FILE), so a bad input never leaves a half-written or invalid file.
 * The conversion of the buffer, check included, is sy_ipvs_convert()
 * (syctl_import_ipvs.h; tests/fuzz/fuzz_import_ipvs.c calls it too).
 *
 * Mapping: -g -> l2dsr, -i (--tun-type ipip) -> ipip, -i --tun-type gue
 * --tun-port P -> gue with gue_port P; -m (NAT), --tun-type gre, -f
 * (firewall mark) and --sctp-service have no equivalent: an error naming the
 * line, unless --nat-as MODE (NAT real servers forwarded with MODE; with gue,
 * on the service's gue_port: its -i real servers' --tun-port, or the default
 * 6080) or --skip-unsupported (the service is left out, with a warning and a
 * comment). Services are named PROTO-ADDR-PORT, dots and colons as '-'; an
 * IPv6 address with an embedded IPv4 one (::ffff:1.2.3.4) can give the name of
 * an earlier service (::ffff:1:2:3:4): such a name gets a suffix -2, -3, ...
 * Persistence (-p) becomes `hash: source-ip` (Maglev on the client's
 * address: its connections meet on one backend while the set is stable;
 * the timeout is dropped); the schedulers rr and wrr of a service without
 * it `scheduler: round-robin` (weighted), lc and wlc (also ipvsadm's
 * default, no -s) `scheduler: least-connections` (weighted). Other
 * schedulers (Maglev replaces them: sh, dh, sed, ...), persistence
 * granularity (-M),
 * thresholds, scheduler flags, persistence engines and one-packet
 * scheduling are dropped (Maglev consistent hashing replaces them); each
 * service's comment says what it lost.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "netaddr.h"
#include "syctl_import_ipvs.h"

#define EXIT_BAD_INPUT 1
#define EXIT_USAGE 2
#define PROG "syctl import-ipvs"
#define MAX_LINE 4096
#define MAX_TOKENS 64
#define NOTES_MAX 1024
#define SY_WEIGHT_MAX 65535u      /* SY_MAGLEV_MAX_WEIGHT */
#define IPVS_WEIGHT_MAX 2147483647ul

#define MODE_NONE 0 /* no enum sy_fwd_mode (yet) */

enum kind { K_TCP, K_UDP, K_SCTP, K_FWMARK };

struct real_server {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN];
	unsigned port;
	unsigned long weight;
	char notes[NOTES_MAX];   /* what was dropped, "" if nothing */
	unsigned line;
};

struct service {
	enum kind kind;
	unsigned long fwmark;    /* K_FWMARK */
	int family;
	unsigned char addr[16];  /* not K_FWMARK */
	char text[INET6_ADDRSTRLEN];
	unsigned port;           /* 0 = all ports */
	char name[SY_NAME_MAX];
	char echo[MAX_LINE];     /* the -A line, tokens joined by one space */
	char notes[NOTES_MAX];   /* what was dropped */
	char skipped[512];       /* why it was skipped; "" = converted */
	unsigned line;
	enum sy_fwd_mode mode;          /* from the first real server */
	unsigned mode_line;
	unsigned gue_port;       /* SY_FWD_GUE; 0: none given yet (-m with --nat-as gue) */
	unsigned gue_line;       /* the real server that gave gue_port */
	bool nat;                /* some real servers were -m, forwarded as --nat-as */
	bool persistent;         /* -p: hash: source-ip */
	bool round_robin;        /* -s rr or wrr, not persistent: scheduler: round-robin */
	bool least_conns;        /* -s lc or wlc (the default), not persistent:
				  * scheduler: least-connections */
	struct real_server *rs;
	size_t n_rs, cap_rs;
	unsigned n_rs_skipped;
};

struct importer {
	const char *file;        /* for messages */
	char instance[SY_CONFIG_INSTANCE_MAX];
	const char *encap4, *encap6;
	enum sy_fwd_mode nat_as;
	bool skip_unsupported;
	struct service *svc;
	size_t n_svc, cap_svc;
	unsigned line;           /* being read */
	FILE *warnings;          /* NULL: warnings are not printed */
	char *err;               /* the error message, "FILE:LINE: ..." */
	size_t errlen;
};

/* ---- Messages ------------------------------------------------------------ */

/* The error (the conversion stops at the first): "FILE:LINE: ..." in im->err. */
__attribute__((format(printf, 2, 3))) static int bad(struct importer *im, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!im->errlen)
		return EXIT_BAD_INPUT;
	n = snprintf(im->err, im->errlen, "%s:%u: ", im->file, im->line);
	if (n >= 0 && (size_t)n < im->errlen) {
		va_start(ap, fmt);
		vsnprintf(im->err + n, im->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return EXIT_BAD_INPUT;
}

__attribute__((format(printf, 3, 4))) static void warn(struct importer *im, unsigned line,
						       const char *fmt, ...)
{
	va_list ap;

	if (!im->warnings)
		return;
	fprintf(im->warnings, PROG ": %s:%u: warning: ", im->file, line);
	va_start(ap, fmt);
	vfprintf(im->warnings, fmt, ap);
	va_end(ap);
	fputc('\n', im->warnings);
}

__attribute__((format(printf, 2, 3))) static void note(char *notes, const char *fmt, ...)
{
	size_t used = strlen(notes);
	va_list ap;

	if (used && used + 2 < NOTES_MAX) {
		memcpy(notes + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(notes + used, NOTES_MAX - used, fmt, ap);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: syctl import-ipvs [-o FILE] [--instance NAME] [--encap-source4 ADDR]\n"
		"                         [--encap-source6 ADDR] [--nat-as ipip|gue|l2dsr]\n"
		"                         [--skip-unsupported] [FILE|-]\n"
		"Reads `ipvsadm -Sn` output (FILE, or standard input) and writes the equivalent\n"
		"Switchyard configuration (standard output, or FILE with -o).\n"
		"  -o FILE               write FILE (a temporary file renamed over it)\n"
		"  --instance NAME       the configuration's instance (default switchyard)\n"
		"  --encap-source4 ADDR  outer source of ipip/gue packets to IPv4 backends\n"
		"  --encap-source6 ADDR  the same for IPv6 backends (needed when such exist)\n"
		"  --nat-as MODE         forward masquerading (-m) real servers with MODE\n"
		"                        instead of failing (backends must then own the VIP)\n"
		"  --skip-unsupported    leave out, with a warning, services that cannot be\n"
		"                        expressed (-f firewall marks, SCTP, GRE, NAT)\n"
		"Exit codes: 0 written, 1 an input line cannot be converted (FILE:LINE: says\n"
		"which) or the output cannot be written, 2 usage.\n");
}

/* ---- Small parsers ------------------------------------------------------- */

/* Decimal digits only, min..max. */
static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *v)
{
	unsigned long long x = 0;

	if (!*s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		x = x * 10 + (unsigned)(*p - '0');
		if (x > 0xffffffffull)
			return -1;
	}
	if (x < min || x > max)
		return -1;
	*v = (unsigned long)x;
	return 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* [a-z0-9_-]{1,max} plus the characters of extra. */
static bool is_word(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (!n || n > max)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_' &&
		    *s != '-' && !strchr(extra, *s))
			return false;
	return true;
}

static bool addr_is_zero(const unsigned char *a, int family)
{
	for (int i = 0; i < (family == AF_INET ? 4 : 16); i++)
		if (a[i])
			return false;
	return true;
}

/* "ADDR", "ADDR:PORT", "[ADDR6]", "[ADDR6]:PORT" or a bare "ADDR6". *has_port
 * tells whether a port was given. Messages name what: "virtual service" or
 * "real server". */
static int parse_addrport(struct importer *im, const char *what, const char *s, int *family,
			  unsigned char addr[16], char *text, unsigned *port, bool *has_port)
{
	char host[INET6_ADDRSTRLEN + 8];
	const char *portp = NULL, *colon = strchr(s, ':');
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || (close[1] && close[1] != ':'))
			return bad(im, "%s '%s' is not [IPV6]:PORT", what, s);
		hl = (size_t)(close - s - 1);
		if (hl >= sizeof(host))
			return bad(im, "%s '%s' is not a numeric IPv6 address", what, s);
		memcpy(host, s + 1, hl);
		host[hl] = 0;
		if (close[1] == ':')
			portp = close + 2;
		if (inet_pton(AF_INET6, host, addr) != 1)
			return bad(im, "%s '%s' is not a numeric IPv6 address", what, host);
		*family = AF_INET6;
	} else {
		if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address, no port */
			hl = strlen(s);
			portp = NULL;
		} else {
			hl = colon ? (size_t)(colon - s) : strlen(s);
			portp = colon ? colon + 1 : NULL;
		}
		if (hl >= sizeof(host))
			return bad(im, "%s '%s' is not a numeric address (save with ipvsadm -Sn: "
				   "no host or service names)", what, s);
		memcpy(host, s, hl);
		host[hl] = 0;
		if (inet_pton(AF_INET, host, addr) == 1)
			*family = AF_INET;
		else if (inet_pton(AF_INET6, host, addr) == 1)
			*family = AF_INET6;
		else
			return bad(im, "%s '%s' is not a numeric address (save with ipvsadm -Sn: "
				   "no host or service names)", what, host);
	}
	*has_port = portp != NULL;
	*port = 0;
	if (portp) {
		unsigned long p;

		if (parse_ulong(portp, 0, 65535, &p))
			return bad(im, "%s '%s': '%s' is not a port number 0..65535 (save with "
				   "ipvsadm -Sn: no service names)", what, s, portp);
		*port = (unsigned)p;
	}
	if (!strcmp(what, "real server")) {
		/* IPVS takes local real servers (127.0.0.1, the host's own
		 * addresses); Switchyard forwards to other hosts only */
		uint32_t a[4] = { 0 };
		const char *why;

		memcpy(a, addr, *family == AF_INET ? 4 : 16);
		why = sy_backend_addr_unusable(*family == AF_INET ? SY_AF_INET : SY_AF_INET6, a);
		if (why)
			return bad(im, "real server '%s' cannot be a backend: %s", s, why);
	} else if (addr_is_zero(addr, *family)) {
		return bad(im, "%s '%s': the unspecified address cannot be a VIP", what, s);
	}
	inet_ntop(*family, addr, text, INET6_ADDRSTRLEN);
	return 0;
}

/* ---- One line's options -------------------------------------------------- */

enum opt_id {
	O_ADD_SVC, O_ADD_RS, O_CLEAR,
	O_TCP, O_UDP, O_SCTP, O_FWMARK, O_IPV6,
	O_SCHED, O_PERSIST, O_NETMASK, O_SFLAGS, O_PE, O_OPS,
	O_RS, O_FWD, O_WEIGHT, O_UTHR, O_LTHR, O_TUNTYPE, O_TUNPORT, O_CSUM,
	O_COUNT
};

enum arg { A_NONE, A_REQUIRED, A_OPTIONAL_NUMBER };

struct opt_def {
	const char *shrt, *lng;
	enum opt_id id;
	enum arg arg;
};

static const struct opt_def opt_defs[] = {
	{ "-A", "--add-service", O_ADD_SVC, A_NONE },
	{ "-a", "--add-server", O_ADD_RS, A_NONE },
	{ "-C", "--clear", O_CLEAR, A_NONE },
	{ "-t", "--tcp-service", O_TCP, A_REQUIRED },
	{ "-u", "--udp-service", O_UDP, A_REQUIRED },
	{ NULL, "--sctp-service", O_SCTP, A_REQUIRED },
	{ "-f", "--fwmark-service", O_FWMARK, A_REQUIRED },
	{ "-6", "--ipv6", O_IPV6, A_NONE },
	{ "-s", "--scheduler", O_SCHED, A_REQUIRED },
	{ "-p", "--persistent", O_PERSIST, A_OPTIONAL_NUMBER },
	{ "-M", "--netmask", O_NETMASK, A_REQUIRED },
	{ "-b", "--sched-flags", O_SFLAGS, A_REQUIRED },
	{ NULL, "--pe", O_PE, A_REQUIRED },
	{ "pe", NULL, O_PE, A_REQUIRED },        /* older ipvsadm -S */
	{ "-o", "--ops", O_OPS, A_NONE },
	{ "ops", NULL, O_OPS, A_NONE },          /* older ipvsadm -S */
	{ "-r", "--real-server", O_RS, A_REQUIRED },
	{ "-g", "--gatewaying", O_FWD, A_NONE },
	{ "-i", "--ipip", O_FWD, A_NONE },
	{ "-m", "--masquerading", O_FWD, A_NONE },
	{ "-w", "--weight", O_WEIGHT, A_REQUIRED },
	{ "-x", "--u-threshold", O_UTHR, A_REQUIRED },
	{ "-y", "--l-threshold", O_LTHR, A_REQUIRED },
	{ NULL, "--tun-type", O_TUNTYPE, A_REQUIRED },
	{ NULL, "--tun-port", O_TUNPORT, A_REQUIRED },
	{ NULL, "--tun-nocsum", O_CSUM, A_NONE },
	{ NULL, "--tun-csum", O_CSUM, A_NONE },
	{ NULL, "--tun-remcsum", O_CSUM, A_NONE },
};

struct line_opts {
	bool seen[O_COUNT];
	const char *val[O_COUNT];  /* the argument; for flags, the option as written */
	const char *name[O_COUNT]; /* the option as written, for messages */
};

/* Which options each command takes. */
static bool allowed(enum opt_id cmd, enum opt_id o)
{
	if (o == O_TCP || o == O_UDP || o == O_SCTP || o == O_FWMARK || o == O_IPV6)
		return cmd != O_CLEAR;
	if (o >= O_SCHED && o <= O_OPS)
		return cmd == O_ADD_SVC;
	if (o >= O_RS && o <= O_CSUM)
		return cmd == O_ADD_RS;
	return false;
}

static int parse_options(struct importer *im, char **tok, int n, struct line_opts *lo,
			 enum opt_id *cmd)
{
	int have_cmd = 0;

	memset(lo, 0, sizeof(*lo));
	for (int i = 0; i < n; i++) {
		const struct opt_def *d = NULL;
		const char *t = tok[i], *inl = NULL;
		char name[64];
		size_t nl = strlen(t);

		if (i == 0 && !strcmp(t, "ipvsadm"))
			continue;
		if (!strncmp(t, "--", 2) && strchr(t, '=')) { /* --weight=3 */
			inl = strchr(t, '=') + 1;
			nl = (size_t)(inl - 1 - t);
		}
		if (nl >= sizeof(name))
			nl = sizeof(name) - 1;
		memcpy(name, t, nl);
		name[nl] = 0;
		for (size_t k = 0; k < sizeof(opt_defs) / sizeof(opt_defs[0]); k++)
			if ((opt_defs[k].shrt && !inl && !strcmp(name, opt_defs[k].shrt)) ||
			    (opt_defs[k].lng && !strcmp(name, opt_defs[k].lng))) {
				d = &opt_defs[k];
				break;
			}
		if (!d) {
			if (t[0] == '-')
				return bad(im, "unknown option '%s' (expected ipvsadm -Sn output)", t);
			return bad(im, "unexpected '%s' (expected ipvsadm -Sn output: -A, -a or -C "
				   "lines)", t);
		}
		if (d->id == O_ADD_SVC || d->id == O_ADD_RS || d->id == O_CLEAR) {
			if (have_cmd++)
				return bad(im, "more than one command (-A, -a, -C) on one line");
			*cmd = d->id;
			continue;
		}
		if (lo->seen[d->id]) {
			if (d->id == O_FWD)
				return bad(im, "more than one forwarding method (%s and %s)",
					   lo->name[d->id], t);
			if (d->id == O_CSUM)
				return bad(im, "more than one tunnel checksum option (%s and %s)",
					   lo->name[d->id], t);
			return bad(im, "%s given twice", name);
		}
		lo->seen[d->id] = true;
		lo->name[d->id] = d->shrt && !strcmp(name, d->shrt) ? d->shrt : d->lng;
		if (d->arg == A_NONE) {
			if (inl)
				return bad(im, "%s takes no value", name);
			lo->val[d->id] = lo->name[d->id];
		} else if (inl) {
			lo->val[d->id] = inl;
		} else if (d->arg == A_OPTIONAL_NUMBER) {
			lo->val[d->id] = i + 1 < n && all_digits(tok[i + 1]) ? tok[++i] : NULL;
		} else {
			if (i + 1 >= n)
				return bad(im, "%s needs a value", name);
			lo->val[d->id] = tok[++i];
		}
	}
	if (!have_cmd)
		return bad(im, "no command: an ipvsadm -Sn line starts with -A (service), "
			   "-a (real server) or -C (clear)");
	for (int o = 0; o < O_COUNT; o++)
		if (lo->seen[o] && !allowed(*cmd, (enum opt_id)o))
			return bad(im, "%s does not belong on %s line", lo->name[o],
				   *cmd == O_ADD_SVC ? "a -A (service)"
				   : *cmd == O_ADD_RS ? "a -a (real server)" : "a -C");
	if (*cmd != O_CLEAR) {
		int nsvc = lo->seen[O_TCP] + lo->seen[O_UDP] + lo->seen[O_SCTP] + lo->seen[O_FWMARK];

		if (nsvc == 0)
			return bad(im, "no virtual service (-t ADDR:PORT, -u ADDR:PORT, "
				   "--sctp-service ADDR:PORT or -f MARK)");
		if (nsvc > 1)
			return bad(im, "more than one virtual service on one line");
		if (lo->seen[O_IPV6] && !lo->seen[O_FWMARK])
			return bad(im, "-6 only goes with a firewall-mark service (-f)");
	}
	return 0;
}

/* ---- Services ------------------------------------------------------------ */

struct svc_key {
	enum kind kind;
	unsigned long fwmark;
	int family;
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN];
	unsigned port;
	bool has_port;
};

static int parse_svc_key(struct importer *im, const struct line_opts *lo, struct svc_key *k)
{
	enum opt_id o = lo->seen[O_TCP] ? O_TCP : lo->seen[O_UDP] ? O_UDP
					       : lo->seen[O_SCTP] ? O_SCTP : O_FWMARK;

	memset(k, 0, sizeof(*k));
	k->kind = o == O_TCP ? K_TCP : o == O_UDP ? K_UDP : o == O_SCTP ? K_SCTP : K_FWMARK;
	if (k->kind == K_FWMARK) {
		if (parse_ulong(lo->val[o], 1, 0xffffffffu, &k->fwmark))
			return bad(im, "firewall mark '%s' is not a number 1..4294967295",
				   lo->val[o]);
		k->family = lo->seen[O_IPV6] ? AF_INET6 : AF_INET;
		return 0;
	}
	return parse_addrport(im, "virtual service", lo->val[o], &k->family, k->addr, k->text,
			      &k->port, &k->has_port);
}

static bool svc_matches(const struct service *s, const struct svc_key *k)
{
	if (s->kind != k->kind || s->family != k->family)
		return false;
	if (k->kind == K_FWMARK)
		return s->fwmark == k->fwmark;
	return s->port == k->port && !memcmp(s->addr, k->addr, sizeof(s->addr));
}

/* The service added for key k (add_service refuses a second one), or NULL. */
static struct service *find_service(struct importer *im, const struct svc_key *k)
{
	for (size_t i = 0; i < im->n_svc; i++)
		if (svc_matches(&im->svc[i], k))
			return &im->svc[i];
	return NULL;
}

static void svc_describe(const struct svc_key *k, char *buf, size_t len)
{
	static const char *const opt[] = { "-t", "-u", "--sctp-service", "-f" };

	if (k->kind == K_FWMARK)
		snprintf(buf, len, "-f %lu%s", k->fwmark, k->family == AF_INET6 ? " -6" : "");
	else
		snprintf(buf, len, k->family == AF_INET6 ? "%s [%s]:%u" : "%s %s:%u", opt[k->kind],
			 k->text, k->port);
}

static void free_services(struct importer *im)
{
	for (size_t i = 0; i < im->n_svc; i++)
		free(im->svc[i].rs);
	free(im->svc);
	im->svc = NULL;
	im->n_svc = im->cap_svc = 0;
}

/* Leave the service out (--skip-unsupported): its real servers too. */
static void skip_service(struct importer *im, struct service *s, const char *why)
{
	snprintf(s->skipped, sizeof(s->skipped), "%s", why);
	s->n_rs_skipped += (unsigned)s->n_rs;
	s->n_rs = 0;
	warn(im, im->line, "service of line %u (%s) left out: %s", s->line, s->echo, why);
}

/* The service of line N or NULL: another service, before s, named name. */
static const struct service *named(const struct importer *im, const struct service *s,
				   const char *name)
{
	for (const struct service *o = im->svc; o < s; o++)
		if (o->name[0] && !strcmp(o->name, name))
			return o;
	return NULL;
}

/* An IPv6 address with an embedded IPv4 one (::ffff:1.2.3.4, ::1.2.3.4) gives
 * the name of another (::ffff:1:2:3:4, ::1:2:3:4) once dots and colons are
 * '-': the later service gets the first free suffix -2, -3, ... */
static void unique_name(struct importer *im, struct service *s)
{
	const struct service *o = named(im, s, s->name);
	char base[SY_NAME_MAX], name[SY_NAME_MAX];

	if (!o)
		return;
	snprintf(base, sizeof(base), "%s", s->name);
	/* "PROTO-ADDR-PORT" is at most 55 characters (tcp-, 45, -65535): room for
	 * 7 digits; a name has at most two forms, so -2 is free but in contrived
	 * inputs */
	for (unsigned n = 2; n <= 9999999u; n++) {
		snprintf(name, sizeof(name), "%.55s-%u", base, n);
		if (!named(im, s, name))
			break;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	warn(im, im->line, "service %s is named %s: %s is the name of the service of line %u "
	     "(%s)", s->text, s->name, base, o->line, o->echo);
}

static int add_service(struct importer *im, const struct line_opts *lo, const char *echo)
{
	struct svc_key k;
	struct service *s;
	char desc[128];
	int rc;

	if ((rc = parse_svc_key(im, lo, &k)))
		return rc;
	svc_describe(&k, desc, sizeof(desc));
	if ((s = find_service(im, &k)))
		return bad(im, "virtual service %s is already added on line %u", desc, s->line);
	if (im->n_svc == im->cap_svc) {
		size_t cap = im->cap_svc ? 2 * im->cap_svc : 16;
		struct service *n = realloc(im->svc, cap * sizeof(*n));

		if (!n)
			return bad(im, "out of memory");
		im->svc = n;
		im->cap_svc = cap;
	}
	s = &im->svc[im->n_svc];
	memset(s, 0, sizeof(*s));
	s->kind = k.kind;
	s->fwmark = k.fwmark;
	s->family = k.family;
	memcpy(s->addr, k.addr, sizeof(s->addr));
	memcpy(s->text, k.text, sizeof(s->text));
	s->port = k.port;
	s->line = im->line;
	snprintf(s->echo, sizeof(s->echo), "%s", echo);

	/* What Maglev replaces. */
	if (lo->seen[O_SCHED]) {
		const char *sc = lo->val[O_SCHED];

		if (!is_word(sc, 15, ""))
			return bad(im, "'%s' is not a scheduler name", sc);
		/* rr and wrr: our weighted round-robin, lc and wlc our
		 * least-connections (weights count in both: a weight of 1 each
		 * is lc's), unless persistence asks for the client's address
		 * (below) */
		s->round_robin = (!strcmp(sc, "rr") || !strcmp(sc, "wrr")) && !lo->seen[O_PERSIST];
		s->least_conns = (!strcmp(sc, "lc") || !strcmp(sc, "wlc")) && !lo->seen[O_PERSIST];
		if (!s->round_robin && !s->least_conns)
			note(s->notes, "scheduler %s%s", sc,
			     lo->seen[O_PERSIST] ? " (persistence: the client's address decides)" : "");
	} else if (lo->seen[O_PERSIST]) {
		note(s->notes, "scheduler wlc (ipvsadm's default; persistence: the client's address "
			       "decides)");
	} else {
		s->least_conns = true; /* wlc, ipvsadm's default */
	}
	if (lo->seen[O_PERSIST]) {
		unsigned long t = 300;

		if (lo->val[O_PERSIST] && parse_ulong(lo->val[O_PERSIST], 1, 2678400, &t))
			return bad(im, "persistence timeout '%s' is not 1..2678400 seconds",
				   lo->val[O_PERSIST]);
		note(s->notes, "persistence timeout %lu s (hash: source-ip keeps a client on its "
			       "backend while the set is stable)", t);
		s->persistent = true;
	}
	if (lo->seen[O_NETMASK]) {
		const char *m = lo->val[O_NETMASK];
		unsigned char a[16];
		unsigned long len;

		if (s->family == AF_INET6 ? parse_ulong(m, 1, 128, &len)
					  : inet_pton(AF_INET, m, a) != 1)
			return bad(im, "-M '%s' is not %s", m,
				   s->family == AF_INET6 ? "a prefix length 1..128"
							 : "a netmask like 255.255.255.0");
		note(s->notes, "persistence granularity -M %s", m);
	}
	if (lo->seen[O_NETMASK] && !lo->seen[O_PERSIST])
		note(s->notes, "Maglev hashes each connection's 5-tuple: one client's "
			       "connections may reach different backends");
	if (lo->seen[O_PE]) {
		if (!is_word(lo->val[O_PE], 15, ""))
			return bad(im, "'%s' is not a persistence engine name", lo->val[O_PE]);
		note(s->notes, "persistence engine %s", lo->val[O_PE]);
	}
	if (lo->seen[O_SFLAGS]) {
		if (!is_word(lo->val[O_SFLAGS], 64, ","))
			return bad(im, "'%s' is not a list of scheduler flags", lo->val[O_SFLAGS]);
		note(s->notes, "scheduler flags %s", lo->val[O_SFLAGS]);
	}
	if (lo->seen[O_OPS])
		note(s->notes, "one-packet scheduling -o (connection tracking keeps a flow "
			       "on its backend)");
	im->n_svc++;

	if (k.kind == K_TCP || k.kind == K_UDP) {
		if (k.port == 0 && !lo->seen[O_PERSIST])
			return bad(im, "virtual service %s: port 0 (all ports) is only valid for a "
				   "persistent service (-p)", desc);
		snprintf(s->name, sizeof(s->name), "%s-%s-", k.kind == K_TCP ? "tcp" : "udp",
			 k.text);
		for (char *c = s->name; *c; c++)
			if (*c == '.' || *c == ':')
				*c = '-';
		if (k.port)
			snprintf(s->name + strlen(s->name), sizeof(s->name) - strlen(s->name),
				 "%u", k.port);
		else
			snprintf(s->name + strlen(s->name), sizeof(s->name) - strlen(s->name),
				 "all");
		unique_name(im, s);
		return 0;
	}
	{
		const char *why = k.kind == K_SCTP
			? "SCTP has no Switchyard equivalent (services are tcp or udp)"
			: "a firewall-mark service has no Switchyard equivalent (a service is one "
			  "VIP, port and protocol)";

		if (!im->skip_unsupported)
			return bad(im, "%s: %s; convert it by hand, or pass --skip-unsupported to "
				   "leave it out", desc, why);
		skip_service(im, s, why);
	}
	return 0;
}

static int add_real_server(struct importer *im, const struct line_opts *lo)
{
	struct svc_key k;
	struct service *s;
	struct real_server r = { .weight = 1, .line = im->line };
	enum sy_fwd_mode mode;
	unsigned long v, tun_port = 0;
	const char *fwd = lo->seen[O_FWD] ? lo->val[O_FWD] : "-g";
	const char *tun = lo->seen[O_TUNTYPE] ? lo->val[O_TUNTYPE] : "ipip";
	bool has_port, masq = false;
	char desc[128];
	int rc;

	if ((rc = parse_svc_key(im, lo, &k)))
		return rc;
	svc_describe(&k, desc, sizeof(desc));
	s = find_service(im, &k);
	if (!s)
		return bad(im, "real server of %s, but no -A line before adds that service", desc);
	if (!lo->seen[O_RS])
		return bad(im, "a real server line needs -r ADDR:PORT");
	if ((rc = parse_addrport(im, "real server", lo->val[O_RS], &r.family, r.addr, r.text,
				 &r.port, &has_port)))
		return rc;
	if (!has_port)
		r.port = s->port;
	if (r.port == 0 && s->port != 0)
		return bad(im, "real server '%s': port 0 in a service of one port (%u); give "
			   "its port, or none for the service's", lo->val[O_RS], s->port);
	if (lo->seen[O_WEIGHT]) {
		if (parse_ulong(lo->val[O_WEIGHT], 0, IPVS_WEIGHT_MAX, &r.weight))
			return bad(im, "weight '%s' is not a number 0..2147483647",
				   lo->val[O_WEIGHT]);
		if (r.weight > SY_WEIGHT_MAX)
			return bad(im, "weight %lu is more than Switchyard's maximum %u: scale "
				   "this service's weights down", r.weight, SY_WEIGHT_MAX);
	}
	if (lo->seen[O_UTHR] || lo->seen[O_LTHR]) {
		char thr[64] = "";

		for (int o = O_UTHR; o <= O_LTHR; o++) {
			if (!lo->seen[o])
				continue;
			if (parse_ulong(lo->val[o], 0, 65535, &v))
				return bad(im, "%s '%s' is not a connection threshold 0..65535",
					   lo->name[o], lo->val[o]);
			if (v)
				snprintf(thr + strlen(thr), sizeof(thr) - strlen(thr), " %s %lu",
					 o == O_UTHR ? "-x" : "-y", v);
		}
		if (*thr)
			note(r.notes, "connection thresholds%s dropped", thr);
	}

	/* Forwarding method -> mode. */
	if ((lo->seen[O_TUNTYPE] || lo->seen[O_TUNPORT] || lo->seen[O_CSUM]) && strcmp(fwd, "-i") &&
	    strcmp(fwd, "--ipip"))
		return bad(im, "%s is only for tunnelled real servers (-i)",
			   lo->seen[O_TUNTYPE] ? "--tun-type" : lo->seen[O_TUNPORT] ? "--tun-port"
										  : lo->name[O_CSUM]);
	if (!strcmp(fwd, "-g") || !strcmp(fwd, "--gatewaying")) {
		mode = SY_FWD_L2DSR;
	} else if (!strcmp(fwd, "-m") || !strcmp(fwd, "--masquerading")) {
		masq = true;
		mode = im->nat_as;
	} else if (!strcmp(tun, "ipip")) {
		if (lo->seen[O_TUNPORT] || lo->seen[O_CSUM])
			return bad(im, "%s does not go with --tun-type ipip",
				   lo->seen[O_TUNPORT] ? "--tun-port" : lo->name[O_CSUM]);
		mode = SY_FWD_IPIP;
	} else if (!strcmp(tun, "gue")) {
		if (!lo->seen[O_TUNPORT])
			return bad(im, "--tun-type gue needs --tun-port PORT");
		if (parse_ulong(lo->val[O_TUNPORT], 1, 65535, &tun_port))
			return bad(im, "--tun-port '%s' is not a port 1..65535", lo->val[O_TUNPORT]);
		mode = SY_FWD_GUE;
	} else if (!strcmp(tun, "gre")) {
		if (lo->seen[O_TUNPORT])
			return bad(im, "--tun-port does not go with --tun-type gre");
		mode = MODE_NONE;
	} else {
		return bad(im, "--tun-type '%s' is not ipip, gue or gre", tun);
	}
	if (lo->seen[O_CSUM] && strcmp(lo->name[O_CSUM], "--tun-nocsum"))
		note(r.notes, "%s dropped (Switchyard sets its own outer checksums)",
		     lo->name[O_CSUM]);

	if (s->skipped[0]) { /* its service is left out: counted, not kept */
		s->n_rs_skipped++;
		return 0;
	}
	if (mode == MODE_NONE) {
		const char *why = masq
			? "masquerading (-m, NAT) has no Switchyard equivalent: backends answer "
			  "clients directly (DSR)"
			: "GRE tunnels (--tun-type gre) have no Switchyard mode (ipip, gue, l2dsr)";

		if (!im->skip_unsupported)
			return bad(im, "real server %s of %s: %s; pass %s--skip-unsupported to leave "
				   "the service out", lo->val[O_RS], desc, why,
				   masq ? "--nat-as ipip|gue|l2dsr to forward it with a DSR mode "
					  "(the backend must then own the VIP), or " : "");
		skip_service(im, s, why);
		s->n_rs_skipped++;
		return 0;
	}
	if (masq) {
		if (!s->nat)
			warn(im, im->line, "masquerading (-m) real servers of %s forwarded as %s "
			     "(--nat-as): the backends must own the VIP and answer clients "
			     "directly", desc, sy_fwd_mode_name(mode));
		s->nat = true;
		if (r.port != s->port && s->port)
			note(r.notes, "was -m (NAT), now %s: packets arrive for port %u, not %u",
			     sy_fwd_mode_name(mode), s->port, r.port);
		else
			note(r.notes, "was -m (NAT), now %s", sy_fwd_mode_name(mode));
	}
	if (mode == SY_FWD_L2DSR && r.family != s->family)
		return bad(im, "real server %s of %s: direct routing (-g) needs an address of the "
			   "VIP's family", lo->val[O_RS], desc);
	if (s->mode && s->mode != mode)
		return bad(im, "real server %s of %s is forwarded with %s, but the one on line %u "
			   "with %s: a Switchyard service has one forwarding mode", lo->val[O_RS],
			   desc, sy_fwd_mode_name(mode), s->mode_line, sy_fwd_mode_name(s->mode));
	/* tun_port 0: a -m real server forwarded as gue (--nat-as gue), which
	 * takes the service's gue_port */
	if (s->mode == SY_FWD_GUE && tun_port && s->gue_port && s->gue_port != tun_port)
		return bad(im, "real server %s of %s: --tun-port %lu, but the one on line %u has "
			   "%u: a Switchyard service has one gue_port", lo->val[O_RS], desc,
			   tun_port, s->gue_line, s->gue_port);
	if ((mode == SY_FWD_IPIP || mode == SY_FWD_GUE) &&
	    !(r.family == AF_INET ? im->encap4 : im->encap6)) {
		bad(im, "real server %s is tunnelled (%s): give --encap-source%c ADDR, the outer "
		    "source address (IPVS takes it from the routing table; Switchyard needs it "
		    "in the configuration)", lo->val[O_RS], sy_fwd_mode_name(mode),
		    r.family == AF_INET ? '4' : '6');
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < s->n_rs; i++)
		if (s->rs[i].family == r.family && s->rs[i].port == r.port &&
		    !memcmp(s->rs[i].addr, r.addr, sizeof(r.addr)))
			return bad(im, "real server %s of %s is already added on line %u",
				   lo->val[O_RS], desc, s->rs[i].line);
	if (!s->mode) {
		s->mode = mode;
		s->mode_line = im->line;
	}
	if (mode == SY_FWD_GUE && tun_port && !s->gue_port) {
		s->gue_port = (unsigned)tun_port;
		s->gue_line = im->line;
	}
	if (s->n_rs == s->cap_rs) {
		size_t cap = s->cap_rs ? 2 * s->cap_rs : 8;
		struct real_server *n = realloc(s->rs, cap * sizeof(*n));

		if (!n)
			return bad(im, "out of memory");
		s->rs = n;
		s->cap_rs = cap;
	}
	s->rs[s->n_rs++] = r;
	return 0;
}

/* One input line; 0 or an exit code. */
static int import_line(struct importer *im, char *line, size_t len)
{
	char *tok[MAX_TOKENS], echo[MAX_LINE];
	int n = 0;
	size_t used = 0;
	struct line_opts lo;
	enum opt_id cmd = O_CLEAR;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = 0;
	if (len >= MAX_LINE)
		return bad(im, "line longer than %d bytes", MAX_LINE - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 ? line[i] != '\t' : (unsigned char)line[i] > 0x7e)
			return bad(im, "byte 0x%02x at column %zu is not printable ASCII",
				   (unsigned char)line[i], i + 1);
	for (char *p = strtok(line, " \t"); p; p = strtok(NULL, " \t")) {
		if (n == 0 && p[0] == '#')
			return 0;
		if (n == MAX_TOKENS)
			return bad(im, "more than %d words", MAX_TOKENS);
		tok[n++] = p;
	}
	if (!n)
		return 0;
	echo[0] = 0;
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(echo + used, sizeof(echo) - used, "%s%s", i ? " " : "",
					 tok[i]);
	if (parse_options(im, tok, n, &lo, &cmd))
		return EXIT_BAD_INPUT;
	if (cmd == O_CLEAR) {
		free_services(im);
		return 0;
	}
	return cmd == O_ADD_SVC ? add_service(im, &lo, echo) : add_real_server(im, &lo);
}

/* ---- Output -------------------------------------------------------------- */

static void emit_addr(FILE *f, int family, const char *text)
{
	/* IPv6 quoted: a plain scalar with ':' is fragile in flow mappings. */
	fprintf(f, family == AF_INET6 ? "\"%s\"" : "%s", text);
}

static void emit(const struct importer *im, FILE *f)
{
	size_t converted = 0;

	fprintf(f, "# Switchyard configuration written by `syctl import-ipvs` from `ipvsadm -Sn`\n"
		   "# output. Every service balances with Maglev consistent hashing on the\n"
		   "# 5-tuple (weights kept), a persistent one (-p) on the client's address\n"
		   "# (hash: source-ip); rr and wrr are a weighted round-robin, lc and wlc a\n"
		   "# weighted least-connections: other IPVS schedulers, persistence timeouts,\n"
		   "# thresholds and scheduler flags have no equivalent. What each service lost\n"
		   "# is noted above it; \"line N\" is the line of the ipvsadm input.\n");
	fprintf(f, "instance: %s\n", im->instance);
	if (im->encap4 || im->encap6) {
		fprintf(f, "defaults:\n");
		if (im->encap4)
			fprintf(f, "  encap_source4: %s\n", im->encap4);
		if (im->encap6)
			fprintf(f, "  encap_source6: \"%s\"\n", im->encap6);
	}
	for (size_t i = 0; i < im->n_svc; i++)
		converted += !im->svc[i].skipped[0];
	fprintf(f, converted ? "services:\n" : "services: []\n");
	for (size_t i = 0; i < im->n_svc; i++) {
		const struct service *s = &im->svc[i];

		fprintf(f, "\n  # line %u: %s\n", s->line, s->echo);
		if (s->skipped[0]) {
			fprintf(f, "  #   LEFT OUT (--skip-unsupported): %s; %u real server%s "
				   "not converted\n", s->skipped, s->n_rs_skipped,
				s->n_rs_skipped == 1 ? "" : "s");
			continue;
		}
		if (s->notes[0])
			fprintf(f, "  #   dropped: %s\n", s->notes);
		if (!s->n_rs)
			fprintf(f, "  #   no real servers: mode l2dsr, ipvsadm's default forwarding "
				   "method (-g)\n");
		fprintf(f, "  - name: %s\n    vip: ", s->name);
		emit_addr(f, s->family, s->text);
		fprintf(f, "\n");
		if (s->port)
			fprintf(f, "    port: %u\n", s->port);
		else
			fprintf(f, "    port: all\n");
		fprintf(f, "    protocol: %s\n", s->kind == K_TCP ? "tcp" : "udp");
		fprintf(f, "    mode: %s\n", sy_fwd_mode_name(s->mode ? s->mode : SY_FWD_L2DSR));
		if (s->mode == SY_FWD_GUE)
			fprintf(f, "    gue_port: %u\n",
				s->gue_port ? s->gue_port : SY_CONFIG_DEFAULT_GUE_PORT);
		if (s->persistent)
			fprintf(f, "    hash: source-ip\n");
		if (s->round_robin)
			fprintf(f, "    scheduler: round-robin\n");
		if (s->least_conns)
			fprintf(f, "    scheduler: least-connections\n");
		fprintf(f, "    source: static\n");
		if (!s->n_rs) {
			fprintf(f, "    backends: []\n");
			continue;
		}
		fprintf(f, "    backends:\n");
		for (size_t j = 0; j < s->n_rs; j++) {
			const struct real_server *r = &s->rs[j];

			fprintf(f, "      - { address: ");
			emit_addr(f, r->family, r->text);
			fprintf(f, ", port: %u, weight: %lu }  # line %u%s%s\n", r->port, r->weight,
				r->line, r->notes[0] ? "; " : "", r->notes);
		}
	}
}

/* Write text to path through a temporary file in the same directory. */
static int write_file(const char *path, const char *text, size_t len)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	mode_t um;
	FILE *f;
	int fd, ok;

	if (!tmp) {
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_BAD_INPUT;
	}
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot create a temporary file beside %s: %s\n", path,
			strerror(errno));
		free(tmp);
		return EXIT_BAD_INPUT;
	}
	um = umask(0);
	umask(um);
	f = fdopen(fd, "w");
	ok = f && fchmod(fd, 0666 & ~um) == 0 && fwrite(text, 1, len, f) == len &&
	     fflush(f) == 0 && fsync(fd) == 0;
	if (f)
		ok = (fclose(f) == 0) && ok;
	else
		close(fd);
	if (!ok || rename(tmp, path)) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return EXIT_BAD_INPUT;
	}
	free(tmp);
	return 0;
}

/* ---- The conversion ------------------------------------------------------ */

int sy_ipvs_convert(const char *in, size_t len, const struct sy_ipvs_opts *o, char **yaml,
		    size_t *yaml_len, size_t *n_services, char *err, size_t errlen)
{
	struct importer im = {
		.file = o->file ? o->file : "<stdin>",
		.encap4 = o->encap4,
		.encap6 = o->encap6,
		.nat_as = o->nat_as <= SY_FWD_L2DSR ? o->nat_as : MODE_NONE,
		.skip_unsupported = o->skip_unsupported,
		.warnings = o->warnings,
		.err = err,
		.errlen = errlen,
	};
	struct sy_config *cfg = NULL;
	char *line = NULL, *text = NULL, lerr[512];
	size_t cap = 0, tlen = 0, pos = 0, converted = 0;
	FILE *mem;
	int rc = 0;

	*yaml = NULL;
	if (errlen)
		err[0] = 0;
	snprintf(im.instance, sizeof(im.instance), "%s", o->instance ? o->instance : "switchyard");

	/* Line by line, as getline() splits them: each with its '\n', the last
	 * one possibly without. */
	while (!rc && pos < len) {
		const char *nl = memchr(in + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (in + pos)) + 1 : len - pos;

		im.line++;
		if (ll + 1 > cap) {
			char *n = realloc(line, ll + 1);

			if (!n) {
				rc = bad(&im, "out of memory");
				break;
			}
			line = n;
			cap = ll + 1;
		}
		memcpy(line, in + pos, ll);
		line[ll] = 0;
		pos += ll;
		if (memchr(line, 0, ll))
			rc = bad(&im, "contains a NUL byte");
		else
			rc = import_line(&im, line, ll);
	}
	free(line);
	if (rc)
		goto out;

	mem = open_memstream(&text, &tlen);
	if (!mem) {
		snprintf(err, errlen, "out of memory");
		rc = EXIT_BAD_INPUT;
		goto out;
	}
	emit(&im, mem);
	if (fclose(mem)) {
		snprintf(err, errlen, "out of memory");
		rc = EXIT_BAD_INPUT;
		goto out;
	}
	/* What is written must load: the same loader as sy-control's. */
	if (sy_config_load_buffer("(generated)", text, tlen, &cfg, lerr, sizeof(lerr))) {
		snprintf(err, errlen, "internal error, the generated configuration does not "
				      "load: %s", lerr);
		rc = EXIT_BAD_INPUT;
		goto out;
	}
	sy_config_free(cfg);
	for (size_t i = 0; i < im.n_svc; i++)
		converted += !im.svc[i].skipped[0];
	*yaml = text;
	text = NULL;
	if (yaml_len)
		*yaml_len = tlen;
	if (n_services)
		*n_services = converted;
out:
	free(text);
	free_services(&im);
	return rc;
}

/* ---- The command --------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see syctl import-ipvs --help)\n");
	return EXIT_USAGE;
}

/* A save of even a very large IPVS table is a few megabytes; more is not
 * ipvsadm's output (a device, a wrong file), and is refused before it can
 * take the host's memory. */
#define MAX_INPUT_BYTES (64u << 20)

/* All of in into *buf (malloc'd, *len bytes): 0, or EXIT_BAD_INPUT with a
 * message. */
static int read_all(FILE *in, const char *name, char **buf, size_t *len)
{
	size_t cap = 0, n = 0, want, got;
	char *b = NULL;

	do {
		if (n > MAX_INPUT_BYTES) { /* read one byte past the limit: over it */
			fprintf(stderr, PROG ": %s: over %u MiB, not an ipvsadm -S save\n", name,
				MAX_INPUT_BYTES >> 20);
			free(b);
			return EXIT_BAD_INPUT;
		}
		if (cap - n < 4096) {
			size_t ncap = cap ? 2 * cap : 65536;
			char *nb = ncap > cap ? realloc(b, ncap) : NULL;

			if (!nb) {
				fprintf(stderr, PROG ": out of memory\n");
				free(b);
				return EXIT_BAD_INPUT;
			}
			b = nb;
			cap = ncap;
		}
		want = cap - n;
		if (want > MAX_INPUT_BYTES + 1 - n)
			want = MAX_INPUT_BYTES + 1 - n;
		got = fread(b + n, 1, want, in);
		n += got;
	} while (got == want); /* short: end of file or error */
	if (ferror(in)) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", name, strerror(errno));
		free(b);
		return EXIT_BAD_INPUT;
	}
	*buf = b;
	*len = n;
	return 0;
}

int syctl_import_ipvs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, 0, 'o' },
		{ "instance", required_argument, 0, 'I' },
		{ "encap-source4", required_argument, 0, '4' },
		{ "encap-source6", required_argument, 0, '6' },
		{ "nat-as", required_argument, 0, 'n' },
		{ "skip-unsupported", no_argument, 0, 'S' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct sy_ipvs_opts im = { .file = "<stdin>", .warnings = stderr };
	const char *out_path = NULL, *in_path = NULL;
	unsigned char a[16];
	/* a message quotes the file name (< PATH_MAX, it was opened) and at most
	 * two words of a line (< MAX_LINE) */
	char *input = NULL, *text = NULL, err[16384];
	size_t ilen = 0, tlen = 0;
	FILE *in;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out_path = optarg;
			break;
		case 'I':
			if (!sy_config_instance_ok(optarg))
				return usage_error("--instance '%s' is not a valid instance name (" SY_CONFIG_INSTANCE_RULE ")", optarg);
			im.instance = optarg;
			break;
		case '4':
			if (inet_pton(AF_INET, optarg, a) != 1 || addr_is_zero(a, AF_INET))
				return usage_error("--encap-source4 '%s' is not an IPv4 address", optarg);
			im.encap4 = optarg;
			break;
		case '6':
			if (inet_pton(AF_INET6, optarg, a) != 1 || addr_is_zero(a, AF_INET6))
				return usage_error("--encap-source6 '%s' is not an IPv6 address", optarg);
			im.encap6 = optarg;
			break;
		case 'n':
			im.nat_as = sy_fwd_mode_parse(optarg);
			if (!im.nat_as)
				return usage_error("--nat-as '%s' is not ipip, gue or l2dsr", optarg);
			break;
		case 'S':
			im.skip_unsupported = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return usage_error("one input file at most (extra '%s')", argv[optind + 1]);
	if (optind < argc && strcmp(argv[optind], "-"))
		in_path = argv[optind];
	if (in_path) {
		in = fopen(in_path, "r");
		if (!in) {
			fprintf(stderr, PROG ": cannot read %s: %s\n", in_path, strerror(errno));
			return EXIT_USAGE;
		}
		im.file = in_path;
	} else {
		in = stdin;
	}

	rc = read_all(in, im.file, &input, &ilen);
	if (in != stdin)
		fclose(in);
	if (rc)
		goto out;

	rc = sy_ipvs_convert(input, ilen, &im, &text, &tlen, NULL, err, sizeof(err));
	if (rc) {
		fprintf(stderr, PROG ": %s\n", err);
		goto out;
	}
	if (out_path) {
		rc = write_file(out_path, text, tlen);
	} else if (fwrite(text, 1, tlen, stdout) != tlen || fflush(stdout)) {
		fprintf(stderr, PROG ": cannot write the standard output: %s\n", strerror(errno));
		rc = EXIT_BAD_INPUT;
	}
out:
	free(input);
	free(text);
	return rc;
}
