/* SPDX-License-Identifier: BSD-3-Clause
 *
 * sy-control --user NAME: after everything that needs root is done (region
 * created or adopted, bpffs mounted, XDP program loaded and attached), the
 * daemon becomes NAME and keeps only the capabilities its running work needs
 * (see docs/control.md, "Privileges"). It happens before any thread starts:
 * capabilities are per thread, and every thread started later inherits the
 * reduced set.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/capability.h>

#include "daemon.h"

/* The API socket is created after the drop, and the state file written
 * after it: their directories must be the user's. A missing one is made for
 * it; an existing one it cannot write is an error (never chown a directory
 * we did not make). */
static int dir_for(const char *what, const char *sock, const struct passwd *pw, char *err,
		   size_t errlen)
{
	char dir[4096], *slash;

	snprintf(dir, sizeof(dir), "%s", sock);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (mkdir(dir, 0750) == 0) {
		if (chown(dir, pw->pw_uid, pw->pw_gid)) {
			snprintf(err, errlen, "chown %s to %s: %s", dir, pw->pw_name, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	{
		struct stat st;

		if (stat(dir, &st) || !(st.st_uid == pw->pw_uid && (st.st_mode & S_IWUSR))) {
			snprintf(err, errlen,
				 "--user %s: the directory %s of %s exists and is not %s's: "
				 "remove it, or point %s to a directory of its own",
				 pw->pw_name, dir, what, pw->pw_name, what);
			return -1;
		}
	}
	return 0;
}

int sy_daemon_drop_privileges(struct sy_daemon *d, char *err, size_t errlen)
{
	/* XDP: every changed table is a new BPF map (CAP_BPF). Listeners are
	 * created after the drop: a configured port below 1024 needs
	 * CAP_NET_BIND_SERVICE; checks through the tunnel CAP_NET_RAW. Nothing else: the region stays mapped, the
	 * XDP link stays attached, map updates go through open descriptors. */
	cap_value_t keep[3];
	int nkeep = 0;
	struct passwd *pw;
	cap_t caps;

	if (!d->run_as[0])
		return 0;
	pw = getpwnam(d->run_as);
	if (!pw) {
		snprintf(err, errlen, "--user %s: no such user", d->run_as);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "--user %s: is root; name an unprivileged user", d->run_as);
		return -1;
	}
	if (d->xdp)
		keep[nkeep++] = CAP_BPF;
	if ((d->cfg->api.tcp_host && d->cfg->api.tcp_port < 1024) ||
	    (d->cfg->registry.embedded.enabled && d->cfg->registry.embedded.listen_port < 1024))
		keep[nkeep++] = CAP_NET_BIND_SERVICE;
	/* checks through the tunnel send and read raw packets (health_tunnel.c) */
	for (size_t i = 0; i < d->cfg->n_services; i++)
		if (d->cfg->services[i].health.check.through_tunnel) {
			keep[nkeep++] = CAP_NET_RAW;
			break;
		}
	if (dir_for("api.socket", d->cfg->api.socket, pw, err, errlen) ||
	    dir_for("state_file", d->cfg->state_file, pw, err, errlen))
		return -1;
	if (d->xdp && sy_daemon_xdp_chown(d, pw->pw_uid, pw->pw_gid, err, errlen))
		return -1;

	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) || initgroups(pw->pw_name, pw->pw_gid) ||
	    setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		snprintf(err, errlen, "--user %s: cannot switch: %s", d->run_as, strerror(errno));
		return -1;
	}
	caps = cap_init(); /* all clear */
	if (!caps || (nkeep && (cap_set_flag(caps, CAP_PERMITTED, nkeep, keep, CAP_SET) ||
				cap_set_flag(caps, CAP_EFFECTIVE, nkeep, keep, CAP_SET))) ||
	    cap_set_proc(caps)) {
		snprintf(err, errlen, "--user %s: cannot set capabilities: %s", d->run_as, strerror(errno));
		cap_free(caps);
		return -1;
	}
	cap_free(caps);
	prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
	prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L); /* nothing we exec gains any */
	/* the point of no return: root must be out of reach now */
	if (setuid(0) == 0) {
		snprintf(err, errlen, "--user %s: could regain root after the switch", d->run_as);
		return -1;
	}
	caps = cap_get_proc();
	{
		char *text = caps ? cap_to_text(caps, NULL) : NULL;

		sy_logf("info", "\"privileges dropped\" user=%s uid=%u capabilities=\"%s\"", pw->pw_name,
			(unsigned)pw->pw_uid, text && text[0] ? text : "none");
		cap_free(text);
	}
	cap_free(caps);
	return 0;
}
