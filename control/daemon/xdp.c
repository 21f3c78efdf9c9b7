/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-control's XDP dataplane (--dataplane xdp|auto): where DPDK cannot take
 * the port, sy-control itself loads bpf/sy_xdp_lb.bpf.c on the interface and
 * mirrors every published snapshot into its maps. The region stays the state
 * of record (it is what a restarted sy-control adopts, what `syctl` reads);
 * the program's per-CPU counters are copied into one region stats block,
 * just before /metrics or `syctl stats` read it, so that they show the same
 * names whichever path runs.
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/if_arp.h>
#include <linux/magic.h>

#include <switchyard/region.h>

#include "daemon.h"
#include "netaddr.h"
#include "xdp_lb.h"

#define BPFFS "/sys/fs/bpf" /* default pin root (--xdp-bpffs) */
#define TICK_EVERY_MS 200 /* deletion of departed backends after their grace */

static void pin_dir(const char *root, const char *instance, char *out, size_t n)
{
	snprintf(out, n, "%s/switchyard/%s", root[0] ? root : BPFFS, instance);
}

/* Pinning needs bpffs. systemd mounts it on /sys/fs/bpf, a bare host may
 * not have: we mount it there. Another root must already be a bpffs (under
 * `ip netns exec`, /sys is the command's own: pins there die with it). */
static int ensure_bpffs(const char *root, char *err, size_t errlen)
{
	struct statfs st;

	if (statfs(root[0] ? root : BPFFS, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (root[0] && strcmp(root, BPFFS)) {
		snprintf(err, errlen, "--xdp-bpffs %s is not a bpffs (mount -t bpf bpf %s)", root, root);
		return -1;
	}
	if (mount("bpf", BPFFS, "bpf", 0, "mode=0700")) {
		snprintf(err, errlen, "%s is not a bpffs and cannot be mounted: %s", BPFFS,
			 strerror(errno));
		return -1;
	}
	sy_logf("warn", "\"mounted a bpffs on %s: if this process has a mount namespace of its "
		"own (ip netns exec), the pins and the program die with it; use --xdp-bpffs\"", BPFFS);
	return 0;
}

/* MAC and MTU of an interface of our network namespace (an ioctl on a
 * socket asks the namespace we are in; /sys may show another one's). */
static int iface_mac_mtu(const char *ifname, uint8_t mac[6], uint16_t *mtu)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (fd < 0)
		return -1;
	memcpy(ifr.ifr_name, ifname, strnlen(ifname, sizeof(ifr.ifr_name) - 1));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER) {
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
		if (ioctl(fd, SIOCGIFMTU, &ifr) == 0) {
			*mtu = (uint16_t)(ifr.ifr_mtu > 65535 ? 65535 : ifr.ifr_mtu);
			rc = 0;
		}
	}
	close(fd);
	return rc;
}

/* Is a DPDK dataplane serving this region (auto mode)? Waits up to
 * wait_s seconds for one to appear. */
static bool dpdk_running(struct sy_daemon *d, unsigned wait_s)
{
	const struct sy_region_map *m = sy_writer_map(d->writer);

	for (unsigned i = 0; i <= wait_s * 10; i++) {
		int32_t pid = atomic_load(&m->hdr->dp_pid);

		if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
			return true;
		if (i < wait_s * 10)
			usleep(100 * 1000);
	}
	return false;
}

