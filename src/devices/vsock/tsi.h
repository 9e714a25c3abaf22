/* TSI, the host side: a vsock backend that gives the guest's sockets real sockets in the
 * VMM's network namespace, as docs/tsi.md describes (that page is the contract with the
 * guest kernel; the wire structures below are its tables). */
#ifndef KRUN_DEVICES_VSOCK_TSI_H
#define KRUN_DEVICES_VSOCK_TSI_H

#include <stdbool.h>
#include <stdint.h>
#include "devices/vsock/vsock.h"

#define TSI_PORT_CONTROL   1024
#define TSI_PORT_STREAM	   1025
#define TSI_PORT_DGRAM	   1026
#define TSI_HOST_PORT_BASE 0x40000000u
#define TSI_MAX_SOCKETS	   4096 /* control connections at once */
/* Device connections TSI can need: every socket's control and data connection, plus the
 * connections accepted on guest listeners. */
#define TSI_MAX_CONNECTIONS (3 * TSI_MAX_SOCKETS)

enum tsi_op {
	TSI_OP_OPEN = 1,
	TSI_OP_CONNECT = 2,
	TSI_OP_LISTEN = 3,
	TSI_OP_GETNAME = 4,
	TSI_OP_SETSOCKOPT = 5,
	TSI_OP_BIND = 6,
	TSI_OP_ADOPT = 7,
	TSI_EV_ACCEPTED = 64,
};

#define TSI_F_REUSEADDR (1u << 0)
#define TSI_F_REUSEPORT (1u << 1)
#define TSI_F_V6ONLY	(1u << 2)
#define TSI_F_ALL	(TSI_F_REUSEADDR | TSI_F_REUSEPORT | TSI_F_V6ONLY)

#define TSI_ADDR_MAX	128
#define TSI_SOCKOPT_MAX 64
#define TSI_DGRAM_MAX	65507

/* Little-endian on the wire; the VMM only runs on x86-64, so these are native. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "TSI records are little-endian");

struct tsi_req {
	uint32_t id;
	uint16_t op;
	uint16_t reserved;
} __attribute__((packed));

struct tsi_rep {
	uint32_t id;
	uint16_t op;
	uint16_t reserved;
	int32_t result;
} __attribute__((packed));

struct tsi_addr {
	uint32_t len;
	uint8_t sa[TSI_ADDR_MAX];
} __attribute__((packed));

/* The guest ids an AF_UNIX connect, bind or datagram acts with, at the end of OPEN,
 * CONNECT, LISTEN and BIND. Records of older guests end before it: read as 0, 0, which
 * like the guest's root keeps the VMM's own ids. */
struct tsi_creds {
	uint32_t uid, gid;
} __attribute__((packed));

struct tsi_open_req {
	struct tsi_req h;
	uint16_t family, type;
	uint32_t data_port;
	uint32_t flags;
	struct tsi_creds creds;
} __attribute__((packed));

struct tsi_connect_req {
	struct tsi_req h;
	struct tsi_addr dest, bind;
	uint32_t flags;
	struct tsi_creds creds;
} __attribute__((packed));

struct tsi_listen_req {
	struct tsi_req h;
	struct tsi_addr bind;
	uint32_t backlog, listen_port, flags;
	struct tsi_creds creds;
} __attribute__((packed));

struct tsi_getname_req {
	struct tsi_req h;
	uint32_t peer;
} __attribute__((packed));

struct tsi_setsockopt_req {
	struct tsi_req h;
	uint32_t level, name, len;
	uint8_t val[TSI_SOCKOPT_MAX];
} __attribute__((packed));

struct tsi_bind_req {
	struct tsi_req h;
	struct tsi_addr bind;
	uint32_t flags;
	struct tsi_creds creds;
} __attribute__((packed));

/* An accepted connection (host_port from its ACCEPTED event, guest_port the guest end)
 * takes this control connection, for its socket options and names. */
struct tsi_adopt_req {
	struct tsi_req h;
	uint16_t family, type;
	uint32_t host_port, guest_port;
} __attribute__((packed));

/* Room for the largest request (and a little more, to see that a record is too long). */
#define TSI_REQ_MAX 512

/* Any request, as the VMM reads it. */
union tsi_any_req {
	struct tsi_req h;
	struct tsi_open_req open;
	struct tsi_connect_req connect;
	struct tsi_listen_req listen;
	struct tsi_getname_req getname;
	struct tsi_setsockopt_req sockopt;
	struct tsi_bind_req bind;
	struct tsi_adopt_req adopt;
	uint8_t raw[TSI_REQ_MAX];
};

/* OPEN, LISTEN, GETNAME, BIND, ADOPT */
struct tsi_addr_rep {
	struct tsi_rep h;
	struct tsi_addr addr;
} __attribute__((packed));

struct tsi_connect_rep {
	struct tsi_rep h;
	struct tsi_addr local, peer;
} __attribute__((packed));

struct tsi_accepted_ev {
	struct tsi_rep h; /* id 0, op TSI_EV_ACCEPTED, result 0 */
	uint32_t host_port;
	struct tsi_addr local, peer;
} __attribute__((packed));

struct vsock_tsi_config {
	/* The guest's root as a host directory: AF_UNIX paths are resolved inside it. NULL:
	 * AF_UNIX sockets are refused. */
	const char *root_path;
	/* The container may bind ports below 1024 (CAP_NET_BIND_SERVICE). */
	bool allow_privileged_ports;
};

int vsock_tsi_backend_new(const struct vsock_tsi_config *cfg, struct vsock_backend **out,
			  krun_error_t *err);

#endif
