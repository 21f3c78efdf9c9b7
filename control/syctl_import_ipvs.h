/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef SY_CONTROL_SYCTL_IMPORT_IPVS_H
#define SY_CONTROL_SYCTL_IMPORT_IPVS_H

/* `syctl import-ipvs [-o FILE] [options] [FILE|-]` (argv[0] = "import-ipvs"):
 * reads `ipvsadm -Sn` (ipvsadm-save -n) output and writes the equivalent
 * Switchyard YAML configuration. Returns the exit code: 0 written, 1 a line
 * of the input cannot be converted (FILE:LINE: named) or the output cannot
 * be written, 2 usage. See docs/control.md, "Migrating from IPVS". */
int syctl_import_ipvs(int argc, char **argv);

#endif
