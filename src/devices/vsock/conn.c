/* The connection table and the host side of each connection. Guest data goes to the host
 * socket at once when it takes it; what it refuses is copied into the connection's queue,
 * which the guest's credit bounds to VSOCK_BUF_ALLOC bytes of payload, and fwd_cnt only
 * advances (and so the guest's credit only comes back) as the host socket consumes it.
 * The queue is charged what it costs in memory, not its payload: small STREAM packets are
 * packed into shared buffers, and a connection (or the VM) whose queue would cost more
 * than its cap is reset. Sends use MSG_NOSIGNAL: a peer that went away must not kill the
 * VMM with SIGPIPE. */
#include "devices/vsock/internal.h"

#include <errno.h>
#include <limits.h>
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

/* Small STREAM packets are packed into buffers of at least this size. */
#define TXBUF_MIN 4000

/* What malloc takes for n bytes: glibc's chunks have an 8-byte header, are 16-byte
 * aligned and at least 32 bytes. */
static size_t alloc_cost(size_t n)
{
	size_t c = (n + 8 + 15) & ~(size_t)15;

	return c < 32 ? 32 : c;
}

static size_t txbuf_cost(uint32_t cap)
{
	return alloc_cost(sizeof(struct txbuf)) + alloc_cost(cap);
}

static void charge(struct conn *c, size_t add, size_t sub)
{
	c->mem += add - sub;
	c->vs->mem += add - sub;
}

static void free_txbuf(struct conn *c, struct txbuf *b)
{
	charge(c, 0, txbuf_cost(b->cap));
	free(b->data);
	free(b);
}

