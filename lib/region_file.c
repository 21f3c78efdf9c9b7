/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The region's file, as opposed to its mapping: whether the path still names
 * the file a process has mapped, and a copy of a mapped region into a new
 * file at the path. A region file removed while sy-control and sy-dataplane
 * map it (an operator, a tmpfiles cleaner, a container restart) keeps
 * serving them, but a restarted sy-control would create a new, empty region
 * beside it and the two sides would part ways; with these, whoever notices
 * re-creates the file from the live mapping and the other side follows it
 * (docs/region.md, "When the file is removed").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <switchyard/region.h>

int sy_region_file_state(int fd, const char *path)
{
	struct stat a, b;

	if (fstat(fd, &a))
		return -1;
	if (stat(path, &b))
		return errno == ENOENT ? SY_REGION_FILE_MISSING : -1;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino ? SY_REGION_FILE_SAME
							     : SY_REGION_FILE_OTHER;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int sy_region_copy(int from_fd, uint64_t size, const char *path, char *err, size_t errlen)
{
	const size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	int fd = -1;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (fd < 0) {
		snprintf(err, errlen, "region %s: cannot create: %s", path, strerror(errno));
		free(buf);
		return -1;
	}
	/* sized first, then only the non-zero chunks written: a region is mostly
	 * zero heap and counters, and the copy stays as sparse as the original */
	if (ftruncate(fd, (off_t)size) < 0) {
		snprintf(err, errlen, "region %s: cannot size to %llu bytes: %s", path,
			 (unsigned long long)size, strerror(errno));
		goto fail;
	}
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
		ssize_t r = pread(from_fd, buf, n, (off_t)off);

		if (r != (ssize_t)n) {
			snprintf(err, errlen, "region %s: reading the live region at %llu: %s", path,
				 (unsigned long long)off, r < 0 ? strerror(errno) : "short read");
			goto fail;
		}
		if (!all_zero(buf, n) && pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
			snprintf(err, errlen, "region %s: writing at %llu: %s", path,
				 (unsigned long long)off, strerror(errno));
			goto fail;
		}
	}
	free(buf);
	close(fd);
	return 0;
fail:
	free(buf);
	close(fd);
	unlink(path);
	return -1;
}
