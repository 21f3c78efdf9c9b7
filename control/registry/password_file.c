/* SPDX-License-Identifier: BSD-3-Clause
 *
 * A registry user's password from its file (password_file.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "password_file.h"

int sy_password_file_read(const char *path, char *pw, size_t len, char *why, size_t whylen)
{
	FILE *f = fopen(path, "r");
	size_t n;
	int more;

	if (!f) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(pw, 1, len - 1, f);
	more = fgetc(f) != EOF;
	fclose(f);
	pw[n] = 0;
	while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
		pw[--n] = 0;
	if (more || !n) {
		explicit_bzero(pw, len);
		snprintf(why, whylen, "%s: %s", path,
			 more ? "too long for a password" : "empty: no password in it");
		return -1;
	}
	return 0;
}
