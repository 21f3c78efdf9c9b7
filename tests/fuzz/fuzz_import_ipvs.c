/* SPDX-License-Identifier: BSD-3-Clause
 *
 * libFuzzer target: `syctl import-ipvs`'s converter (control/cli/syctl_import_ipvs.c,
 * linked into the target) through sy_ipvs_convert(), the command's conversion
 * of its input once read: the ipvsadm -Sn line parser (-A, -a, -C, short and
 * long options, --opt=value, addresses, ports, weights, thresholds,
 * persistence, tunnel types and ports, firewall marks, SCTP), the mapping to
 * Switchyard modes (--nat-as, --skip-unsupported), the YAML writer and the
 * check of its output with the real configuration loader. Everything is in
 * memory: no file is read or written, the warnings go to a memory stream.
 *
 * Input: byte 0 picks the options: bits 0-1 --nat-as (none, ipip, gue,
 * l2dsr), bit 2 --skip-unsupported, bit 3 --encap-source4 198.18.0.1, bit 4
 * --encap-source6 2001:2::1, bit 5 --instance edge-1; the rest is the rules
 * text.
 *
 * Invariants (abort on violation): the result is 0, 1 or 2 (2 only for a
 * tunnelled real server without its --encap-source). On success: YAML and no
 * message; the YAML is non-empty printable ASCII lines; it loads with
 * sy_config_load_buffer() (the converter's own check must never fail: no
 * "internal error"), with the instance chosen, as many services as the
 * conversion reports and as it has "  - name: " lines, and as many backends
 * as "      - { address: " lines; with --skip-unsupported added, the same
 * input converts to the same YAML (the flag only matters where the input
 * would otherwise fail). On failure: no YAML, and a message
 * "fuzz.rules:LINE: ..." with LINE a line of the input. Every warning is a
 * line "syctl import-ipvs: fuzz.rules:LINE: warning: ...". Everything is
 * freed (LeakSanitizer checks every input).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "syctl_import_ipvs.h"

#define NAME "fuzz.rules"
#define FZ_MAX_INPUT (64 * 1024)

#define FUZZ_TARGET "fuzz_import_ipvs"
#include "fuzz_check.h"

/* "NAME:LINE: " at the start of s: LINE, or 0 if s does not start so. */
static unsigned long line_of(const char *s)
{
	char *end;
	unsigned long l;

	if (strncmp(s, NAME ":", strlen(NAME ":")))
		return 0;
	s += strlen(NAME ":");
	if (*s < '0' || *s > '9')
		return 0;
	l = strtoul(s, &end, 10);
	return end[0] == ':' && end[1] == ' ' ? l : 0;
}

/* Lines of the input as getline() counts them. */
static unsigned long count_lines(const char *s, size_t len)
{
	unsigned long n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n + (len && s[len - 1] != '\n');
}

static size_t count_prefix(const char *text, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);

	for (const char *p = text; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		n += !strncmp(p, prefix, pl);
	}
	return n;
}

