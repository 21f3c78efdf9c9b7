/* SPDX-License-Identifier: BSD-3-Clause
 * A registry answer's buffer; see http_body.h. */
#include <stdlib.h>
#include <string.h>

#include "http_body.h"

size_t sy_http_body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sy_http_body *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > SY_HTTP_BODY_MAX) {
		b->too_big = true;
		return 0; /* curl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

void sy_http_body_reset(struct sy_http_body *b)
{
	b->len = 0;
	b->too_big = false;
	if (b->p)
		b->p[0] = 0;
}
