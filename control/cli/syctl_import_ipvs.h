/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_SYCTL_IMPORT_IPVS_H
#define SY_CONTROL_SYCTL_IMPORT_IPVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <switchyard/region_types.h>

/* `syctl import-ipvs [-o FILE] [options] [FILE|-]` (argv[0] = "import-ipvs"):
 * reads `ipvsadm -Sn` (ipvsadm-save -n) output and writes the equivalent
 * Switchyard YAML configuration. Returns the exit code: 0 written, 1 a line
 * of the input cannot be converted (FILE:LINE: named) or the output cannot
 * be written, 2 usage. See docs/control.md, "Migrating from IPVS". */
int syctl_import_ipvs(int argc, char **argv);

/* The command's options, already checked by the caller (syctl_import_ipvs()
 * does: instance [a-z0-9-]{1,31}, encap sources numeric and not
 * unspecified). */
struct sy_ipvs_opts {
	const char *file;          /* named in messages: the input path or "<stdin>" */
	const char *instance;      /* NULL: "switchyard" */
	const char *encap4;        /* --encap-source4, NULL if none */
	const char *encap6;        /* --encap-source6, NULL if none */
	/* --nat-as: how masquerading (-m) real servers are forwarded; 0: not
	 * at all (an error, or left out with skip_unsupported) */
	enum sy_fwd_mode nat_as;
	bool skip_unsupported;     /* --skip-unsupported */
	FILE *warnings;            /* "syctl import-ipvs: FILE:LINE: warning: ..." lines; NULL: none */
};

/* The conversion of syctl import-ipvs on the input in[0..len) (any bytes):
 * ipvsadm -Sn lines -> YAML, which is then loaded with sy_config_load_buffer()
 * as a check. Returns 0 with *yaml (malloc'd, NUL-terminated; *yaml_len its
 * length if yaml_len is not NULL) and *n_services (the services converted,
 * if not NULL), or the command's exit code 1 (input not convertible) or 2
 * (a tunnelled real server without its --encap-source) with *yaml NULL and
 * err set. Messages about the input start "FILE:LINE: "; the others are
 * "out of memory" and "internal error, ...". */
int sy_ipvs_convert(const char *in, size_t len, const struct sy_ipvs_opts *o, char **yaml,
		    size_t *yaml_len, size_t *n_services, char *err, size_t errlen);

#endif