int sy_daemon_xdp_start(struct sy_daemon *d, char *err, size_t errlen)
{
	struct sy_xdp_opts o = { .ct_flows = d->xdp_ct_flows };
	struct sy_xdp_config cfg = {
		.mtu_action = 0, /* SY_MTU_ICMP: answer too-big */
		.tcp_ms = 900000, .tcp_fin_ms = 10000, .udp_ms = 300000, /* the DPDK path's */
		.icmp_rate = d->xdp_icmp_rate, .icmp_burst = d->xdp_icmp_burst,
		.ct_guard = d->xdp_ct_guard,
	};
	struct sy_region_map *m = sy_writer_map(d->writer);
	struct sy_xdp_ct_migration mig;
	char dir[256], buf[64];

	if (!strcmp(d->dp_mode, "dpdk"))
		return 0;
	if (!strcmp(d->dp_mode, "auto")) {
		if (dpdk_running(d, d->dpdk_wait_s)) {
			snprintf(d->dp_mode, sizeof(d->dp_mode), "dpdk");
			sy_logf("info", "\"dataplane: dpdk (sy-dataplane pid %d serves the region)\"",
				(int)atomic_load(&m->hdr->dp_pid));
			return 0;
		}
		sy_logf("info", "\"dataplane: xdp on %s: no DPDK dataplane on the region after %u s\"",
			d->xdp_iface, d->dpdk_wait_s);
		snprintf(d->dp_mode, sizeof(d->dp_mode), "xdp");
	}
	if (!d->xdp_iface[0]) {
		snprintf(err, errlen, "--dataplane xdp needs --iface");
		return -1;
	}
	if (iface_mac_mtu(d->xdp_iface, cfg.port_mac, &cfg.mtu)) {
		snprintf(err, errlen, "no Ethernet interface %s in this network namespace", d->xdp_iface);
		return -1;
	}
	if (d->xdp_redirect[0]) {
		cfg.tx_ifindex = if_nametoindex(d->xdp_redirect);
		if (!cfg.tx_ifindex) {
			snprintf(err, errlen, "no interface %s (--xdp-redirect)", d->xdp_redirect);
			return -1;
		}
	}
	if (ensure_bpffs(d->xdp_bpffs, err, errlen))
		return -1;
	pin_dir(d->xdp_bpffs, d->cfg->instance, dir, sizeof(dir));
	o.pin_dir = dir;
	if (sy_xdp_open(&d->xdp, &o, err, errlen))
		return -1;
	if (sy_xdp_replaced(d->xdp)[0])
		sy_logf("warn", "\"pinned XDP maps of another layout (an earlier version, another "
			"--xdp-ct-flows) replaced: what they held starts empty; tracked flows "
			"re-hash\" maps=\"%s\" pins=%s", sy_xdp_replaced(d->xdp), dir);
	/* the last lcore block of the region holds the program's counters */
	if (sy_reader_register(m, m->hdr->limits.max_lcores - 1, &d->xdp_reader, buf, sizeof(buf)) == 0) {
		sy_reader_offline(&d->xdp_reader); /* never holds reclamation */
		d->xdp_stats = sy_region_stats(m, m->hdr->limits.max_lcores - 1);
	} else {
		sy_logf("warn", "\"XDP counters not exported: %s\"", buf);
	}
	if (sy_xdp_configure(d->xdp, &cfg, err, errlen))
		goto fail;
	/* tables first, then the program: it never runs on empty maps */
	if (sy_writer_snapshot(d->writer) &&
	    sy_xdp_sync(d->xdp, m->base, sy_writer_snapshot(d->writer), err, errlen))
		goto fail;
	/* flows tracked by an earlier layout's tables, before our program runs */
	if (sy_xdp_ct_migrate(d->xdp, &mig))
		sy_logf("info", "\"connection tables of the earlier layout migrated\" cpus=%u live=%llu "
			"kept=%llu", mig.tables, (unsigned long long)mig.live,
			(unsigned long long)mig.kept);
	if (sy_xdp_attach(d->xdp, d->xdp_iface, d->xdp_generic ? SY_XDP_GENERIC : SY_XDP_NATIVE, err,
			  errlen))
		goto fail;
	if (sy_xdp_relinked(d->xdp))
		sy_logf("warn", "\"the pinned XDP link was detached (bpftool link detach, or its "
			"interface deleted): a new link attached in its place\" iface=%s pins=%s",
			d->xdp_iface, dir);
	sy_logf("info", "\"XDP dataplane attached\" iface=%s mode=%s pins=%s%s", d->xdp_iface,
		d->xdp_generic ? "generic" : "native", dir,
		sy_xdp_adopted(d->xdp) ? " adopted=yes (connection table kept)" : "");
	return 0;
fail:
	sy_xdp_close(d->xdp, sy_xdp_adopted(d->xdp)); /* never tear down what we adopted */
	d->xdp = NULL;
	return -1;
}

