/* SPDX-License-Identifier: BSD-3-Clause
 * Reader registration; the per-burst path is inline in region.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <switchyard/region.h>

static int pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int sy_reader_register(struct sy_region_map *m, uint32_t lcore,
		       struct sy_reader *r, char *err, size_t errlen)
{
	struct sy_lcore_slot *slot;
	int32_t me = (int32_t)getpid(), owner;

	if (lcore >= m->hdr->limits.max_lcores) {
		snprintf(err, errlen, "lcore %u: the region has slots for lcores 0..%u",
			 lcore, m->hdr->limits.max_lcores - 1);
		return -1;
	}
	slot = sy_region_slot(m, lcore);
	owner = atomic_load(&slot->pid);
	if (owner && owner != me && pid_alive(owner)) {
		snprintf(err, errlen, "lcore slot %u is in use by live process %d", lcore,
			 owner);
		return -1;
	}
	/* A dead owner's slot is taken over; losing this race to another
	 * process starting at the same moment is reported, not ignored. */
	if (!atomic_compare_exchange_strong(&slot->pid, &owner, me)) {
		snprintf(err, errlen, "lcore slot %u was just claimed by process %d", lcore,
			 owner);
		return -1;
	}
	slot->lcore_id = lcore;
	atomic_store(&slot->seen_gen, atomic_load(&m->hdr->generation));
	r->map = m;
	r->slot = slot;
	r->lcore = lcore;
	sy_reader_online(r);
	return 0;
}

void sy_reader_unregister(struct sy_reader *r)
{
	if (!r->slot)
		return;
	sy_reader_offline(r);
	atomic_store(&r->slot->pid, 0);
	r->slot = NULL;
}
