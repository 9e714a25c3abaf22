/* The TSI backend: which host fd each guest vsock connection gets, the control channels
 * (requests in, replies and events out, in order, with a bounded backlog), and the release
 * of everything a guest socket held when its control connection goes.
 *
 * A stream data connection gets a dup of the connected host socket, so the device and TSI
 * both hold that socket's file: every fd is removed from the event loop before it is
 * closed, since an epoll registration outlives the close of one of a file's fds. */
#include "devices/vsock/tsi_internal.h"
#include "devices/vsock/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Requests (and accepted connections) served per event before yielding. */
#define TSI_BUDGET 16

static struct tsi *to_tsi(struct vsock_backend *b)
{
	return container_of(b, struct tsi, b);
}

struct event_loop *tsi_loop(struct tsi_sock *s)
{
	return s->t->b.dev->loop;
}

static bool watch(struct tsi_sock *s, struct tsi_watch *w, uint32_t want, event_handler_fn fn)
{
	krun_error_t err = NULL;

	if (w->fd < 0)
		return true;
	if (event_loop_watch(tsi_loop(s), w->fd, &w->ev, want, fn, s, &err) < 0) {
		krun_error_release(&err);
		return false;
	}
	return true;
}

void tsi_close_watch(struct tsi_sock *s, struct tsi_watch *w)
{
	if (w->ev)
		event_loop_remove(tsi_loop(s), w->fd);
	w->ev = 0;
	close_and_reset(&w->fd);
}

static void on_ctl(void *opaque, uint32_t events);

static uint32_t host_events(const struct tsi_sock *s)
{
	switch (s->state) {
	case TS_CONNECTING:
		return s->retry.fd < 0 ? EPOLLOUT : 0; /* an unconnected socket is writable */
	case TS_LISTENING:
		return s->nout < TSI_OUTQ_MAX ? EPOLLIN : 0;
	default:
		if (s->type != SOCK_DGRAM || s->dg.fd < 0)
			return 0;
		return (s->dg_to_guest ? 0 : EPOLLIN) | (s->dg_to_host ? EPOLLOUT : 0);
	}
}

bool tsi_update(struct tsi_sock *s)
{
	uint32_t ctl = (s->nout < TSI_OUTQ_MAX ? EPOLLIN : 0) | (s->outq ? EPOLLOUT : 0);
	uint32_t dg = (s->dg_to_host ? 0 : EPOLLIN) | (s->dg_to_guest ? EPOLLOUT : 0);

	return watch(s, &s->ctl, ctl, on_ctl) && watch(s, &s->host, host_events(s), tsi_on_host) &&
	       watch(s, &s->dg, dg, tsi_dgram_on_channel) &&
	       watch(s, &s->retry, EPOLLIN, tsi_on_retry);
}

static void unhash(struct tsi_sock *s)
{
	if (!s->hashed)
		return;
	for (struct tsi_sock **p = &s->t->by_port[s->data_port % TSI_HASH]; *p; p = &(*p)->hnext) {
		if (*p == s) {
			*p = s->hnext;
			break;
		}
	}
	s->hashed = false;
}

/* The guest's vsock port belongs to one socket at a time: a newer OPEN naming it means
 * the older socket's guest side is gone, even if its control connection's end has not
 * reached us yet. */
void tsi_claim_port(struct tsi_sock *s)
{
	struct tsi_sock **head = &s->t->by_port[s->data_port % TSI_HASH];

	for (struct tsi_sock *o = *head; o; o = o->hnext)
		if (o->data_port == s->data_port) {
			unhash(o);
			break;
		}
	s->hnext = *head;
	*head = s;
	s->hashed = true;
}

static void free_recs(struct tsi_rec *r)
{
	while (r) {
		struct tsi_rec *next = r->next;
		free(r);
		r = next;
	}
}

void tsi_release(struct tsi_sock *s)
{
	struct tsi *t = s->t;

	unhash(s);
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	tsi_close_watch(s, &s->ctl);
	tsi_close_watch(s, &s->host);
	tsi_close_watch(s, &s->dg);
	tsi_close_watch(s, &s->retry);
	free(s->retry_dest);
	free_recs(s->outq);
	free(s->dg_to_guest);
	free(s->dg_to_host);
	free(s->local_path);
	free(s->peer_path);
	free(s);
	t->nsocks--;
}