static void free_txq(struct conn *c)
{
	while (c->txq) {
		struct txbuf *b = c->txq;
		c->txq = b->next;
		free_txbuf(c, b);
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

bool conn_release_some(struct vsock *vs, unsigned max)
{
	for (unsigned i = 0; i < VSOCK_HASH_SIZE; i++) {
		while (vs->hash[i]) {
			if (max-- == 0)
				return false;
			conn_release(vs->hash[i], false);
		}
	}
	vs->nrst = vs->rst_head = 0;
	return true;
}

void conn_release_all(struct vsock *vs)
{
	conn_release_some(vs, UINT_MAX);
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

/* What the guest may have in flight towards us: our buffer, or its own when smaller, since
 * a guest may cap our credit to its buffer size (Linux does, since 6.1.y); waiting for it
 * to use half of ours would then stall it for good. */
static uint32_t guest_send_window(const struct conn *c)
{
	return c->peer_buf_alloc && c->peer_buf_alloc < VSOCK_BUF_ALLOC ? c->peer_buf_alloc
									: VSOCK_BUF_ALLOC;
}

/* Over half of the guest's window is, in its view, still in use: tell it what was
 * consumed. */
static void maybe_credit_update(struct conn *c)
{
	uint32_t guest_view_used = c->rx_cnt - c->adv_fwd_cnt;

	if (c->fwd_cnt != c->adv_fwd_cnt && !c->guest_no_send &&
	    guest_view_used > guest_send_window(c) / 2)
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

static struct txbuf *txq_last(const struct conn *c)
{
	return c->txq ? container_of(c->txq_tail, struct txbuf, next) : NULL;
}

/* The buffer the next guest bytes go into, or NULL when they need a new one. */
static struct txbuf *open_tail(const struct conn *c)
{
	struct txbuf *last = txq_last(c);

	if (!last)
		return NULL;
	if (c->type == VSOCK_STREAM)
		return last->len < last->cap ? last : NULL;
	return last->complete ? NULL : last;
}

static uint32_t stream_cap(uint32_t len)
{
	return len > TXBUF_MIN ? len : TXBUF_MIN;
}

/* The memory that queueing len more bytes adds. */
static size_t enqueue_cost(const struct conn *c, uint32_t len)
{
	struct txbuf *b = open_tail(c);

	if (c->type == VSOCK_SEQPACKET)
		return b ? alloc_cost(b->len + len) - alloc_cost(b->cap) : txbuf_cost(len);
	uint32_t room = b ? b->cap - b->len : 0;
	return len <= room ? 0 : txbuf_cost(stream_cap(len - room));
}

static struct txbuf *txbuf_append(struct conn *c, uint32_t cap)
{
	struct txbuf *b = xzalloc(sizeof(*b));

	b->data = xmalloc(cap ? cap : 1);
	b->cap = cap;
	*c->txq_tail = b;
	c->txq_tail = &b->next;
	charge(c, txbuf_cost(cap), 0);
	return b;
}

/* Appends guest bytes to the queue: STREAM bytes fill the last buffer first, a SEQPACKET
 * fragment grows the record still open or starts one. */
static void enqueue(struct conn *c, const struct iovec *iov, unsigned niov, size_t skip,
		    uint32_t len, bool complete)
{
	struct txbuf *b = open_tail(c);

	c->queued += len;
	if (c->type == VSOCK_SEQPACKET) {
		if (!b) {
			b = txbuf_append(c, len);
		} else if (len) {
			charge(c, alloc_cost(b->len + len), alloc_cost(b->cap));
			b->cap = b->len + len;
			b->data = xrealloc(b->data, b->cap);
		}
		iov_to_buf(iov, niov, skip, b->data + b->len, len);
		b->len += len;
		b->complete = complete;
		return;
	}
	while (len) {
		if (!b)
			b = txbuf_append(c, stream_cap(len));
		uint32_t n = b->cap - b->len < len ? b->cap - b->len : len;
		iov_to_buf(iov, niov, skip, b->data + b->len, n);
		b->len += n;
		b->complete = true;
		skip += n;
		len -= n;
		b = NULL;
	}
}

/* Whether queueing len more bytes keeps the connection and the VM within their caps. */
static bool queue_fits(const struct conn *c, uint32_t len)
{
	size_t cost = enqueue_cost(c, len);

	return c->mem + cost <= VSOCK_CONN_MEM_MAX && c->vs->mem + cost <= c->vs->mem_max;
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
	ssize_t n = -1;
	if (direct) {
		n = send_iov(c->fd, iov, niov);
		if (n < 0 && errno != EAGAIN) {
			conn_release(c, true);
			return false;
		}
		sent = n < 0 ? 0 : (size_t)n;
		c->fwd_cnt += sent;
	}
	/* A record goes whole or not at all, empty ones included. */
	if (c->type == VSOCK_STREAM ? sent < len : n < 0) {
		if (!queue_fits(c, len - sent)) {
			conn_release(c, true);
			return false;
		}
		enqueue(c, iov, niov, sent, len - sent, c->type == VSOCK_STREAM || eom);
	}
	maybe_credit_update(c);
	return true;
}

/* Complete buffers from the head: a STREAM sends many in one call, a SEQPACKET record is
 * sent alone. Returns the count of iovecs; *bytes their total. */
#define FLUSH_IOV 64
static unsigned flush_iov(const struct conn *c, struct iovec *iov, size_t *bytes)
{
	unsigned n = 0;

	*bytes = 0;
	for (struct txbuf *b = c->txq; b && b->complete && n < FLUSH_IOV; b = b->next) {
		iov[n++] = (struct iovec){ b->data + b->off, b->len - b->off };
		*bytes += b->len - b->off;
		if (c->type == VSOCK_SEQPACKET)
			break;
	}
	return n;
}

/* Drops sent bytes from the head of the queue, freeing the buffers they emptied. */
static void consume(struct conn *c, size_t sent)
{
	c->fwd_cnt += sent;
	c->queued -= sent;
	while (c->txq) {
		struct txbuf *b = c->txq;
		size_t take = b->len - b->off < sent ? b->len - b->off : sent;
		b->off += take;
		sent -= take;
		if (b->off < b->len)
			return;
		c->txq = b->next;
		if (!c->txq)
			c->txq_tail = &c->txq;
		free_txbuf(c, b);
		if (c->type == VSOCK_SEQPACKET)
			return; /* one record per send, empty ones included */
	}
}

/* Sends queued data. 1: all of it sent, 0: the socket would block, -1: failed. */
static int flush_queue(struct conn *c)
{
	struct iovec iov[FLUSH_IOV];
	size_t bytes;
	unsigned n;

	while ((n = flush_iov(c, iov, &bytes)) > 0) {
		ssize_t sent = send_iov(c->fd, iov, n);
		if (sent < 0)
			return errno == EAGAIN ? 0 : -1;
		consume(c, sent);
		if ((size_t)sent < bytes)
			return 0; /* the socket took part of it: it is full */
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