/* A failed sync is tried again until it takes: otherwise the program would
 * serve the old tables until the next commit, which a stable backend set
 * may never make. */
#define SYNC_RETRY_FIRST_MS 250
#define SYNC_RETRY_MAX_MS 8000 /* SYNC_RETRY_FIRST_MS << 5 */

/* The wait before the next try after n (>= 1) failed syncs in a row:
 * 250 ms, doubled per further failure up to 8 s. */
static uint32_t sync_retry_backoff_ms(uint32_t n)
{
	return SYNC_RETRY_FIRST_MS << (n - 1 < 5 ? n - 1 : 5);
}

void sy_daemon_xdp_sync(struct sy_daemon *d)
{
	char err[256];
	uint32_t backoff_ms;

	if (!d->xdp || !sy_writer_snapshot(d->writer))
		return;
	if (sy_xdp_sync(d->xdp, sy_writer_map(d->writer)->base, sy_writer_snapshot(d->writer), err,
			sizeof(err))) {
		d->publish_errors++;
		d->xdp_failed_syncs++;
		snprintf(d->last_error, sizeof(d->last_error), "xdp: %.240s", err);
		backoff_ms = sync_retry_backoff_ms(d->xdp_failed_syncs);
		d->xdp_retry_ms = sy_now_ms() + backoff_ms;
		/* logged on the first failure, then when the back-off is at its
		 * longest: at most one line per SYNC_RETRY_MAX_MS */
		if (d->xdp_failed_syncs == 1 || backoff_ms == SYNC_RETRY_MAX_MS)
			sy_logf("error", "\"XDP maps not updated; tried again in %u ms\" error=\"%s\" "
				"failed=%u", backoff_ms, err, d->xdp_failed_syncs);
		return;
	}
	if (sy_daemon_xdp_behind(d))
		sy_logf("info", "\"XDP maps updated after %u failed attempts\"", d->xdp_failed_syncs);
	d->xdp_failed_syncs = 0;
}

void sy_daemon_xdp_refresh(struct sy_daemon *d, bool export)
{
	uint64_t t = sy_now_ms();

	if (!d->xdp)
		return;
	if (sy_daemon_xdp_behind(d) && t >= d->xdp_retry_ms)
		sy_daemon_xdp_sync(d);
	if (t - d->xdp_tick_ms >= TICK_EVERY_MS) {
		d->xdp_tick_ms = t;
		sy_xdp_tick(d->xdp);
	}
	/* one read of every counter slot: only when a reader is about to look */
	if (export && d->xdp_stats)
		sy_xdp_export_stats(d->xdp, sy_writer_map(d->writer), sy_writer_snapshot(d->writer),
				    d->xdp_stats);
}

int sy_daemon_xdp_lookup(struct sy_daemon *d, const struct sy_service *s,
			 const struct sy_flow_key *k, char *ep, size_t eplen, char *why, size_t whylen)
{
	const uint8_t *base = sy_writer_map(d->writer)->base;
	uint32_t idx;
	uint64_t uid;

	if (!d->xdp)
		return -1;
	if (!sy_xdp_ct_lookup(d->xdp, k, s->hash_seed, &uid)) {
		snprintf(why, whylen, "not tracked by the xdp dataplane");
		return -1; /* the caller answers with Maglev */
	}
	idx = sy_service_find_uid(base, s, uid);
	if (idx == SY_MAGLEV_NONE) {
		struct sy_xdp_backend rec;
		char was[80] = "";

		/* what the program itself holds of it: a record not marked gone
		 * is still forwarded to (the removal did not reach the maps) */
		if (sy_xdp_backend_record(d->xdp, uid, &rec))
			sy_format_ip(rec.family == SY_AF_INET6 ? SY_AF_INET6 : SY_AF_INET, rec.addr, was,
				     sizeof(was));
		snprintf(why, whylen,
			 "xdp conntrack: its backend left; the next packet re-hashes (uid %llu: %s%s)",
			 (unsigned long long)uid, was[0] ? was : "no record in the XDP maps",
			 !was[0] ? "" : rec.flags & SY_XDP_BACKEND_GONE ? " marked gone"
			 : " NOT marked gone in the XDP maps");
		return -1;
	}
	sy_format_endpoint(&sy_service_backends(base, s)[idx].id, ep, eplen);
	snprintf(why, whylen, "conntrack (xdp)");
	return 0;
}

