/* Packets to the guest. Each goes into one rx chain: the header, then the payload read
 * straight from the host socket into the chain's remaining segments. Order of service:
 * owed RSTs, then control packets (a RESPONSE always precedes the connection's data),
 * then data from connections whose host fd may be readable (vs->rx_list), round robin.
 * Data never exceeds the credit the guest gave (buf_alloc - (tx_cnt - fwd_cnt)); with no
 * credit the connection leaves the list, asks once for credit, and its fd is not read
 * until a packet from the guest brings more. */
#include "devices/vsock/internal.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Chains filled per call before yielding to the rest of the event loop. */
#define RX_BUDGET 64
/* A host SEQPACKET record must fit the guest's receive buffer; beyond this we refuse it
 * whatever the guest advertises. */
#define VSOCK_MAX_RECORD (1024 * 1024)

enum deliver { DELIVERED, IDLE, STALLED, NO_BUFFER };

void vsock_kick_again(struct vsock *vs, unsigned q)
{
	uint64_t one = 1;

	while (write(vs->dev.kick_fd[q], &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void vsock_rx_list_add(struct conn *c)
{
	struct vsock *vs = c->vs;
	struct conn **tail = &vs->rx_list;

	if (c->rprev)
		return;
	while (*tail) /* appended, so that every ready connection gets its turn */
		tail = &(*tail)->rnext;
	c->rnext = NULL;
	c->rprev = tail;
	*tail = c;
}

void vsock_rx_list_del(struct conn *c)
{
	if (!c->rprev)
		return;
	*c->rprev = c->rnext;
	if (c->rnext)
		c->rnext->rprev = c->rprev;
	c->rprev = NULL;
}

void vsock_queue_rst(struct vsock *vs, const struct virtio_vsock_hdr *to, bool stray)
{
	unsigned cap = vs->rst_cap;

	if (vs->nrst >= (stray ? VSOCK_MAX_STRAY_RST : cap))
		return;
	vs->rst[(vs->rst_head + vs->nrst++) % cap] = (struct virtio_vsock_hdr){
		.src_cid = VSOCK_HOST_CID,
		.dst_cid = VSOCK_GUEST_CID,
		.src_port = to->dst_port,
		.dst_port = to->src_port,
		.type = to->type == VSOCK_SEQPACKET ? VSOCK_SEQPACKET : VSOCK_STREAM,
		.op = VIRTIO_VSOCK_OP_RST,
	};
}

/* Holds the next rx chain with room for a header and some payload. False when the guest
 * gave none. */
static bool get_chain(struct vsock *vs, bool *pushed)
{
	struct virtqueue *vq = &vs->dev.vq[VSOCK_RXQ];

	while (!vs->rx_held) {
		if (virtqueue_pop(vq, vs->rx_chain) <= 0)
			return false;
		if (vs->rx_chain->in_len > VSOCK_HDR_LEN) {
			vs->rx_held = true;
		} else {
			virtqueue_push(vq, vs->rx_chain->head,
				       0); /* no room for data: hand it back */
			*pushed = true;
		}
	}
	return true;
}

static void put_chain(struct vsock *vs, const struct virtio_vsock_hdr *h)
{
	iov_from_buf(vs->rx_chain->in, vs->rx_chain->nin, 0, h, VSOCK_HDR_LEN);
	virtqueue_push(&vs->dev.vq[VSOCK_RXQ], vs->rx_chain->head, VSOCK_HDR_LEN + h->len);
	vs->rx_held = false;
}

static struct virtio_vsock_hdr conn_hdr(struct conn *c, uint16_t op, uint32_t flags, uint32_t len)
{
	c->adv_fwd_cnt = c->fwd_cnt; /* every packet tells the guest our fwd_cnt */
	c->pending &= ~PEND_CREDIT_UPDATE;
	return (struct virtio_vsock_hdr){ .src_cid = VSOCK_HOST_CID,
					  .dst_cid = VSOCK_GUEST_CID,
					  .src_port = c->host_port,
					  .dst_port = c->guest_port,
					  .len = len,
					  .type = c->type,
					  .op = op,
					  .flags = flags,
					  .buf_alloc = VSOCK_BUF_ALLOC,
					  .fwd_cnt = c->fwd_cnt };
}

/* One control packet of c; leaves the control list when it owes nothing more. */
static void send_ctrl(struct vsock *vs, struct conn *c)
{
	static const struct {
		uint32_t bit;
		uint16_t op;
	} order[] = { { PEND_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
		      { PEND_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
		      { PEND_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
		      { PEND_CREDIT_REQUEST, VIRTIO_VSOCK_OP_CREDIT_REQUEST },
		      { PEND_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN } };

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		if (!(c->pending & order[i].bit))
			continue;
		uint32_t flags = order[i].op == VIRTIO_VSOCK_OP_SHUTDOWN ? c->shutdown_flags : 0;
		struct virtio_vsock_hdr h = conn_hdr(c, order[i].op, flags, 0);
		c->pending &= ~order[i].bit;
		put_chain(vs, &h);
		break;
	}
	if (!c->pending) {
		*c->pprev = c->pnext;
		if (c->pnext)
			c->pnext->pprev = c->pprev;
		c->pprev = NULL;
	}
}

/* The host fd gave end of file: tell the guest, and maybe finish. */
static void host_eof(struct conn *c)
{
	c->host_eof = true;
	vsock_rx_list_del(c);
	c->shutdown_flags |= VIRTIO_VSOCK_SHUTDOWN_SEND;
	conn_set_pending(c, PEND_SHUTDOWN);
	if (conn_check_done(c))
		conn_update(c);
}

/* Nothing to read for now: watch the fd again. */
static void rx_idle(struct conn *c)
{
	vsock_rx_list_del(c);
	conn_update(c);
}

static ssize_t recv_iov(int fd, struct iovec *iov, unsigned niov, int flags)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = niov };
	ssize_t n;

	do
		n = recvmsg(fd, &m, flags | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Reads the next host record whole into c->rec. False when the connection ended. */
static bool read_record(struct conn *c, bool *would_block)
{
	struct iovec none = { NULL, 0 };
	ssize_t n = recv_iov(c->fd, &none, 1, MSG_PEEK | MSG_TRUNC);

	*would_block = n < 0 && errno == EAGAIN;
	if (*would_block)
		return true;
	if (n < 0 || n > VSOCK_MAX_RECORD || (uint32_t)n > c->peer_buf_alloc) {
		conn_release(c, true); /* the guest could never take it whole */
		return false;
	}
	if (n == 0) {
		/* An empty record, or end of file: only the latter also reports RDHUP. */
		struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP))) {
			host_eof(c);
			return false;
		}
	}
	c->rec = xmalloc(n ? n : 1);
	struct iovec iov = { c->rec, n };
	if (recv_iov(c->fd, &iov, 1, 0) != n) {
		conn_release(c, true); /* the record we peeked went away: not ours to guess */
		return false;
	}
	c->rec_len = n;
	c->rec_off = 0;
	return true;
}

static enum deliver deliver_seqpacket(struct vsock *vs, struct conn *c, size_t room, bool *pushed)
{
	bool would_block = false;

	if (!c->rec && (!read_record(c, &would_block) || would_block)) {
		if (would_block)
			rx_idle(c);
		return IDLE;
	}
	uint32_t left = c->rec_len - c->rec_off, credit = conn_peer_credit(c);
	uint32_t n = left < room ? left : room;
	if (n > credit)
		n = credit;
	if (n == 0 && left)
		return STALLED;
	iov_from_buf(vs->rx_chain->in, vs->rx_chain->nin, VSOCK_HDR_LEN, c->rec + c->rec_off, n);
	c->rec_off += n;
	c->tx_cnt += n;
	bool eom = c->rec_off == c->rec_len;
	uint32_t flags = eom ? VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR : 0;
	struct virtio_vsock_hdr h = conn_hdr(c, VIRTIO_VSOCK_OP_RW, flags, n);
	put_chain(vs, &h);
	*pushed = true;
	if (eom) {
		free(c->rec);
		c->rec = NULL;
	}
	return DELIVERED;
}

static enum deliver deliver_stream(struct vsock *vs, struct conn *c, size_t room, bool *pushed)
{
	uint32_t n = conn_peer_credit(c);

	if (n > room)
		n = room;
	unsigned k = iov_slice(vs->rx_chain->in, vs->rx_chain->nin, VSOCK_HDR_LEN, n, vs->scratch);
	ssize_t got = recv_iov(c->fd, vs->scratch, k, 0);
	if (got < 0 && errno == EAGAIN) {
		rx_idle(c);
		return IDLE;
	}
	if (got < 0) {
		conn_release(c, true); /* ECONNRESET and the like */
		return IDLE;
	}
	if (got == 0) {
		host_eof(c);
		return IDLE;
	}
	c->tx_cnt += got;
	struct virtio_vsock_hdr h = conn_hdr(c, VIRTIO_VSOCK_OP_RW, 0, got);
	put_chain(vs, &h);
	*pushed = true;
	return DELIVERED;
}

/* Out of credit: the fd is not read until a packet from the guest brings more (tx.c puts
 * the connection back); the guest is asked for it once per stall. */
static void stall(struct conn *c)
{
	if (!c->asked_credit) {
		c->asked_credit = true;
		conn_set_pending(c, PEND_CREDIT_REQUEST);
	}
	rx_idle(c);
}

/* One data packet from the first ready connection, which then goes to the back. */
static enum deliver deliver_data(struct vsock *vs, bool *pushed)
{
	struct conn *c = vs->rx_list;

	if (c->host_eof || c->guest_no_recv || c->state != CONN_CONNECTED ||
	    (c->pending & PEND_RESPONSE)) {
		rx_idle(c);
		return IDLE;
	}
	if (conn_peer_credit(c) == 0) {
		stall(c);
		return IDLE;
	}
	if (!get_chain(vs, pushed))
		return NO_BUFFER;
	size_t room = vs->rx_chain->in_len - VSOCK_HDR_LEN;
	if (room > VSOCK_MAX_PAYLOAD)
		room = VSOCK_MAX_PAYLOAD;
	enum deliver d = c->type == VSOCK_STREAM ? deliver_stream(vs, c, room, pushed)
						 : deliver_seqpacket(vs, c, room, pushed);
	if (d == STALLED) {
		stall(c);
		return IDLE;
	}
	if (d == DELIVERED && vs->rx_list == c && c->rnext) {
		vsock_rx_list_del(c);
		vsock_rx_list_add(c);
	}
	return d;
}

void vsock_rx_service(struct vsock *vs)
{
	bool pushed = false;
	unsigned n = 0;

	while (n < RX_BUDGET && (vs->nrst || vs->ctrl_list || vs->rx_list)) {
		if ((vs->nrst || vs->ctrl_list) && !get_chain(vs, &pushed))
			break;
		if (vs->nrst) {
			struct virtio_vsock_hdr h = vs->rst[vs->rst_head];
			vs->rst_head = (vs->rst_head + 1) % vs->rst_cap;
			vs->nrst--;
			put_chain(vs, &h);
			pushed = true;
		} else if (vs->ctrl_list) {
			send_ctrl(vs, vs->ctrl_list);
			pushed = true;
		} else {
			/* An idle connection counts too: each costs a syscall or two. */
			if (deliver_data(vs, &pushed) == NO_BUFFER)
				break;
		}
		n++;
	}
	if (pushed)
		virtio_signal_used(&vs->dev, VSOCK_RXQ);
	if (n == RX_BUDGET)
		vsock_kick_again(vs, VSOCK_RXQ);
}
