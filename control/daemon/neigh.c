/* SPDX-License-Identifier: BSD-3-Clause
 *
 * Next-hop MACs from the kernel's neighbour table (the host's kernel sees the
 * backends' network through the dataplane's exception interface). A miss
 * sends one empty UDP datagram to the backend's discard port so the kernel
 * resolves it; the caller asks again on its next pass.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <switchyard/flow_hash.h>

#include "daemon.h"

#define USABLE_STATES (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)

static bool dump_lookup(int family, const uint32_t *addr, uint8_t mac[6])
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg)),
			.nlmsg_type = RTM_GETNEIGH,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1 },
		.nd = { .ndm_family = (uint8_t)family },
	};
	size_t alen = family == AF_INET ? 4 : 16;
	bool found = false, done = false;
	char buf[16384];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return false;
	{
		struct timeval tv = { .tv_sec = 1 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		close(fd);
		return false;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (n <= 0)
			break;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			struct ndmsg *nd = NLMSG_DATA(nh);
			struct rtattr *rta;
			int rlen;
			const void *dst = NULL, *ll = NULL;
			size_t ll_len = 0;

			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (nh->nlmsg_type != RTM_NEWNEIGH || !(nd->ndm_state & USABLE_STATES))
				continue;
			rlen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
			for (rta = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
			     RTA_OK(rta, rlen); rta = RTA_NEXT(rta, rlen)) {
				if (rta->rta_type == NDA_DST)
					dst = RTA_DATA(rta);
				else if (rta->rta_type == NDA_LLADDR) {
					ll = RTA_DATA(rta);
					ll_len = RTA_PAYLOAD(rta);
				}
			}
			if (!found && dst && ll && ll_len == 6 && memcmp(dst, addr, alen) == 0) {
				memcpy(mac, ll, 6);
				found = true;
			}
		}
	}
	close(fd);
	return found;
}

static void nudge(int family, const uint32_t *addr)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (family == AF_INET) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };

		memcpy(&sa.sin_addr, addr, 4);
		sendto(fd, "", 0, 0, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(9) };

		memcpy(&sa.sin6_addr, addr, 16);
		sendto(fd, "", 0, 0, (struct sockaddr *)&sa, sizeof(sa));
	}
	close(fd);
}

bool sy_neigh_lookup(const struct sy_backend_id *id, uint8_t mac[6])
{
	int family = id->family == SY_AF_INET ? AF_INET : AF_INET6;

	if (dump_lookup(family, id->addr, mac))
		return true;
	nudge(family, id->addr);
	return false;
}
