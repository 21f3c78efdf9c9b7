/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The parser of the embedded registry's answer to
 * GET /v1/services/NAME/instances (docs/registry-api.md), on its own so
 * that it can be fuzzed (tests/fuzz/fuzz_resolve_answer.c): any input gives
 * either a checked answer or an error code with a message, never a crash.
 */
#ifndef SY_RESOLVE_PARSE_EMBEDDED_H
#define SY_RESOLVE_PARSE_EMBEDDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

#define SY_EMBEDDED_MAX_INSTANCES 65536u /* far above a registry's backend cap */

/* body[0..len-1] (need not be NUL-terminated) answers for `service` (NULL:
 * any). 0 and *a filled, or SY_RESOLVE_EINVAL / SY_RESOLVE_ENOMEM with a
 * message in err (*a then holds nothing to free). */
int sy_embedded_parse(const char *body, size_t len, const char *service,
		      struct sy_source_list *a, char *err, size_t errlen);

#endif
