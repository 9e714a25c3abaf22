/* The connection table and the host side of each connection. Guest data goes to the host
 * socket at once when it takes it; what it refuses is copied into the connection's queue,
 * which the guest's credit bounds to VSOCK_BUF_ALLOC bytes, and fwd_cnt only advances (and
 * so the guest's credit only comes back) as the host socket consumes it. Sends use
 * MSG_NOSIGNAL: a peer that went away must not kill the VMM with SIGPIPE. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned hash_of(uint32_t guest_port, uint32_t host_port)
{
	return (guest_port * 2654435761u ^ host_port) % VSOCK_HASH_SIZE;
}

struct conn *conn_find(struct vsock *vs, uint32_t guest_port, uint32_t host_port)
{
	for (struct conn *c = vs->hash[hash_of(guest_port, host_port)]; c; c = c->hnext)
		if (c->guest_port == guest_port && c->host_port == host_port)
			return c;
	return NULL;
}

struct conn *conn_new(struct vsock *vs, uint32_t guest_port, uint32_t host_port,
		      enum vsock_type type, int fd)
{
	struct conn *c = xzalloc(sizeof(*c));
	unsigned h = hash_of(guest_port, host_port);

	c->vs = vs;
	c->guest_port = guest_port;
	c->host_port = host_port;
	c->type = type;
	c->fd = fd;
	c->txq_tail = &c->txq;
	c->hnext = vs->hash[h];
	vs->hash[h] = c;
	vs->nconns++;
	return c;
}

static void ctrl_list_del(struct conn *c)
{
	if (!c->pprev)
		return;
	*c->pprev = c->pnext;
	if (c->pnext)
		c->pnext->pprev = c->pprev;
	c->pprev = NULL;
}

void conn_set_pending(struct conn *c, uint32_t what)
{
	c->pending |= what;
	if (c->pprev || !c->pending)
		return;
	c->pnext = c->vs->ctrl_list;
	if (c->pnext)
		c->pnext->pprev = &c->pnext;
	c->vs->ctrl_list = c;
	c->pprev = &c->vs->ctrl_list;
}

static void free_txq(struct conn *c)
{
	while (c->txq) {
		struct txbuf *b = c->txq;
		c->txq = b->next;
		free(b->data);
		free(b);
	}
	c->txq_tail = &c->txq;
	c->queued = 0;
}

void conn_release(struct conn *c, bool rst)
{
	struct vsock *vs = c->vs;

	if (rst) {
		struct virtio_vsock_hdr h = { .src_cid = VSOCK_GUEST_CID,
					      .dst_cid = VSOCK_HOST_CID,
					      .src_port = c->guest_port,
					      .dst_port = c->host_port,
					      .type = c->type };
		vsock_queue_rst(vs, &h, false);
	}
	for (struct conn **p = &vs->hash[hash_of(c->guest_port, c->host_port)]; *p;
	     p = &(*p)->hnext) {
		if (*p == c) {
			*p = c->hnext;
			break;
		}
	}
	ctrl_list_del(c);
	vsock_rx_list_del(c);
	if (c->watched)
		event_loop_remove(vs->dev.loop, c->fd);
	close(c->fd);
	free_txq(c);
	free(c->rec);
	free(c);
	vs->nconns--;
}

void conn_release_all(struct vsock *vs)
{
	for (unsigned i = 0; i < VSOCK_HASH_SIZE; i++)
		while (vs->hash[i])
			conn_release(vs->hash[i], false);
	vs->nrst = vs->rst_head = 0;
}

uint32_t conn_peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void on_host_event(void *opaque, uint32_t events);

bool conn_update(struct conn *c)
{
	krun_error_t err = NULL;
	bool want_in = c->state == CONN_CONNECTED && !c->host_eof && !c->guest_no_recv &&
		       !c->rprev && conn_peer_credit(c) > 0;
	uint32_t ev = (want_in ? EPOLLIN : 0) | (c->txq ? EPOLLOUT : 0);

	if (event_loop_watch(c->vs->dev.loop, c->fd, &c->watched, ev, on_host_event, c, &err) < 0) {
		/* Unwatched, the connection would stall for good. */
		krun_error_release(&err);
		conn_release(c, true);
		return false;
	}
	return true;
}

