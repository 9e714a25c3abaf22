/* TSI internals shared by tsi.c (the backend, control connections and their replies),
 * tsi_ops.c (the requests), tsi_addr.c (addresses, AF_UNIX paths in the container root)
 * and tsi_dgram.c (the datagram channel).
 *
 * Everything runs on the event loop thread: the device calls the backend's connect there,
 * and every fd TSI watches has its callback there, so no lock is needed. Each guest socket
 * is a struct tsi_sock holding our end of its control channel (a SEQPACKET socketpair whose
 * other end the device bridges to the guest's control connection), the host socket, and
 * for datagram sockets our end of the datagram channel (another socketpair). */
#ifndef KRUN_DEVICES_VSOCK_TSI_INTERNAL_H
#define KRUN_DEVICES_VSOCK_TSI_INTERNAL_H

#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "devices/vsock/tsi.h"

#define TSI_HASH 1024
/* Replies and events waiting for room on the control channel: beyond this we stop reading
 * requests and accepting, so a guest that never reads cannot grow our memory. */
#define TSI_OUTQ_MAX 64

enum tsi_state {
	TS_NEW,	       /* before OPEN */
	TS_OPEN,       /* host socket exists */
	TS_CONNECTING, /* stream connect in progress, CONNECT not answered yet */
	TS_CONNECTED,
	TS_LISTENING,
};

struct tsi_rec {
	struct tsi_rec *next;
	uint32_t len;
	uint8_t data[];
};

/* One fd in the event loop and what it is registered for (0 = not registered). */
struct tsi_watch {
	int fd;
	uint32_t ev;
};

struct tsi;
struct tsi_sock {
	struct tsi *t;
	struct tsi_sock *next, **pprev; /* t->socks */
	struct tsi_sock *hnext;		/* t->by_port, while data_port is claimed */
	bool hashed;
	struct tsi_watch ctl, host, dg;
	/* AF_UNIX stream CONNECT to a listener whose backlog is full: a timer to try again,
	 * and where to. */
	struct tsi_watch retry;
	struct sockaddr_storage *retry_dest;
	socklen_t retry_len;
	int family, type;
	uint32_t data_port, flags;
	struct tsi_creds creds; /* of the latest OPEN, CONNECT, LISTEN or BIND */
	enum tsi_state state;
	uint32_t connect_id; /* the CONNECT being answered when the host connect ends */
	uint32_t listen_port;
	bool data_given; /* the data (or datagram) connection came */
	bool bound;	 /* to the address of a BIND, CONNECT or LISTEN */
	struct tsi_rec *outq, **outq_tail;
	unsigned nout;
	struct tsi_rec *dg_to_guest;  /* a datagram waiting for room on the channel */
	struct tsi_rec *dg_to_host;   /* a guest record waiting for the host socket */
	char *local_path, *peer_path; /* AF_UNIX: the guest's view of the names */
};

struct tsi {
	struct vsock_backend b;
	int root_fd;  /* -1: no AF_UNIX */
	int spare_fd; /* kept for when accept runs out of fds (tsi_accept) */
	char *root_path;
	size_t root_len;
	bool privileged_ports;
	unsigned nsocks;
	struct tsi_sock *socks;
	struct tsi_sock *by_port[TSI_HASH];
	uint32_t next_host_port;
	uint8_t *buf; /* scratch for one datagram record */
};

/* struct tsi_addr followed by the largest datagram */
#define TSI_DGRAM_BUF (sizeof(struct tsi_addr) + 65536)

/* tsi.c */
struct event_loop *tsi_loop(struct tsi_sock *s);
/* Registers the socket's fds for what it can do now. False when that failed; the caller
 * releases the socket. */
bool tsi_update(struct tsi_sock *s);
void tsi_release(struct tsi_sock *s);
/* Stops watching w's fd and closes it. */
void tsi_close_watch(struct tsi_sock *s, struct tsi_watch *w);
/* Makes s the owner of its data_port (see tsi.c). */
void tsi_claim_port(struct tsi_sock *s);
/* recv gave 0 on a SEQPACKET socket: true when that was the end rather than an empty
 * record. */
bool tsi_at_eof(int fd);
/* Queues one record on the control channel. */
void tsi_send(struct tsi_sock *s, const void *rec, uint32_t len);
void tsi_reply(struct tsi_sock *s, const struct tsi_req *req, int result);
/* The host socket has an event (connect done, connection to accept, datagram). */
void tsi_on_host(void *opaque, uint32_t events);

/* tsi_ops.c */
void tsi_handle_request(struct tsi_sock *s, const uint8_t *rec, size_t len);
void tsi_connect_done(struct tsi_sock *s);
void tsi_accept(struct tsi_sock *s);
/* Event loop callback of the retry timer. */
void tsi_on_retry(void *opaque, uint32_t events);

/* tsi_addr.c */
/* Checks a guest address against the socket's family and turns it into a host sockaddr
 * (for AF_UNIX the path stays the guest's; see tsi_bind/tsi_connect_addr). */
int tsi_addr_parse(const struct tsi_sock *s, const struct tsi_addr *a, struct sockaddr_storage *ss,
		   socklen_t *sslen);
/* bind(2) of the host socket to a parsed address, after the privileged-port check; for
 * AF_UNIX the path is created inside the container root. */
int tsi_bind(struct tsi_sock *s, const struct sockaddr_storage *ss, socklen_t len);
/* connect(2) (or for datagrams sendto(2) when buf is not NULL) to a parsed address,
 * AF_UNIX paths resolved inside the container root. Returns 0, the byte count for sendto,
 * or -errno (-EINPROGRESS included). */
ssize_t tsi_connect_addr(struct tsi_sock *s, const struct sockaddr_storage *ss, socklen_t len,
			 const void *buf, size_t buflen);
/* The guest's view of the socket's own or peer name. */
int tsi_getname(struct tsi_sock *s, bool peer, struct tsi_addr *out);
/* A host address as the guest sees it (AF_UNIX paths inside the root lose its prefix). */
void tsi_addr_from_host(const struct tsi *t, const struct sockaddr *sa, socklen_t len,
			struct tsi_addr *out);
int tsi_apply_flags(struct tsi_sock *s, uint32_t flags);

/* tsi_creds.c */
struct tsi_saved_ids {
	bool switched;
	uid_t euid;
	gid_t egid;
	int ngroups; /* -1: the groups were left alone */
	gid_t *groups;
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
};
/* This thread acts as the guest's uid and gid (the container's user namespace maps them):
 * effective ids, no supplementary groups and no effective capabilities, until
 * tsi_ids_leave. Ids 0, or the VMM's own, keep its ids; so does a VMM without
 * CAP_SETUID/CAP_SETGID. Returns 0, or -EPERM when an id has no mapping. Per-thread
 * syscalls only: glibc's wrappers would change every thread of the VMM. */
int tsi_ids_enter(const struct tsi_creds *c, struct tsi_saved_ids *saved);
void tsi_ids_leave(struct tsi_saved_ids *saved);

/* tsi_dgram.c */
/* The guest opened the datagram channel: returns the device's end. */
int tsi_dgram_open(struct tsi_sock *s);
void tsi_dgram_on_host(struct tsi_sock *s, uint32_t events);
/* Event loop callback of the datagram channel. */
void tsi_dgram_on_channel(void *opaque, uint32_t events);

#endif
