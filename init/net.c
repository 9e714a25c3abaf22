/* Interface set-up with the classic ioctls: the few calls needed do not justify netlink.
 * In a TSI guest these sockets are TSI sockets too; their ioctls reach the guest stack
 * through the local socket (kernel/patches/0001-tsi.patch). */
#include "net.h"
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CMDLINE_PATH "/proc/cmdline"
#define CMDLINE_MAX  65536

/* From linux/ipv6.h, which clashes with glibc's netinet/in.h. */
struct net_in6_ifreq {
	struct in6_addr addr;
	unsigned int prefixlen;
	int ifindex;
};

static bool word_is_true(const char *v, size_t len)
{
	static const char *const yes[] = { "1", "y", "Y", "on", "yes" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (strlen(yes[i]) == len && memcmp(v, yes[i], len) == 0)
			return true;
	return false;
}

bool net_cmdline_has_tsi(const char *cmdline)
{
	bool on = false;
	const char *p = cmdline;

	for (;;) {
		p += strspn(p, " \t\n");
		if (!*p)
			break;
		size_t len = strcspn(p, " \t\n");
		if (len == 2 && memcmp(p, "--", 2) == 0)
			break;
		if (len == 3 && memcmp(p, "tsi", 3) == 0)
			on = true;
		else if (len > 4 && memcmp(p, "tsi=", 4) == 0)
			on = word_is_true(p + 4, len - 4);
		p += len;
	}
	return on;
}

static int ifreq_for(const char *ifname, struct ifreq *ifr, struct init_error *err)
{
	memset(ifr, 0, sizeof(*ifr));
	if (strlen(ifname) >= sizeof(ifr->ifr_name))
		return init_fail(err, ENAMETOOLONG, "interface name `%s`", ifname);
	strcpy(ifr->ifr_name, ifname);
	return 0;
}

static int inet_socket(int family, struct init_error *err)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return init_fail(err, errno, "open a socket to configure interfaces");
	return fd;
}

/* A socket to configure ifname with, and the request filled with its name. */
static int ifreq_socket(const char *ifname, int family, struct ifreq *ifr, struct init_error *err)
{
	int ret;

	ret = ifreq_for(ifname, ifr, err);
	if (ret < 0)
		return ret;
	return inet_socket(family, err);
}

int net_link_up(const char *ifname, struct init_error *err)
{
	cleanup_close int fd = -1;
	struct ifreq ifr;

	fd = ifreq_socket(ifname, AF_INET, &ifr, err);
	if (fd < 0)
		return fd;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return init_fail(err, errno, "read the flags of `%s`", ifname);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return init_fail(err, errno, "bring `%s` up", ifname);
	return 0;
}

static int set_sockaddr4(struct sockaddr *sa, const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return -EINVAL;
	memcpy(sa, &sin, sizeof(sin));
	return 0;
}

int net_add_addr4(const char *ifname, const char *addr, int prefix, struct init_error *err)
{
	cleanup_close int fd = -1;
	struct ifreq ifr;
	struct in_addr mask = { htonl(prefix > 0 && prefix <= 32 ? ~0u << (32 - prefix) : 0) };

	if (prefix < 0 || prefix > 32)
		return init_fail(err, EINVAL, "IPv4 prefix length %d", prefix);
	fd = ifreq_socket(ifname, AF_INET, &ifr, err);
	if (fd < 0)
		return fd;
	if (set_sockaddr4(&ifr.ifr_addr, addr) < 0)
		return init_fail(err, EINVAL, "IPv4 address `%s`", addr);
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		return init_fail(err, errno, "give `%s` the address %s", ifname, addr);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_netmask;
	sin->sin_family = AF_INET;
	sin->sin_addr = mask;
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		return init_fail(err, errno, "set the netmask of `%s`", ifname);
	return 0;
}

int net_add_addr6(const char *ifname, const char *addr, int prefix, struct init_error *err)
{
	cleanup_close int fd = -1;
	struct net_in6_ifreq req = { .prefixlen = (unsigned int)prefix };
	struct ifreq ifr;

	if (prefix < 0 || prefix > 128 || inet_pton(AF_INET6, addr, &req.addr) != 1)
		return init_fail(err, EINVAL, "IPv6 address `%s/%d`", addr, prefix);
	fd = ifreq_socket(ifname, AF_INET6, &ifr, err);
	if (fd < 0)
		return fd;
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
		return init_fail(err, errno, "find the interface `%s`", ifname);
	req.ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCSIFADDR, &req) < 0 && errno != EEXIST)
		return init_fail(err, errno, "give `%s` the address %s/%d", ifname, addr, prefix);
	return 0;
}

static bool tsi_on(void)
{
	struct init_error ignored = { 0 };
	cleanup_free char *cmdline = NULL;
	size_t len;

	if (read_file(CMDLINE_PATH, CMDLINE_MAX, &cmdline, &len, &ignored) < 0)
		return false;
	return net_cmdline_has_tsi(cmdline);
}

/* The dummy driver, built in, makes dummy0 at boot. */
static int tsi_link_up(struct init_error *err)
{
	int ret;

	ret = net_link_up(NET_TSI_IFNAME, err);
	if (ret < 0)
		return ret;
	ret = net_add_addr4(NET_TSI_IFNAME, NET_TSI_ADDR4, NET_TSI_PREFIX4, err);
	if (ret < 0)
		return ret;
	return net_add_addr6(NET_TSI_IFNAME, NET_TSI_ADDR6, NET_TSI_PREFIX6, err);
}

int net_setup(struct init_error *err)
{
	int ret;

	ret = net_link_up("lo", err);
	if (ret < 0 || !tsi_on())
		return ret;
	ret = tsi_link_up(err);
	if (ret < 0)
		return init_fail_wrap(err, "set up `%s` for TSI", NET_TSI_IFNAME);
	return 0;
}
