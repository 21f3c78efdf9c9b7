/* SPDX-License-Identifier: BSD-3-Clause
 * Mapping and validating a region file; shared by the writer and readers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <switchyard/region.h>

/* FNV-1a style over 64-bit words (8x fewer multiplications than bytewise:
 * it runs on every published table), the checksum field read as zero. */
uint64_t sy_object_checksum(const void *obj, size_t size, size_t checksum_field_off)
{
	const uint8_t *p = obj;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i = 0;

	for (; i + 8 <= size; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (i + 8 > checksum_field_off && i < checksum_field_off + sizeof(uint64_t)) {
			uint8_t b[8];

			memcpy(b, &w, 8);
			for (size_t k = 0; k < 8; k++)
				if (i + k >= checksum_field_off && i + k < checksum_field_off + 8)
					b[k] = 0;
			memcpy(&w, b, 8);
		}
		h ^= w;
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < size; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Read and validate the header of the region file open as fd. */
static int read_header(const char *path, int fd, struct sy_region_header *h, char *err,
		       size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(*h)) {
		snprintf(err, errlen, "region %s: file too small (%lld bytes) to be a region",
			 path, (long long)st.st_size);
		return -1;
	}
	if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h)) {
		snprintf(err, errlen, "region %s: cannot read header: %s", path,
			 strerror(errno));
		return -1;
	}
	if (h->magic != SY_REGION_MAGIC) {
		snprintf(err, errlen,
			 "region %s: bad magic 0x%016llx, not a Switchyard region (or not fully created)",
			 path, (unsigned long long)h->magic);
		return -1;
	}
	if (h->abi_version != SY_REGION_ABI_VERSION) {
		snprintf(err, errlen,
			 "region %s: ABI version %u, this build speaks version %u; restart sy-control and sy-dataplane from the same release",
			 path, h->abi_version, SY_REGION_ABI_VERSION);
		return -1;
	}
	if (h->header_size != sizeof(struct sy_region_header)) {
		snprintf(err, errlen, "region %s: header size %u, expected %zu", path,
			 h->header_size, sizeof(struct sy_region_header));
		return -1;
	}
	if (h->region_size != (uint64_t)st.st_size) {
		snprintf(err, errlen,
			 "region %s: header says %llu bytes but the file has %lld (truncated or corrupt)",
			 path, (unsigned long long)h->region_size, (long long)st.st_size);
		return -1;
	}
	if (h->heap_off + h->heap_size > h->region_size ||
	    h->stats_off + h->stats_stride * h->limits.max_lcores > h->region_size ||
	    h->ports_off < h->header_size || h->ports_off % 8 ||
	    h->ports_off + sizeof(struct sy_port_block) > h->region_size) {
		snprintf(err, errlen, "region %s: section offsets outside the file (corrupt)",
			 path);
		return -1;
	}
	return 0;
}

int sy_region_peek(const char *path, struct sy_region_header *h, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		snprintf(err, errlen, "region %s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	rc = read_header(path, fd, h, err, errlen);
	close(fd);
	return rc;
}

int sy_region_map_open(const char *path, struct sy_region_map *m, char *err,
		       size_t errlen)
{
	struct sy_region_header h;
	void *base;
	int fd;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "region %s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (read_header(path, fd, &h, err, errlen))
		goto fail;
	base = mmap(NULL, h.region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		snprintf(err, errlen, "region %s: mmap of %llu bytes failed: %s", path,
			 (unsigned long long)h.region_size, strerror(errno));
		goto fail;
	}
	m->base = base;
	m->size = h.region_size;
	m->fd = fd;
	m->hdr = base;
	return 0;
fail:
	close(fd);
	return -1;
}

void sy_region_map_close(struct sy_region_map *m)
{
	if (m->base)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}
