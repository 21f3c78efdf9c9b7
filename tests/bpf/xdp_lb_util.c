/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <switchyard/xdp_maps.h>

#include "xdp_lb_util.h"

int sy_xdp_test_map_fd(int prog_fd, const char *name)
{
	struct bpf_prog_info info;
	uint32_t ids[32], len = sizeof(info);

	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 32;
	info.map_ids = (uint64_t)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -1;
	for (uint32_t i = 0; i < info.nr_map_ids && i < 32; i++) {
		struct bpf_map_info mi;
		uint32_t mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		if (bpf_obj_get_info_by_fd(fd, &mi, &mlen) == 0 && strcmp(mi.name, name) == 0)
			return fd;
		close(fd);
	}
	return -1;
}

long sy_xdp_test_map_clear(int map_fd)
{
	struct bpf_map_info mi;
	uint32_t mlen = sizeof(mi);
	void *key;
	long n = 0;

	memset(&mi, 0, sizeof(mi));
	if (bpf_obj_get_info_by_fd(map_fd, &mi, &mlen))
		return -1;
	key = malloc(mi.key_size);
	if (!key)
		return -1;
	while (bpf_map_get_next_key(map_fd, NULL, key) == 0) {
		if (bpf_map_delete_elem(map_fd, key))
			break;
		n++;
	}
	free(key);
	return n;
}

long sy_xdp_test_ct_clear(int conntrack_fd)
{
	struct bpf_map_info mi;
	uint32_t mlen = sizeof(mi);
	struct sy_xdp_ct_set *sets;
	size_t len;
	long n = 0;

	memset(&mi, 0, sizeof(mi));
	if (bpf_obj_get_info_by_fd(conntrack_fd, &mi, &mlen) || mi.type != BPF_MAP_TYPE_ARRAY ||
	    mi.value_size != sizeof(*sets))
		return -1;
	len = (size_t)mi.max_entries * sizeof(*sets);
	sets = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, conntrack_fd, 0);
	if (sets == MAP_FAILED)
		return -1;
	for (size_t i = 0; i < mi.max_entries; i++)
		for (uint32_t w = 0; w < SY_XDP_CT_WAYS; w++)
			n += sets[i].expires_ns[w] != 0;
	memset(sets, 0, len);
	munmap(sets, len);
	return n;
}

int sy_xdp_test_percpu_zero(int map_fd, uint32_t key)
{
	struct bpf_map_info mi;
	uint32_t mlen = sizeof(mi);
	int ncpus = libbpf_num_possible_cpus(), rc;
	void *zeros;

	memset(&mi, 0, sizeof(mi));
	if (ncpus <= 0 || bpf_obj_get_info_by_fd(map_fd, &mi, &mlen))
		return -EINVAL;
	/* per-CPU values are 8-byte aligned, one per possible CPU */
	zeros = calloc((size_t)ncpus, (mi.value_size + 7) & ~7u);
	if (!zeros)
		return -ENOMEM;
	rc = bpf_map_update_elem(map_fd, &key, zeros, BPF_ANY) ? -errno : 0;
	free(zeros);
	return rc;
}

int sy_xdp_test_run(int prog_fd, const uint8_t *frame, uint32_t len, uint8_t *out,
		    uint32_t out_cap, uint32_t *out_len, uint32_t *action, uint32_t *duration_ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = len,
		.data_out = out,
		.data_size_out = out_cap,
		.repeat = 1,
	);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	if (err)
		return err < 0 ? err : -errno;
	*out_len = opts.data_size_out;
	*action = opts.retval;
	if (duration_ns)
		*duration_ns = opts.duration;
	return 0;
}
