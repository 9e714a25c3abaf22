/* The control requests of docs/tsi.md. The guest is not trusted: every record is checked
 * for its length, its op and the socket's state before anything is done, and anything
 * wrong gets an error reply; no request ever releases the socket or blocks. */
#include "devices/vsock/tsi_internal.h"
#include "devices/vsock/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#define MAX_BACKLOG 4096

static void reply_addr(struct tsi_sock *s, const struct tsi_req *req, int result, bool local)
{
	struct tsi_addr_rep r = { .h = { .id = req->id, .op = req->op, .result = result } };

	if (result == 0 && local)
		tsi_getname(s, false, &r.addr);
	tsi_send(s, &r, sizeof(r));
}

static void reply_connect(struct tsi_sock *s, uint32_t id, int result)
{
	struct tsi_connect_rep r = { .h = { .id = id, .op = TSI_OP_CONNECT, .result = result } };

	if (result == 0) {
		tsi_getname(s, false, &r.local);
		tsi_getname(s, true, &r.peer);
	}
	tsi_send(s, &r, sizeof(r));
}

static void op_open(struct tsi_sock *s, const union tsi_any_req *u)
{
	const struct tsi_open_req *q = &u->open;
	bool family_ok = q->family == AF_INET || q->family == AF_INET6 ||
			 (q->family == AF_UNIX && s->t->root_fd >= 0);
	int ret;

	if (s->state != TS_NEW || !family_ok || (q->type != SOCK_STREAM && q->type != SOCK_DGRAM) ||
	    (q->flags & ~TSI_F_ALL)) {
		reply_addr(s, &q->h, -EINVAL, false);
		return;
	}
	s->host.fd = socket(q->family, q->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->host.fd < 0) {
		reply_addr(s, &q->h, -errno, false);
		return;
	}
	s->family = q->family;
	s->type = q->type;
	ret = tsi_apply_flags(s, q->flags);
	if (ret < 0) {
		close_and_reset(&s->host.fd); /* never watched yet */
		reply_addr(s, &q->h, ret, false);
		return;
	}
	s->data_port = q->data_port;
	s->creds = q->creds;
	tsi_claim_port(s);
	s->state = TS_OPEN;
	reply_addr(s, &q->h, 0, false);
}

/* When the request carries an address and the socket has none yet: the flags, then the
 * bind. Otherwise the socket keeps its address (a CONNECT retried after a refusal carries
 * it again) or binds itself on connect, and the flags no longer matter (the kernel even
 * refuses to change IPV6_V6ONLY on a bound socket). */
static int prepare_bind(struct tsi_sock *s, const struct tsi_addr *bind, uint32_t flags)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int ret;

	if (flags & ~TSI_F_ALL)
		return -EINVAL;
	if (bind->len == 0 || s->bound)
		return 0;
	ret = tsi_addr_parse(s, bind, &ss, &len);
	if (ret < 0)
		return ret;
	ret = tsi_apply_flags(s, flags);
	if (ret < 0)
		return ret;
	ret = tsi_bind(s, &ss, len);
	if (ret < 0)
		return ret;
	s->bound = true;
	return 0;
}

static int connect_state_error(const struct tsi_sock *s)
{
	switch (s->state) {
	case TS_CONNECTING:
		return -EALREADY;
	case TS_CONNECTED:
		return s->type == SOCK_STREAM ? -EISCONN : 0;
	case TS_LISTENING:
		return -EINVAL;
	default:
		return 0;
	}
}

/* A unix listener with a full backlog makes a non-blocking connect fail with EAGAIN where
 * the guest's connect would wait: the host connect is tried again every few milliseconds
 * until it is accepted into the backlog or fails otherwise. */
#define UNIX_RETRY_NS (10 * 1000 * 1000)

static int start_unix_retry(struct tsi_sock *s, const struct sockaddr_storage *dest, socklen_t len)
{
	struct itimerspec every = { .it_interval.tv_nsec = UNIX_RETRY_NS,
				    .it_value.tv_nsec = UNIX_RETRY_NS };

	s->retry.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->retry.fd < 0 || timerfd_settime(s->retry.fd, 0, &every, NULL) < 0) {
		int ret = -errno;
		tsi_close_watch(s, &s->retry);
		return ret;
	}
	s->retry_dest = xmalloc(sizeof(*dest));
	memcpy(s->retry_dest, dest, sizeof(*dest));
	s->retry_len = len;
	return -EINPROGRESS;
}

