/* Port data between host fds and the guest, without a thread per port: host input is
 * read with readv straight into the guest's rx buffers, guest output written with writev
 * straight from its tx buffers. When a host fd would block, the chain in progress is
 * kept and the port waits for the fd (EPOLLIN / EPOLLOUT); when the guest has no rx
 * buffers, the input fd is not watched until the guest kicks the rx queue. Output bytes
 * are never transformed or dropped while the host side can take them. All functions run
 * with console.lock held. */
#include "devices/console/internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/virtio_console.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

/* Chains handled per callback before yielding to other fds of the event loop. */
#define RX_BUDGET 64
#define TX_BUDGET 64
/* Bytes moved per callback, whatever the chains' sizes: a chain may hold up to 4 GiB, and
 * a host fd that never blocks (a file, /dev/zero) would take it all in one turn. */
#define IO_SLICE (256 * 1024)

/* A chain fits in one readv/writev: Linux takes up to 1024 segments (UIO_MAXIOV). */
_Static_assert(VIRTQUEUE_MAX_SEGS <= 1024, "chains must fit in one readv/writev");

enum rx_result { RX_DELIVERED, RX_NO_BUFFERS, RX_WOULD_BLOCK, RX_EOF };
enum tx_result { TX_EMPTY, TX_BLOCKED, TX_MORE };