/* The guest's view of our free buffer space is below half: tell it what was consumed. */
static void maybe_credit_update(struct conn *c)
{
	uint32_t guest_view_used = c->rx_cnt - c->adv_fwd_cnt;

	if (c->fwd_cnt != c->adv_fwd_cnt && !c->guest_no_send &&
	    guest_view_used > VSOCK_BUF_ALLOC / 2)
		conn_set_pending(c, PEND_CREDIT_UPDATE);
}

static ssize_t send_iov(int fd, const struct iovec *iov, unsigned niov)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = niov };
	ssize_t n;

	do
		n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Appends guest bytes to the queue: to the record still growing, or as a new entry. */
static void enqueue(struct conn *c, const struct iovec *iov, unsigned niov, size_t skip,
		    uint32_t len, bool complete)
{
	struct txbuf *b = NULL;

	if (c->type == VSOCK_SEQPACKET && c->txq) {
		struct txbuf *last = container_of(c->txq_tail, struct txbuf, next);
		if (!last->complete)
			b = last;
	}
	if (!b) {
		b = xzalloc(sizeof(*b));
		*c->txq_tail = b;
		c->txq_tail = &b->next;
	}
	/* Even an empty record gets a buffer: the flush computes positions in it. */
	if (!b->data || b->len + len > b->cap) {
		b->cap = b->len + len;
		b->data = xrealloc(b->data, b->cap ? b->cap : 1);
	}
	iov_to_buf(iov, niov, skip, b->data + b->len, len);
	b->len += len;
	b->complete = complete;
	c->queued += len;
}

bool conn_from_guest(struct conn *c, const struct iovec *iov, unsigned niov, uint32_t len, bool eom)
{
	size_t sent = 0;

	if (c->guest_no_send || len > VSOCK_BUF_ALLOC - c->queued) {
		conn_release(c, true); /* data after its shutdown, or beyond its credit */
		return false;
	}
	c->rx_cnt += len;
	bool direct = !c->txq && (c->type == VSOCK_STREAM ? len > 0 : eom);
	if (direct) {
		ssize_t n = send_iov(c->fd, iov, niov);
		if (n < 0 && errno != EAGAIN) {
			conn_release(c, true);
			return false;
		}
		/* A record goes whole or not at all. */
		sent = n < 0 ? 0 : (size_t)n;
		c->fwd_cnt += sent;
	}
	if (sent < len || (c->type == VSOCK_SEQPACKET && !direct))
		enqueue(c, iov, niov, sent, len - sent, c->type == VSOCK_STREAM || eom);
	maybe_credit_update(c);
	return true;
}

/* Sends queued data. 1: all of it sent, 0: the socket would block, -1: failed. */
static int flush_queue(struct conn *c)
{
	while (c->txq && c->txq->complete) {
		struct txbuf *b = c->txq;
		struct iovec iov = { b->data + b->off, b->len - b->off };
		ssize_t n = send_iov(c->fd, &iov, 1);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		b->off += n;
		c->fwd_cnt += n;
		c->queued -= n;
		if (b->off < b->len)
			continue;
		c->txq = b->next;
		if (!c->txq)
			c->txq_tail = &c->txq;
		free(b->data);
		free(b);
	}
	return 1;
}

bool conn_flush(struct conn *c)
{
	int r = flush_queue(c);

	if (r < 0) {
		conn_release(c, true);
		return false;
	}
	maybe_credit_update(c);
	return conn_check_done(c);
}

bool conn_check_done(struct conn *c)
{
	if (c->txq || c->state != CONN_CONNECTED)
		return true;
	if (c->guest_no_send && !c->host_wr_shut) {
		shutdown(c->fd, SHUT_WR); /* the host reader sees end of file */
		c->host_wr_shut = true;
	}
	if (c->guest_no_send && (c->host_eof || c->guest_no_recv)) {
		conn_release(c, true); /* both directions are over */
		return false;
	}
	return true;
}

static void on_host_event(void *opaque, uint32_t events)
{
	struct conn *c = opaque;
	struct vsock *vs = c->vs;

	pthread_mutex_lock(&vs->lock);
	if (vsock_enter(vs)) {
		bool alive = true;
		if (c->txq && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			alive = conn_flush(c);
		if (alive && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !c->host_eof)
			vsock_rx_list_add(c);
		if (alive)
			conn_update(c);
		vsock_rx_service(vs);
	}
	pthread_mutex_unlock(&vs->lock);
}

unsigned iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len, struct iovec *dst)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		size_t chunk = src[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		dst[k++] = (struct iovec){ (char *)src[i].iov_base + off, chunk };
		len -= chunk;
		off = 0;
	}
	return k;
}
