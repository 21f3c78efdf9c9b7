/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The exception TAP's addresses and link state, set over rtnetlink (libmnl):
 * see tap_config.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include "tap_config.h"

int sy_tap_addr_parse(const char *s, struct sy_tap_addr *a, char *err, size_t errlen)
{
	char buf[80], *slash, *at, *end;
	unsigned long len, port = 0;

	memset(a, 0, sizeof(*a));
	if (strlen(s) >= sizeof(a->text)) {
		snprintf(err, errlen, "'%.40s...' is too long", s);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	if ((at = strchr(buf, '@'))) {
		*at++ = 0;
		errno = 0;
		port = strtoul(at, &end, 10);
		if (errno || *end || !*at || *at == '-' || port > UINT16_MAX) {
			snprintf(err, errlen, "'%s': '@%s' is not a port number", s, at);
			return -1;
		}
	}
	slash = strchr(buf, '/');
	if (!slash) {
		snprintf(err, errlen, "'%s': ADDRESS/PREFIX-LENGTH[@PORT], e.g. 198.18.0.1/24", s);
		return -1;
	}
	*slash++ = 0;
	if (inet_pton(AF_INET, buf, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a->addr) == 1)
		a->family = AF_INET6;
	else {
		snprintf(err, errlen, "'%s': '%s' is not an IPv4 or IPv6 address", s, buf);
		return -1;
	}
	errno = 0;
	len = strtoul(slash, &end, 10);
	if (errno || *end || !*slash || *slash == '-' || len > (a->family == AF_INET ? 32u : 128u)) {
		snprintf(err, errlen, "'%s': '/%s' is not a prefix length of an IPv%d address", s,
			 slash, a->family == AF_INET ? 4 : 6);
		return -1;
	}
	a->prefixlen = (uint8_t)len;
	a->port = (uint16_t)port;
	snprintf(a->text, sizeof(a->text), "%s", s);
	return 0;
}

/* Send one request and wait for its acknowledgement: 0, or -1 and errno. */
static int request(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
	ssize_t n;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		int rc = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);

		if (rc <= MNL_CB_STOP) /* the acknowledgement (STOP), or an error (errno) */
			return rc == MNL_CB_ERROR ? -1 : 0;
	}
	return -1;
}

int sy_tap_configure(const char *ifname, uint16_t port, const struct sy_tap_addr *a, unsigned n,
		     char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned int ifindex = if_nametoindex(ifname);
	uint32_t seq = (uint32_t)time(NULL);
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	int rc = 0;

	if (!ifindex) {
		snprintf(err, errlen, "%s: %s", ifname, strerror(errno));
		return -1;
	}
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		return -1;
	}
	for (unsigned i = 0; i < n && !rc; i++) {
		struct ifaddrmsg *ifa;
		size_t alen = a[i].family == AF_INET ? 4 : 16;

		if (a[i].port != port)
			continue;
		/* CREATE | REPLACE: an address the interface has already is kept */
		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = RTM_NEWADDR;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
		nlh->nlmsg_seq = ++seq;
		ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
		ifa->ifa_family = a[i].family;
		ifa->ifa_prefixlen = a[i].prefixlen;
		ifa->ifa_scope = RT_SCOPE_UNIVERSE;
		ifa->ifa_index = ifindex;
		mnl_attr_put(nlh, IFA_LOCAL, alen, a[i].addr);
		mnl_attr_put(nlh, IFA_ADDRESS, alen, a[i].addr);
		if (request(nl, nlh)) {
			snprintf(err, errlen, "%s: adding %s: %s", ifname, a[i].text, strerror(errno));
			rc = -1;
		}
	}
	if (!rc) { /* up: the TAP's kernel side starts down */
		struct ifinfomsg *ifi;

		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = RTM_NEWLINK;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		nlh->nlmsg_seq = ++seq;
		ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
		ifi->ifi_index = (int)ifindex;
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
		if (request(nl, nlh)) {
			snprintf(err, errlen, "%s: setting it up: %s", ifname, strerror(errno));
			rc = -1;
		}
	}
	mnl_socket_close(nl);
	return rc;
}