void console_kick_again(struct console *c, unsigned q)
{
	uint64_t one = 1;

	while (write(c->dev.kick_fd[q], &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Adds or removes the event-loop watch on h. Loop thread only. */
static void set_watch(struct console_port *p, struct host_fd *h, uint32_t events,
		      event_handler_fn fn, bool want)
{
	krun_error_t err = NULL;

	if (h->fd < 0 || !h->pollable || want == h->watched)
		return;
	if (!want) {
		event_loop_remove(p->con->dev.loop, h->fd);
	} else if (event_loop_add(p->con->dev.loop, h->fd, events, fn, p, &err) < 0) {
		/* Without a watch the port would stall: give up on this host fd. */
		krun_error_release(&err);
		if (h == &p->in)
			p->in_eof = true;
		else
			p->out_failed = true;
		return;
	}
	h->watched = want;
}

static void on_input(void *opaque, uint32_t events)
{
	struct console_port *p = opaque;

	pthread_mutex_lock(&p->con->lock);
	console_port_rx(p);
	pthread_mutex_unlock(&p->con->lock);
}

static void on_output(void *opaque, uint32_t events)
{
	struct console_port *p = opaque;

	pthread_mutex_lock(&p->con->lock);
	console_port_tx(p);
	pthread_mutex_unlock(&p->con->lock);
}

static bool can_read(const struct console_port *p)
{
	return p->con->active && p->in.fd >= 0 && p->guest_open && !p->in_eof;
}

/* The leading segments holding at most max bytes: returns their count (n when max is 0)
 * after trimming the last one, whose full length goes to *full. */
static unsigned iov_limit(struct iovec *iov, unsigned n, size_t max, size_t *full)
{
	size_t sum = 0;
	unsigned k = 0;

	while (k < n && sum < max)
		sum += iov[k++].iov_len;
	if (k == 0)
		return n;
	*full = iov[k - 1].iov_len;
	if (sum > max)
		iov[k - 1].iov_len -= sum - max;
	return k;
}

static enum rx_result rx_one(struct console_port *p, size_t *left)
{
	struct virtqueue *vq = &p->con->dev.vq[PORT_RXQ(p->id)];
	ssize_t n;

	if (!p->rx_held) {
		if (virtqueue_pop(vq, p->rx) <= 0)
			return RX_NO_BUFFERS;
		p->rx_held = true;
	}
	if (p->rx->in_len == 0) {
		n = 0; /* nothing writable in it: hand it back empty */
	} else {
		size_t full = 0;
		unsigned k = iov_limit(p->rx->in, p->rx->nin, *left, &full);
		do
			n = readv(p->in.fd, p->rx->in, k);
		while (n < 0 && errno == EINTR);
		if (k)
			p->rx->in[k - 1].iov_len = full;
		if (n < 0 && errno == EAGAIN)
			return RX_WOULD_BLOCK;
		if (n <= 0) {
			/* End of file, or an error such as EIO from a hung-up terminal. The held
			 * chain stays with us: the port will not carry data again. */
			p->in_eof = true;
			return RX_EOF;
		}
	}
	virtqueue_push(vq, p->rx->head, n);
	p->rx_held = false;
	*left -= (size_t)n < *left ? (size_t)n : *left;
	return RX_DELIVERED;
}

void console_port_rx(struct console_port *p)
{
	struct console *c = p->con;
	unsigned q = PORT_RXQ(p->id), n;
	enum rx_result r = RX_NO_BUFFERS;
	bool pushed = false;
	size_t left = IO_SLICE;

	for (n = 0; n < RX_BUDGET && left && can_read(p); n++) {
		r = rx_one(p, &left);
		if (r != RX_DELIVERED)
			break;
		pushed = true;
	}
	bool more = n == RX_BUDGET || (!left && r == RX_DELIVERED);
	if (pushed)
		virtio_signal_used(&c->dev, q);
	/* Everything read was pushed above, so the guest sees the data before the close:
	 * it reads what is left, then end of file. */
	if (r == RX_EOF && p->id != 0)
		console_ctrl_send(c, p->id, VIRTIO_CONSOLE_PORT_OPEN, 0, NULL, 0);
	if (!p->in.pollable && more)
		console_kick_again(c, q);
	set_watch(p, &p->in, EPOLLIN, on_input, can_read(p) && (more || r == RX_WOULD_BLOCK));
}

/* Drops leading segments already written (and empty ones), trims a partial one. */
static void iov_consume(struct iovec **iov, unsigned *n, size_t bytes)
{
	while (*n && (*iov)->iov_len <= bytes) {
		bytes -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n && bytes) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + bytes;
		(*iov)->iov_len -= bytes;
	}
}

/* Writes the rest of the held chain, *left bytes at most. False when out.fd would block
 * or *left ran out. */
static bool tx_write_held(struct console_port *p, size_t *left)
{
	for (;;) {
		iov_consume(&p->tx_iov, &p->tx_niov, 0);
		if (!p->tx_niov || p->out.fd < 0 || p->out_failed)
			return true; /* done, or discarded */
		if (!*left)
			return false;
		size_t full = 0;
		unsigned k = iov_limit(p->tx_iov, p->tx_niov, *left, &full);
		ssize_t n = writev(p->out.fd, p->tx_iov, k);
		p->tx_iov[k - 1].iov_len = full;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0) {
			p->out_failed = true; /* EPIPE, ENOSPC...: nobody takes output any more */
			return true;
		}
		iov_consume(&p->tx_iov, &p->tx_niov, n);
		*left -= (size_t)n < *left ? (size_t)n : *left;
	}
}

static enum tx_result tx_run(struct console_port *p, unsigned budget, bool *pushed)
{
	struct virtqueue *vq = &p->con->dev.vq[PORT_TXQ(p->id)];
	size_t left = IO_SLICE;

	for (unsigned n = 0; n < budget; n++) {
		if (!p->tx_held) {
			if (virtqueue_pop(vq, p->tx) <= 0)
				return TX_EMPTY;
			p->tx_held = true;
			p->tx_iov = p->tx->out;
			p->tx_niov = p->tx->nout;
		}
		if (!tx_write_held(p, &left))
			return left ? TX_BLOCKED : TX_MORE;
		virtqueue_push(vq, p->tx->head, 0);
		p->tx_held = false;
		*pushed = true;
	}
	return TX_MORE;
}

void console_port_tx(struct console_port *p)
{
	struct console *c = p->con;
	enum tx_result r = TX_EMPTY;
	bool pushed = false;

	if (c->active)
		r = tx_run(p, TX_BUDGET, &pushed);
	if (pushed)
		virtio_signal_used(&c->dev, PORT_TXQ(p->id));
	/* Come back for the rest: by EPOLLOUT when blocked, by our own kick otherwise
	 * (an fd epoll refuses is a file, which does not block for long). */
	if (r == TX_MORE || (r == TX_BLOCKED && !p->out.pollable))
		console_kick_again(c, PORT_TXQ(p->id));
	set_watch(p, &p->out, EPOLLOUT, on_output, r == TX_BLOCKED);
}

void console_port_drain(struct console_port *p)
{
	bool pushed = false;
	enum tx_result r;

	while ((r = tx_run(p, UINT_MAX, &pushed)) != TX_EMPTY) {
		struct pollfd pfd = { .fd = p->out.fd, .events = POLLOUT };
		if (r == TX_BLOCKED && poll(&pfd, 1, -1) < 0 && errno != EINTR)
			p->out_failed = true;
	}
	if (pushed)
		virtio_signal_used(&p->con->dev, PORT_TXQ(p->id));
}

void console_port_forget(struct console_port *p)
{
	p->rx_held = false;
	p->tx_held = false;
	p->guest_open = false;
}

void console_port_unwatch(struct console_port *p)
{
	set_watch(p, &p->in, 0, NULL, false);
	set_watch(p, &p->out, 0, NULL, false);
}
