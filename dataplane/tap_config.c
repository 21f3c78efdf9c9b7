/* SPDX-License-Identifier: BSD-3-Clause
 *
 * The exception TAP's addresses, link state and routes, set over rtnetlink
 * (libmnl): see tap_config.h.
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

/* "@PORT" at the end of buf, if any, cut off into *port (0 without). */
static int cut_port(const char *s, char *buf, uint16_t *port, char *err, size_t errlen)
{
	char *at = strrchr(buf, '@'), *end;
	unsigned long v;

	*port = 0;
	if (!at)
		return 0;
	*at++ = 0;
	errno = 0;
	v = strtoul(at, &end, 10);
	if (errno || *end || !*at || *at == '-' || v > UINT16_MAX) {
		snprintf(err, errlen, "'%s': '@%s' is not a port number", s, at);
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

/* An IPv4 or IPv6 address: its family, or 0. */
static uint8_t parse_ip(const char *a, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, a, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, a, out) == 1)
		return AF_INET6;
	return 0;
}

/* "ADDR/LEN" in p into it->family, prefix, prefixlen. */
static int parse_prefix(const char *s, char *p, struct sy_tap_item *it, char *err, size_t errlen)
{
	char *slash = strchr(p, '/'), *end;
	unsigned long len;

	if (!slash) {
		snprintf(err, errlen, "'%s': '%s' is not ADDRESS/PREFIX-LENGTH, e.g. 198.18.0.1/24",
			 s, p);
		return -1;
	}
	*slash++ = 0;
	it->family = parse_ip(p, it->prefix);
	if (!it->family) {
		snprintf(err, errlen, "'%s': '%s' is not an IPv4 or IPv6 address", s, p);
		return -1;
	}
	errno = 0;
	len = strtoul(slash, &end, 10);
	if (errno || *end || !*slash || *slash == '-' || len > (it->family == AF_INET ? 32u : 128u)) {
		snprintf(err, errlen, "'%s': '/%s' is not a prefix length of an IPv%d address", s,
			 slash, it->family == AF_INET ? 4 : 6);
		return -1;
	}
	it->prefixlen = (uint8_t)len;
	return 0;
}

/* An item from option value s: cleared, s kept as its text and copied into
 * buf, its "@PORT" cut off. */
static int item_start(const char *s, char *buf, size_t size, struct sy_tap_item *it, char *err,
		      size_t errlen)
{
	memset(it, 0, sizeof(*it));
	if (strlen(s) >= size || strlen(s) >= sizeof(it->text)) {
		snprintf(err, errlen, "'%.40s...' is too long", s);
		return -1;
	}
	snprintf(buf, size, "%s", s);
	snprintf(it->text, sizeof(it->text), "%s", s);
	return cut_port(s, buf, &it->port, err, errlen);
}

int sy_tap_address_parse(const char *s, struct sy_tap_item *it, char *err, size_t errlen)
{
	char buf[96];

	if (item_start(s, buf, sizeof(buf), it, err, errlen))
		return -1;
	return parse_prefix(s, buf, it, err, errlen);
}

int sy_tap_route_parse(const char *s, struct sy_tap_item *it, char *err, size_t errlen)
{
	char buf[96], *gw;
	uint8_t gwf;

	if (item_start(s, buf, sizeof(buf), it, err, errlen))
		return -1;
	it->route = true;
	gw = strchr(buf, ',');
	if (!gw) {
		snprintf(err, errlen, "'%s': DESTINATION/LENGTH,GATEWAY[@PORT], e.g. "
				      "198.19.0.0/16,198.18.0.254 or default,198.18.0.254", s);
		return -1;
	}
	*gw++ = 0;
	gwf = parse_ip(gw, it->gateway);
	if (!gwf) {
		snprintf(err, errlen, "'%s': gateway '%s' is not an IPv4 or IPv6 address", s, gw);
		return -1;
	}
	if (!strcmp(buf, "default")) { /* of the gateway's family */
		it->family = gwf;
		return 0;
	}
	if (parse_prefix(s, buf, it, err, errlen))
		return -1;
	if (it->family != gwf) {
		snprintf(err, errlen, "'%s': an IPv%d destination through an IPv%d gateway", s,
			 it->family == AF_INET ? 4 : 6, gwf == AF_INET ? 4 : 6);
		return -1;
	}
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

/* The request adding address it to interface ifindex. CREATE | REPLACE:
 * one the interface has already is kept. */
static void put_address(struct nlmsghdr *nlh, unsigned int ifindex, const struct sy_tap_item *it)
{
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	size_t alen = it->family == AF_INET ? 4 : 16;

	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
	ifa->ifa_family = it->family;
	ifa->ifa_prefixlen = it->prefixlen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, alen, it->prefix);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, it->prefix);
}

/* The request setting interface ifindex up. */
static void put_link_up(struct nlmsghdr *nlh, unsigned int ifindex)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
}

/* The request adding route it through interface ifindex, in the main
 * table, as a static route (replacing one to the same destination). */
static void put_route(struct nlmsghdr *nlh, unsigned int ifindex, const struct sy_tap_item *it)
{
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	size_t alen = it->family == AF_INET ? 4 : 16;

	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
	rtm->rtm_family = it->family;
	rtm->rtm_dst_len = it->prefixlen;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	if (it->prefixlen)
		mnl_attr_put(nlh, RTA_DST, alen, it->prefix);
	mnl_attr_put(nlh, RTA_GATEWAY, alen, it->gateway);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
}

/* One request: item it (an address or a route), or the link up without
 * one. 0, or -1 with the reason in err. */
static int apply(struct mnl_socket *nl, const char *ifname, unsigned int ifindex,
		 const struct sy_tap_item *it, uint32_t seq, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_seq = seq;
	if (!it)
		put_link_up(nlh, ifindex);
	else if (it->route)
		put_route(nlh, ifindex, it);
	else
		put_address(nlh, ifindex, it);
	if (!request(nl, nlh))
		return 0;
	snprintf(err, errlen, "%s: %s%s: %s", ifname,
		 !it ? "setting it up" : it->route ? "adding route " : "adding address ",
		 it ? it->text : "", strerror(errno));
	return -1;
}

int sy_tap_configure(const char *ifname, uint16_t port, const struct sy_tap_item *it, unsigned n,
		     char *err, size_t errlen)
{
	unsigned int ifindex = if_nametoindex(ifname);
	uint32_t seq = (uint32_t)time(NULL);
	struct mnl_socket *nl;
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
	/* the addresses, then up (the TAP's kernel side starts down), then the
	 * routes, whose gateways are on the addresses' networks */
	for (unsigned i = 0; i < n && !rc; i++)
		if (it[i].port == port && !it[i].route)
			rc = apply(nl, ifname, ifindex, &it[i], ++seq, err, errlen);
	if (!rc)
		rc = apply(nl, ifname, ifindex, NULL, ++seq, err, errlen);
	for (unsigned i = 0; i < n && !rc; i++)
		if (it[i].port == port && it[i].route)
			rc = apply(nl, ifname, ifindex, &it[i], ++seq, err, errlen);
	mnl_socket_close(nl);
	return rc;
}
