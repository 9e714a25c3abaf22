/* virtio-vsock internals shared by device.c (transport glue, queues), conn.c (the
 * connection table and the host sockets), rx.c (packets to the guest) and tx.c (packets
 * from the guest).
 *
 * Threads: everything runs on the event loop thread under vsock.lock, except activate and
 * reset, which come from vCPU threads and take the same lock. A reset only marks the device
 * and wakes the loop; the loop thread then releases the connections (closing sockets and
 * removing their watches is only safe there), before it serves anything else. */
#ifndef KRUN_DEVICES_VSOCK_INTERNAL_H
#define KRUN_DEVICES_VSOCK_INTERNAL_H

#include <linux/virtio_vsock.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "devices/vsock/vsock.h"
#include "util/util.h"

#define VSOCK_RXQ	 0
#define VSOCK_TXQ	 1
#define VSOCK_EVQ	 2
#define VSOCK_NUM_QUEUES 3
#define VSOCK_QUEUE_SIZE 256

#define VSOCK_HDR_LEN	  ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define VSOCK_MAX_PAYLOAD (64 * 1024) /* the largest packet Linux sends */
/* What we let the guest have in flight per connection before the host consumed it; the
 * guest is trusted to respect it only as far as that a packet beyond it resets the
 * connection. 1 MiB rather than vsock's usual 256 KiB: bench/net measured about 1.6 times
 * the guest-to-host throughput with it. What it costs is memory only while a host socket
 * is slower than the guest, and that memory counts in the container's cgroup. */
#define VSOCK_BUF_ALLOC (1024 * 1024)
/* What one connection's queue may cost in memory, buffers and their headers counted: a
 * guest that keeps to its credit stays well below it (small STREAM writes share buffers),
 * one that makes a packet cost more than its bytes (tiny SEQPACKET records) is reset. */
#define VSOCK_CONN_MEM_MAX (2 * VSOCK_BUF_ALLOC)
/* RSTs owed for packets that matched no connection; beyond this they are dropped, so a
 * guest flooding bogus packets cannot grow our memory. */
#define VSOCK_MAX_STRAY_RST 256
#define VSOCK_HASH_SIZE	    1024

/* Control packets a connection owes the guest (conn.pending). */
#define PEND_REQUEST	    (1u << 0)
#define PEND_RESPONSE	    (1u << 1)
#define PEND_CREDIT_UPDATE  (1u << 2)
#define PEND_CREDIT_REQUEST (1u << 3)
#define PEND_SHUTDOWN	    (1u << 4)

enum conn_state {
	CONN_CONNECTING, /* we sent (or owe) a REQUEST to the guest */
	CONN_CONNECTED,
};

/* Guest data waiting for the host socket. STREAM: the bytes of any number of packets, each
 * buffer filled up to cap before the next is made. SEQPACKET: one record each; the last
 * one may still be growing (complete = false until EOM). */
struct txbuf {
	struct txbuf *next;
	uint32_t len, off, cap;
	bool complete;
	uint8_t *data;
};

struct vsock;
struct conn {
	struct vsock *vs;
	struct conn *hnext;	     /* hash chain */
	struct conn *pnext, **pprev; /* on vs->ctrl_list (pending != 0) */
	struct conn *rnext, **rprev; /* on vs->rx_list (host fd may have data) */
	uint32_t guest_port, host_port;
	enum vsock_type type;
	enum conn_state state;
	int fd;
	uint32_t watched;	 /* epoll events registered; 0 = not in the loop */
	uint32_t pending;	 /* PEND_* */
	uint32_t shutdown_flags; /* what we announce in our SHUTDOWN */

	/* guest -> host */
	uint32_t rx_cnt;      /* payload bytes received from the guest */
	uint32_t fwd_cnt;     /* of which written to the host fd */
	uint32_t adv_fwd_cnt; /* fwd_cnt as last told to the guest */
	uint32_t queued;      /* payload bytes in txq */
	uint32_t mem;	      /* what txq costs: buffers, headers, malloc's rounding */
	struct txbuf *txq, **txq_tail;
	bool guest_no_send; /* guest SHUTDOWN SEND: no more data will come */
	bool guest_no_recv; /* guest SHUTDOWN RCV: stop reading the host fd */
	bool host_wr_shut;  /* shutdown(SHUT_WR) done */