static ssize_t send_rec(int fd, const void *data, size_t len)
{
	ssize_t n;

	do
		n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

void tsi_send(struct tsi_sock *s, const void *rec, uint32_t len)
{
	if (!s->outq) {
		ssize_t n = send_rec(s->ctl.fd, rec, len);
		/* Another failure means the guest end is gone: its end of file releases us. */
		if (n >= 0 || errno != EAGAIN)
			return;
	}
	struct tsi_rec *r = xmalloc(sizeof(*r) + len);
	r->next = NULL;
	r->len = len;
	memcpy(r->data, rec, len);
	*s->outq_tail = r;
	s->outq_tail = &r->next;
	s->nout++;
}

void tsi_reply(struct tsi_sock *s, const struct tsi_req *req, int result)
{
	struct tsi_rep r = { .id = req->id, .op = req->op, .result = result };

	tsi_send(s, &r, sizeof(r));
}

static void flush_outq(struct tsi_sock *s)
{
	while (s->outq) {
		struct tsi_rec *r = s->outq;
		if (send_rec(s->ctl.fd, r->data, r->len) < 0 && errno == EAGAIN)
			return;
		s->outq = r->next;
		s->nout--;
		free(r);
	}
	s->outq_tail = &s->outq;
}

/* recv gave 0 on a SEQPACKET socket: an empty record, or the end (which also reports
 * RDHUP). */
bool tsi_at_eof(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

/* False when the control connection is over. */
static bool read_requests(struct tsi_sock *s)
{
	uint8_t buf[TSI_REQ_MAX];

	for (unsigned i = 0; i < TSI_BUDGET && s->nout < TSI_OUTQ_MAX; i++) {
		ssize_t n = recv(s->ctl.fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0 && tsi_at_eof(s->ctl.fd))
			return false;
		/* Bytes beyond what any request uses were cut off; none are needed. */
		tsi_handle_request(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
	}
	return true;
}

static void on_ctl(void *opaque, uint32_t events)
{
	struct tsi_sock *s = opaque;

	if (events & EPOLLOUT)
		flush_outq(s);
	/* Hang-up: the guest closed the socket; requests it left unread need no answer. */
	if ((events & (EPOLLHUP | EPOLLERR)) || ((events & EPOLLIN) && !read_requests(s))) {
		tsi_release(s);
		return;
	}
	if (!tsi_update(s))
		tsi_release(s);
}

void tsi_on_host(void *opaque, uint32_t events)
{
	struct tsi_sock *s = opaque;

	if (s->state == TS_CONNECTING)
		tsi_connect_done(s);
	else if (s->state == TS_LISTENING)
		tsi_accept(s);
	else if (s->type == SOCK_DGRAM)
		tsi_dgram_on_host(s, events);
	if (!tsi_update(s))
		tsi_release(s);
}

static int new_control(struct tsi *t)
{
	int sp[2];

	if (t->nsocks >= TSI_MAX_SOCKETS)
		return -EMFILE;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	struct tsi_sock *s = xzalloc(sizeof(*s));
	s->t = t;
	s->ctl.fd = sp[1];
	s->host.fd = s->dg.fd = s->retry.fd = -1;
	s->outq_tail = &s->outq;
	s->next = t->socks;
	if (s->next)
		s->next->pprev = &s->next;
	t->socks = s;
	s->pprev = &t->socks;
	t->nsocks++;
	if (!tsi_update(s)) {
		tsi_release(s);
		close(sp[0]);
		return -ENOMEM;
	}
	return sp[0];
}

static struct tsi_sock *find_data(struct tsi *t, uint32_t guest_port, int type)
{
	for (struct tsi_sock *s = t->by_port[guest_port % TSI_HASH]; s; s = s->hnext) {
		if (s->data_port != guest_port)
			continue;
		bool ready = type == SOCK_STREAM ? s->state == TS_CONNECTED : s->state != TS_NEW;
		return s->type == type && ready && !s->data_given ? s : NULL;
	}
	return NULL;
}

static int tsi_connect(struct vsock_backend *b, uint32_t host_port, uint32_t guest_port,
		       enum vsock_type type)
{
	struct tsi *t = to_tsi(b);
	struct tsi_sock *s;

	switch (host_port) {
	case TSI_PORT_CONTROL:
		return type == VSOCK_SEQPACKET ? new_control(t) : -EPROTOTYPE;
	case TSI_PORT_STREAM:
		s = type == VSOCK_STREAM ? find_data(t, guest_port, SOCK_STREAM) : NULL;
		if (!s)
			return -ECONNREFUSED;
		int fd = fcntl(s->host.fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		s->data_given = true;
		return fd;
	case TSI_PORT_DGRAM:
		s = type == VSOCK_SEQPACKET ? find_data(t, guest_port, SOCK_DGRAM) : NULL;
		return s ? tsi_dgram_open(s) : -ECONNREFUSED;
	default:
		return -ECONNREFUSED;
	}
}

static void tsi_destroy(struct vsock_backend *b)
{
	struct tsi *t = to_tsi(b);

	while (t->socks)
		tsi_release(t->socks);
	if (t->root_fd >= 0)
		close(t->root_fd);
	if (t->spare_fd >= 0)
		close(t->spare_fd);
	free(t->root_path);
	free(t->buf);
	free(t);
}

static const struct vsock_backend_ops tsi_ops = {
	.connect = tsi_connect,
	.destroy = tsi_destroy,
};

/* The root's name comes from its open fd: inside a user namespace the directories above it
 * may be closed to us (realpath would fail), while the fd the caller kept still reaches it. */
static int open_root(struct tsi *t, const char *path, krun_error_t *err)
{
	char link[64], name[PATH_MAX];
	ssize_t n;

	t->root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->root_fd < 0)
		return krun_make_error(err, errno, "TSI: open the root `%s`", path);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", t->root_fd);
	n = readlink(link, name, sizeof(name) - 1);
	if (n <= 0 || name[0] != '/')
		return krun_make_error(err, n < 0 ? errno : ENOENT,
				       "TSI: the name of the root `%s`", path);
	name[n] = '\0';
	t->root_path = xstrdup(name);
	t->root_len = n == 1 ? 0 : (size_t)n; /* a root of "/" keeps every path as it is */
	return 0;
}

int vsock_tsi_backend_new(const struct vsock_tsi_config *cfg, struct vsock_backend **out,
			  krun_error_t *err)
{
	struct tsi *t = xzalloc(sizeof(*t));

	t->b.ops = &tsi_ops;
	t->root_fd = -1;
	t->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	t->privileged_ports = cfg->allow_privileged_ports;
	t->next_host_port = TSI_HOST_PORT_BASE;
	if (cfg->root_path) {
		int ret = open_root(t, cfg->root_path, err);
		if (ret < 0) {
			tsi_destroy(&t->b);
			return ret;
		}
	}
	t->buf = xmalloc(TSI_DGRAM_BUF);
	*out = &t->b;
	return 0;
}
