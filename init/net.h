/* The guest's network interfaces: loopback always, and with TSI (`tsi=1` on the kernel
 * command line) dummy0 with an IPv4 and an IPv6 address, so that programs that look for a
 * configured non-loopback address of each family (glibc's AI_ADDRCONFIG) find one. The
 * sockets themselves reach the host through the kernel's TSI, not through dummy0. */
#ifndef KRUN_INIT_NET_H
#define KRUN_INIT_NET_H

#include <stdbool.h>
#include "common.h"

#define NET_TSI_IFNAME	"dummy0"
#define NET_TSI_ADDR4	"203.0.113.1"
#define NET_TSI_PREFIX4 24
#define NET_TSI_ADDR6	"fd00:7a5::1"
#define NET_TSI_PREFIX6 64

/* Whether a kernel command line turns TSI on: the last `tsi` word before `--` counts, as
 * the kernel parses it (`tsi`, `tsi=1`, `tsi=y`, `tsi=on` are true). */
bool net_cmdline_has_tsi(const char *cmdline);

int net_link_up(const char *ifname, struct init_error *err);
int net_add_addr4(const char *ifname, const char *addr, int prefix, struct init_error *err);
/* An address already present is not an error. */
int net_add_addr6(const char *ifname, const char *addr, int prefix, struct init_error *err);

/* Brings lo up, then dummy0 when /proc/cmdline has tsi=1. */
int net_setup(struct init_error *err);

#endif