void sy_daemon_xdp_region_moved(struct sy_daemon *d)
{
	struct sy_region_map *m = sy_writer_map(d->writer);

	if (!d->xdp_reader.map)
		return;
	/* the same slot and block in the new mapping (a byte-for-byte copy) */
	d->xdp_reader.slot = sy_region_slot(m, d->xdp_reader.lcore);
	d->xdp_stats = sy_region_stats(m, d->xdp_reader.lcore);
}

void sy_daemon_xdp_stop(struct sy_daemon *d)
{
	if (!d->xdp)
		return;
	sy_daemon_xdp_refresh(d, true);
	if (d->xdp_reader.map)
		sy_reader_unregister(&d->xdp_reader);
	sy_xdp_close(d->xdp, d->xdp_stay);
	sy_logf("info", d->xdp_stay ? "\"XDP program left attached (--xdp-stay): it keeps serving the last tables\""
				    : "\"XDP program detached\"");
	d->xdp = NULL;
}

/* Apply fn to every pin in dir. 0, or -1 with errno and *at the path that
 * failed (dir itself when it cannot be read). */
static int each_pin(const char *dir, int (*fn)(const char *path, void *arg), void *arg,
		    char *at, size_t atlen)
{
	struct dirent *e;
	DIR *dh = opendir(dir);
	int rc = 0;

	snprintf(at, atlen, "%s", dir);
	if (!dh)
		return -1;
	while (rc == 0 && (e = readdir(dh))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(at, atlen, "%s/%s", dir, e->d_name);
		rc = fn(at, arg);
	}
	closedir(dh);
	return rc;
}

struct owner {
	unsigned uid, gid;
};

static int chown_pin(const char *path, void *arg)
{
	const struct owner *o = arg;

	return chown(path, o->uid, o->gid);
}

static int unlink_pin(const char *path, void *arg)
{
	(void)arg;
	unlink(path); /* best effort: rmdir below says if something stayed */
	return 0;
}

/* --user: the pins must be the daemon's, so that it can remove them on stop */
int sy_daemon_xdp_chown(struct sy_daemon *d, unsigned uid, unsigned gid, char *err, size_t errlen)
{
	struct owner o = { uid, gid };
	char dir[256], at[512];

	pin_dir(d->xdp_bpffs, d->cfg->instance, dir, sizeof(dir));
	snprintf(at, sizeof(at), "%s", dir);
	if (chown(dir, uid, gid) || each_pin(dir, chown_pin, &o, at, sizeof(at))) {
		snprintf(err, errlen, "cannot give %s to the daemon's user: %s", at, strerror(errno));
		return -1;
	}
	return 0;
}

/* --xdp-detach: remove the pins of a program left attached (--xdp-stay).
 * The pinned link is the program's last reference: unlinking it detaches. */
int sy_xdp_detach_instance(const char *bpffs, const char *instance, char *err, size_t errlen)
{
	char dir[256], at[512];

	pin_dir(bpffs, instance, dir, sizeof(dir));
	if (each_pin(dir, unlink_pin, NULL, at, sizeof(at))) {
		snprintf(err, errlen, "no XDP program of instance %s is pinned in %s", instance, dir);
		return -1;
	}
	if (rmdir(dir)) {
		snprintf(err, errlen, "cannot remove %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}