void tsi_on_retry(void *opaque, uint32_t events)
{
	struct tsi_sock *s = opaque;
	uint64_t ticks;
	(void)events;

	if (read(s->retry.fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	ssize_t ret = tsi_connect_addr(s, s->retry_dest, s->retry_len, NULL, 0);
	if (ret == -EAGAIN)
		return;
	tsi_close_watch(s, &s->retry);
	free(s->retry_dest);
	s->retry_dest = NULL;
	s->state = ret == 0 ? TS_CONNECTED : TS_OPEN;
	reply_connect(s, s->connect_id, (int)ret);
	if (!tsi_update(s))
		tsi_release(s);
}

static int try_connect(struct tsi_sock *s, const struct tsi_connect_req *q,
		       struct sockaddr_storage *dest, socklen_t *len)
{
	int ret;

	ret = connect_state_error(s);
	if (ret < 0)
		return ret;
	s->creds = q->creds;
	ret = tsi_addr_parse(s, &q->dest, dest, len);
	if (ret < 0)
		return ret;
	/* Bound already (an earlier CONNECT that failed, or BIND): the address stays. */
	ret = prepare_bind(s, &q->bind, q->flags);
	if (ret < 0)
		return ret;
	return tsi_connect_addr(s, dest, *len, NULL, 0);
}

static void op_connect(struct tsi_sock *s, const union tsi_any_req *u)
{
	const struct tsi_connect_req *q = &u->connect;
	struct sockaddr_storage dest;
	socklen_t len;
	int ret = try_connect(s, q, &dest, &len);

	if (ret == -EAGAIN && s->family == AF_UNIX && s->type == SOCK_STREAM)
		ret = start_unix_retry(s, &dest, len);
	if (ret == -EINPROGRESS && s->type == SOCK_STREAM) {
		s->state = TS_CONNECTING;
		s->connect_id = q->h.id;
		return;
	}
	if (ret == 0)
		s->state = TS_CONNECTED;
	reply_connect(s, q->h.id, ret);
}

void tsi_connect_done(struct tsi_sock *s)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(s->host.fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e) {
		/* The kernel would answer the next connect with ECONNABORTED: disconnecting
		 * lets the guest try again, as a blocking connect that failed would. */
		struct sockaddr unspec = { .sa_family = AF_UNSPEC };
		connect(s->host.fd, &unspec, sizeof(unspec));
	}
	s->state = e ? TS_OPEN : TS_CONNECTED;
	reply_connect(s, s->connect_id, -e);
}

static int try_listen(struct tsi_sock *s, const struct tsi_listen_req *q)
{
	int backlog = q->backlog > MAX_BACKLOG ? MAX_BACKLOG : (int)q->backlog;
	int ret;

	if (s->type != SOCK_STREAM || (s->state != TS_OPEN && s->state != TS_LISTENING))
		return -EINVAL;
	if (s->state == TS_OPEN) {
		s->creds = q->creds;
		ret = prepare_bind(s, &q->bind, q->flags);
		if (ret < 0)
			return ret;
	}
	if (listen(s->host.fd, backlog) < 0)
		return -errno;
	s->state = TS_LISTENING;
	s->listen_port = q->listen_port;
	return 0;
}

static void op_listen(struct tsi_sock *s, const union tsi_any_req *u)
{
	const struct tsi_listen_req *q = &u->listen;

	reply_addr(s, &q->h, try_listen(s, q), true);
}

static void op_getname(struct tsi_sock *s, const union tsi_any_req *u)
{
	const struct tsi_getname_req *q = &u->getname;
	struct tsi_addr_rep r = { .h = { .id = q->h.id, .op = q->h.op } };

	r.h.result = q->peer > 1 ? -EINVAL : tsi_getname(s, q->peer == 1, &r.addr);
	if (r.h.result < 0)
		memset(&r.addr, 0, sizeof(r.addr));
	tsi_send(s, &r, sizeof(r));
}

struct sockopt {
	int level, name;
	uint32_t len;
};

/* What the guest may set on its host socket; the value must have exactly this size. */
static const struct sockopt known_opts[] = {
	{ SOL_SOCKET, SO_KEEPALIVE, sizeof(int) },
	{ SOL_SOCKET, SO_LINGER, sizeof(struct linger) },
	{ SOL_SOCKET, SO_SNDBUF, sizeof(int) },
	{ SOL_SOCKET, SO_RCVBUF, sizeof(int) },
	{ SOL_SOCKET, SO_BROADCAST, sizeof(int) },
	{ IPPROTO_TCP, TCP_NODELAY, sizeof(int) },
	{ IPPROTO_TCP, TCP_KEEPIDLE, sizeof(int) },
	{ IPPROTO_TCP, TCP_KEEPINTVL, sizeof(int) },
	{ IPPROTO_TCP, TCP_KEEPCNT, sizeof(int) },
	{ IPPROTO_IP, IP_TOS, sizeof(int) },
	{ IPPROTO_IP, IP_TTL, sizeof(int) },
	{ IPPROTO_IPV6, IPV6_TCLASS, sizeof(int) },
	{ IPPROTO_IPV6, IPV6_UNICAST_HOPS, sizeof(int) },
};

/* A lingering close(2) waits up to l_linger seconds for the peer to take the data, whatever
 * O_NONBLOCK says, and the VMM closes host sockets on the event loop thread: a guest
 * socket's SO_LINGER with a time is taken but not applied (the host kernel still sends
 * what is queued after the close). l_linger 0, a reset on close, does not wait. */
static bool lingers(const struct sockopt *o, const uint8_t *val)
{
	struct linger l;

	if (o->level != SOL_SOCKET || o->name != SO_LINGER)
		return false;
	memcpy(&l, val, sizeof(l));
	return l.l_onoff && l.l_linger;
}

static void op_setsockopt(struct tsi_sock *s, const union tsi_any_req *u)
{
	const struct tsi_setsockopt_req *q = &u->sockopt;
	int ret = -ENOPROTOOPT;

	for (size_t i = 0; i < ARRAY_SIZE(known_opts); i++) {
		const struct sockopt *o = &known_opts[i];
		if ((uint32_t)o->level != q->level || (uint32_t)o->name != q->name)
			continue;
		ret = 0;
		if (q->len != o->len)
			ret = -EINVAL;
		else if (lingers(o, q->val))
			ret = 0;
		else if (setsockopt(s->host.fd, o->level, o->name, q->val, o->len) < 0)
			ret = -errno;
		break;
	}
	tsi_reply(s, &q->h, ret);
}

static void op_bind(struct tsi_sock *s, const union tsi_any_req *u)
{
	const struct tsi_bind_req *q = &u->bind;
	int ret = s->state == TS_OPEN && q->bind.len && !s->bound ? 0 : -EINVAL;

	if (ret == 0) {
		s->creds = q->creds;
		ret = prepare_bind(s, &q->bind, q->flags);
	}
	reply_addr(s, &q->h, ret, true);
}

/* The fd is a duplicate of the accepted connection's, which the device keeps bridging: only
 * options and names go through this one. The guest must name a connection the VMM opened
 * for an accepted one, of the family and type it claims. */
static void op_adopt(struct tsi_sock *s, const union tsi_any_req *u)
{
	const struct tsi_adopt_req *q = &u->adopt;
	int fd = -EINVAL, domain = 0, type = 0;
	socklen_t len = sizeof(int);

	if (s->state == TS_NEW && q->host_port >= TSI_HOST_PORT_BASE)
		fd = virtio_vsock_dup_host_fd(s->t->b.dev, q->host_port, q->guest_port);
	if (fd >= 0 && (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
			getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
			domain != q->family || type != q->type)) {
		close(fd);
		fd = -EINVAL;
	}
	if (fd < 0) {
		reply_addr(s, &q->h, fd, false);
		return;
	}
	s->host.fd = fd;
	s->family = domain;
	s->type = type;
	s->state = TS_CONNECTED;
	s->bound = s->data_given = true;
	reply_addr(s, &q->h, 0, true);
}

struct op_desc {
	size_t len; /* the shortest valid record (older guests send no tsi_creds) */
	void (*fn)(struct tsi_sock *s, const union tsi_any_req *u);
};

static const struct op_desc op_table[] = {
	[TSI_OP_OPEN] = { offsetof(struct tsi_open_req, creds), op_open },
	[TSI_OP_CONNECT] = { offsetof(struct tsi_connect_req, creds), op_connect },
	[TSI_OP_LISTEN] = { offsetof(struct tsi_listen_req, creds), op_listen },
	[TSI_OP_GETNAME] = { sizeof(struct tsi_getname_req), op_getname },
	[TSI_OP_SETSOCKOPT] = { sizeof(struct tsi_setsockopt_req), op_setsockopt },
	[TSI_OP_BIND] = { offsetof(struct tsi_bind_req, creds), op_bind },
	[TSI_OP_ADOPT] = { sizeof(struct tsi_adopt_req), op_adopt },
};

void tsi_handle_request(struct tsi_sock *s, const uint8_t *rec, size_t len)
{
	union tsi_any_req u;

	memset(&u, 0, sizeof(u));
	if (len < sizeof(u.h) || len > sizeof(u)) {
		struct tsi_rep r = { .result = -EINVAL };
		tsi_send(s, &r, sizeof(r));
		return;
	}
	memcpy(&u, rec, len);
	const struct op_desc *d = u.h.op < ARRAY_SIZE(op_table) ? &op_table[u.h.op] : NULL;
	if (!d || !d->fn)
		tsi_reply(s, &u.h, -EOPNOTSUPP);
	else if (u.h.id == 0 || len < d->len ||
		 (s->state == TS_NEW && u.h.op != TSI_OP_OPEN && u.h.op != TSI_OP_ADOPT))
		tsi_reply(s, &u.h, -EINVAL);
	else
		d->fn(s, &u);
}

static uint32_t next_host_port(struct tsi *t)
{
	uint32_t port = t->next_host_port++;

	if (t->next_host_port == UINT32_MAX) /* VMADDR_PORT_ANY */
		t->next_host_port = TSI_HOST_PORT_BASE;
	return port;
}

/* Hands one accepted host connection to the guest: a vsock connection from a new host
 * port to the guest's listener, and the ACCEPTED event naming that port. The device may
 * deliver the two in either order. */
static void hand_over(struct tsi_sock *s, int fd, const struct sockaddr_storage *peer,
		      socklen_t peer_len)
{
	struct tsi_accepted_ev ev = { .h = { .op = TSI_EV_ACCEPTED } };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (s->family == AF_UNIX) {
		tsi_getname(s, false, &ev.local);
		ev.peer.len = offsetof(struct sockaddr_un, sun_path);
		memcpy(ev.peer.sa, &(sa_family_t){ AF_UNIX }, sizeof(sa_family_t));
	} else {
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			tsi_addr_from_host(s->t, (struct sockaddr *)&ss, len, &ev.local);
		tsi_addr_from_host(s->t, (const struct sockaddr *)peer, peer_len, &ev.peer);
	}
	ev.host_port = next_host_port(s->t);
	if (virtio_vsock_connect_guest(s->t->b.dev, ev.host_port, s->listen_port, VSOCK_STREAM,
				       fd) == 0)
		tsi_send(s, &ev, sizeof(ev));
}

/* Out of fds, the listener would stay readable and the loop spin on it: the spare fd makes
 * room to take the oldest client off the queue and close it (it sees its connection end at
 * once), then comes back. */
static void refuse_one(struct tsi_sock *s)
{
	struct tsi *t = s->t;

	close_and_reset(&t->spare_fd);
	int fd = accept4(s->host.fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	t->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void tsi_accept(struct tsi_sock *s)
{
	for (unsigned i = 0; i < 16 && s->nout < TSI_OUTQ_MAX; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(s->host.fd, (struct sockaddr *)&peer, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0 && (errno == EMFILE || errno == ENFILE))
			refuse_one(s);
		if (fd < 0)
			return;
		hand_over(s, fd, &peer, len);
	}
}