	/* host -> guest */
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's credit info */
	uint32_t tx_cnt;		       /* payload bytes sent to the guest */
	bool host_eof;			       /* the host fd will give no more data */
	bool asked_credit;		       /* a CREDIT_REQUEST went out for this stall */
	uint8_t *rec;			       /* SEQPACKET: record being delivered */
	uint32_t rec_len, rec_off;
};

struct vsock {
	struct virtio_device dev;
	pthread_mutex_t lock;
	struct vsock_backend *backend;
	bool active;
	bool reset_pending;
	bool kicks_watched;
	bool seqpacket; /* negotiated */
	unsigned nconns, max_conns;
	size_t mem, mem_max; /* all connections' queued memory (conn.mem), and its cap */
	struct conn *hash[VSOCK_HASH_SIZE];
	struct conn *ctrl_list;
	struct conn *rx_list;
	/* RSTs owed to the guest (ring of VSOCK_MAX_STRAY_RST + max_conns): for stray packets,
	 * and for connections we dropped */
	struct virtio_vsock_hdr *rst;
	unsigned rst_cap, rst_head, nrst;
	struct vq_chain *rx_chain; /* popped, not yet filled */
	bool rx_held;
	struct vq_chain *tx_chain;
	struct iovec scratch[VIRTQUEUE_MAX_SEGS]; /* payload part of a chain */
};

static inline struct vsock *to_vsock(struct virtio_device *dev)
{
	return container_of(dev, struct vsock, dev);
}

/* conn.c */
struct conn *conn_find(struct vsock *vs, uint32_t guest_port, uint32_t host_port);
struct conn *conn_new(struct vsock *vs, uint32_t guest_port, uint32_t host_port,
		      enum vsock_type type, int fd);
/* Drops the connection; with rst, the guest is told (RST) unless it already forgot it. */
void conn_release(struct conn *c, bool rst);
void conn_release_all(struct vsock *vs);
/* Releases at most max connections; true when none is left. */
bool conn_release_some(struct vsock *vs, unsigned max);
void conn_set_pending(struct conn *c, uint32_t what);
/* Re-registers the host fd for what the connection can do now. False when it failed and
 * the connection was released. */
bool conn_update(struct conn *c);
/* Free credit the guest gave us for data towards it. */
uint32_t conn_peer_credit(const struct conn *c);
/* Guest payload for the host fd: written at once if possible, else queued. False when the
 * connection had to be reset. */
bool conn_from_guest(struct conn *c, const struct iovec *iov, unsigned niov, uint32_t len,
		     bool eom);
/* Half-closes the host fd or releases the connection once both directions are over.
 * False when released. */
bool conn_check_done(struct conn *c);
/* Sends queued guest data to the host fd. False when the connection was released. */
bool conn_flush(struct conn *c);

/* device.c */
/* Every loop callback starts here: finishes a pending reset; true when the device serves. */
bool vsock_enter(struct vsock *vs);
/* Queued memory is over half the VM's cap: new connections are refused. */
bool vsock_mem_tight(const struct vsock *vs);

/* The payload part of a chain's segments: len bytes after skipping off. Returns the count
 * of segments written to dst (VIRTQUEUE_MAX_SEGS entries). */
unsigned iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len, struct iovec *dst);

/* rx.c */
void vsock_rx_service(struct vsock *vs);
/* Queues an RST answering the guest packet `to` (its addresses swapped). Stray ones are
 * dropped beyond VSOCK_MAX_STRAY_RST. */
void vsock_queue_rst(struct vsock *vs, const struct virtio_vsock_hdr *to, bool stray);
void vsock_kick_again(struct vsock *vs, unsigned q);
void vsock_rx_list_add(struct conn *c);
void vsock_rx_list_del(struct conn *c);

/* tx.c */
void vsock_tx_service(struct vsock *vs);
/* STREAM, or SEQPACKET when the driver negotiated it. */
bool valid_type(const struct vsock *vs, uint16_t type);

#endif