static void check_warnings(const char *w, size_t len, unsigned long lines)
{
	static const char pre[] = "syctl import-ipvs: ";

	CHECK(!len || w[len - 1] == '\n', "warnings not ended by a newline");
	for (const char *p = w; p < w + len; p = strchr(p, '\n') + 1) {
		unsigned long l;

		CHECK(!strncmp(p, pre, strlen(pre)), "warning without the command's name: %.80s", p);
		l = line_of(p + strlen(pre));
		CHECK(l >= 1 && l <= lines, "warning not naming a line 1..%lu: %.120s", lines, p);
		CHECK(!strncmp(strchr(p + strlen(pre), ' ') + 1, "warning: ", 9),
		      "warning line without \"warning: \": %.120s", p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sy_ipvs_opts o = { .file = NAME };
	const char *in = (const char *)data + 1;
	char *yaml = NULL, *yaml2 = NULL, *warnings = NULL, err[16384], lerr[512];
	size_t len, ylen = 0, ylen2 = 0, wlen = 0, nsvc = (size_t)-1, nsvc2 = 0, nb = 0;
	unsigned long lines;
	struct sy_config *cfg = NULL;
	FILE *w;
	int rc;

	if (size < 1 || size > FZ_MAX_INPUT)
		return -1;
	len = size - 1;
	o.nat_as = (enum sy_fwd_mode)(data[0] & 3); /* 0: none */
	o.skip_unsupported = data[0] & 4;
	o.encap4 = data[0] & 8 ? "198.18.0.1" : NULL;
	o.encap6 = data[0] & 16 ? "2001:2::1" : NULL;
	o.instance = data[0] & 32 ? "edge-1" : NULL;
	lines = count_lines(in, len);

	w = open_memstream(&warnings, &wlen);
	CHECK(w, "open_memstream");
	o.warnings = w;
	memset(err, 'x', sizeof(err));
	rc = sy_ipvs_convert(in, len, &o, &yaml, &ylen, &nsvc, err, sizeof(err));
	CHECK(fclose(w) == 0, "fclose of the warnings stream");
	check_warnings(warnings, wlen, lines);
	free(warnings);

	CHECK(rc == 0 || rc == 1 || rc == 2, "result %d", rc);
	if (rc) {
		unsigned long l = line_of(err);

		CHECK(!yaml, "result %d with a configuration", rc);
		CHECK(memchr(err, 0, sizeof(err)), "message not NUL-terminated");
		CHECK(strncmp(err, "internal error", 14), "%s", err);
		CHECK(l >= 1 && l <= lines, "message not naming a line 1..%lu: '%.200s'", lines, err);
		CHECK(rc == 1 || strstr(err, "give --encap-source"),
		      "result 2 for another error: '%.200s'", err);
		return 0;
	}

	CHECK(yaml && ylen > 0 && strlen(yaml) == ylen, "success without a configuration");
	CHECK(err[0] == 0, "success with a message: '%.200s'", err);
	CHECK(yaml[ylen - 1] == '\n', "configuration not ended by a newline");
	for (size_t i = 0; i < ylen; i++)
		CHECK(yaml[i] == '\n' || (yaml[i] >= 0x20 && yaml[i] <= 0x7e),
		      "byte 0x%02x at %zu of the configuration", (unsigned char)yaml[i], i);
	CHECK(nsvc == count_prefix(yaml, "  - name: "), "%zu services reported, %zu in the YAML",
	      nsvc, count_prefix(yaml, "  - name: "));

	CHECK(sy_config_load_buffer("generated.yaml", yaml, ylen, &cfg, lerr, sizeof(lerr)) == 0,
	      "the configuration does not load: %s\n%s", lerr, yaml);
	CHECK(!strcmp(cfg->instance, o.instance ? o.instance : "switchyard"), "instance %s",
	      cfg->instance);
	CHECK(cfg->n_services == nsvc, "%zu services loaded, %zu reported", cfg->n_services, nsvc);
	for (size_t i = 0; i < cfg->n_services; i++)
		nb += cfg->services[i].n_backends;
	CHECK(nb == count_prefix(yaml, "      - { address: "), "%zu backends loaded, %zu in the YAML",
	      nb, count_prefix(yaml, "      - { address: "));
	sy_config_free(cfg);

	if (!o.skip_unsupported) {
		o.skip_unsupported = true;
		o.warnings = NULL;
		rc = sy_ipvs_convert(in, len, &o, &yaml2, &ylen2, &nsvc2, err, sizeof(err));
		CHECK(rc == 0, "fails with --skip-unsupported (%d): %s", rc, err);
		CHECK(ylen2 == ylen && !memcmp(yaml, yaml2, ylen) && nsvc2 == nsvc,
		      "another configuration with --skip-unsupported");
		free(yaml2);
	}
	free(yaml);
	return 0;
}
