/* The guest init's interface set-up: the tsi= parse, and (as root, in a private network
 * namespace) bringing lo up and giving it IPv4 and IPv6 addresses with the same calls
 * init uses on dummy0. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../../init/net.h"
#include "tap.h"

static void test_cmdline(void)
{
	ok(net_cmdline_has_tsi("console=hvc0 tsi=1 quiet"), "tsi=1 in the middle");
	ok(net_cmdline_has_tsi("tsi=1\n"), "tsi=1 before the newline of /proc/cmdline");
	ok(net_cmdline_has_tsi("tsi"), "a bare tsi word");
	ok(net_cmdline_has_tsi("tsi=y") && net_cmdline_has_tsi("tsi=on"), "y and on");
	ok(!net_cmdline_has_tsi("console=hvc0 quiet"), "absent");
	ok(!net_cmdline_has_tsi("tsi=0"), "tsi=0");
	ok(!net_cmdline_has_tsi("tsi=1 tsi=0"), "the last word wins");
	ok(!net_cmdline_has_tsi("xtsi=1 tsi_other=1 tsi=10"), "other words that start alike");
	ok(!net_cmdline_has_tsi("quiet -- tsi=1"), "after -- the words are init's arguments");
	ok(!net_cmdline_has_tsi(""), "empty command line");
}

static int lo_flags(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int ret = ioctl(fd, SIOCGIFFLAGS, &ifr);
	close(fd);
	return ret < 0 ? -1 : ifr.ifr_flags;
}

static int lo_has_addr4(const char *want, const char *want_mask)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	char got[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int ok_addr = ioctl(fd, SIOCGIFADDR, &ifr) == 0 &&
		      inet_ntop(AF_INET, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, got,
				sizeof(got)) &&
		      strcmp(got, want) == 0;
	int ok_mask = ioctl(fd, SIOCGIFNETMASK, &ifr) == 0 &&
		      inet_ntop(AF_INET, &((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr, mask,
				sizeof(mask)) &&
		      strcmp(mask, want_mask) == 0;
	close(fd);
	return ok_addr && ok_mask;
}

/* /proc/net/if_inet6: "fd0007a5000000000000000000000007 01 40 00 80 lo" */
static int lo_has_addr6(const char *hex, const char *prefix_hex)
{
	char line[256];
	int found = 0;
	FILE *f = fopen("/proc/net/if_inet6", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char addr[64], idx[8], plen[8], scope[8], flags[8], name[32];
		if (sscanf(line, "%63s %7s %7s %7s %7s %31s", addr, idx, plen, scope, flags,
			   name) == 6 &&
		    strcmp(addr, hex) == 0 && strcmp(plen, prefix_hex) == 0 &&
		    strcmp(name, "lo") == 0)
			found = 1;
	}
	if (f)
		fclose(f);
	return found;
}

/* Runs in a child in its own network namespace; the exit status carries the results. */
static int netns_checks(void)
{
	struct init_error err = { 0 };
	int bits = 0;

	if (lo_flags() & IFF_UP)
		bits |= 1; /* lo must start down, or the test proves nothing */
	if (net_link_up("lo", &err) == 0 && (lo_flags() & IFF_UP))
		bits |= 2;
	if (net_add_addr4("lo", "192.0.2.7", 24, &err) == 0 &&
	    lo_has_addr4("192.0.2.7", "255.255.255.0"))
		bits |= 4;
	if (net_add_addr6("lo", "fd00:7a5::7", 64, &err) == 0 &&
	    net_add_addr6("lo", "fd00:7a5::7", 64, &err) == 0 &&
	    lo_has_addr6("fd0007a5000000000000000000000007", "40"))
		bits |= 8;
	if (net_link_up("nosuchif0", &err) < 0 && strstr(err.msg, "nosuchif0"))
		bits |= 16;
	return bits;
}

static void test_netns(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(255);
		_exit(netns_checks());
	}
	int status = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) {
		printf("ok %d - # SKIP no private network namespace (not root?)\n", ++tap_count);
		return;
	}
	int bits = WEXITSTATUS(status);
	ok(!(bits & 1), "lo starts down in a new network namespace");
	ok(bits & 2, "net_link_up brings lo up");
	ok(bits & 4, "net_add_addr4 sets the address and the netmask");
	ok(bits & 8, "net_add_addr6 adds the address with its prefix, and again without error");
	ok(bits & 16, "a missing interface is an error naming it");
}

int main(void)
{
	test_cmdline();
	test_netns();
	return tap_done();
}
