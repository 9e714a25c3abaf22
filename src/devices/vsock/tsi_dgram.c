/* The datagram channel of a UDP or AF_UNIX datagram socket: a SEQPACKET socketpair whose
 * other end the device bridges to the guest's port-1026 connection. Each record is a
 * struct tsi_addr then the payload: guest to host the destination (len 0: the connected
 * peer), host to guest the real source. One datagram may wait in each direction when the
 * other side is full; meanwhile we stop reading the side that feeds it, so the kernel's
 * buffers (and, for UDP, its drops) do the rest. A record with a bad address, or that the
 * host socket refuses, is dropped as the network would drop it. */
#include "devices/vsock/tsi_internal.h"
#include "devices/vsock/internal.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define DGRAM_BUDGET 32

int tsi_dgram_open(struct tsi_sock *s)
{
	int sp[2];
	/* The device writes a whole guest record in one send, we write a whole datagram. */
	int dev_buf = VSOCK_BUF_ALLOC + 4096, our_buf = 4 * TSI_DGRAM_BUF;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &dev_buf, sizeof(dev_buf));
	setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &our_buf, sizeof(our_buf));
	s->dg.fd = sp[1];
	s->data_given = true;
	if (!tsi_update(s)) {
		/* Unwatched, the channel would never move: the guest gets RST instead. */
		close(sp[1]);
		close(sp[0]);
		s->dg.fd = -1;
		s->dg.ev = 0;
		return -ENOMEM;
	}
	return sp[0];
}

static struct tsi_rec *copy_rec(const void *data, size_t len)
{
	struct tsi_rec *r = xmalloc(sizeof(*r) + len);

	r->next = NULL;
	r->len = len;
	memcpy(r->data, data, len);
	return r;
}

/* 0 when done with the record (sent or dropped), -EAGAIN when the host socket is full. */
static int to_host(struct tsi_sock *s, const uint8_t *rec, size_t len)
{
	struct tsi_addr a;
	struct sockaddr_storage ss;
	socklen_t sslen;
	ssize_t n;

	memcpy(&a, rec, sizeof(a));
	rec += sizeof(a);
	len -= sizeof(a);
	if (a.len == 0) {
		do
			n = send(s->host.fd, rec, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		n = n < 0 ? -errno : n;
	} else if (tsi_addr_parse(s, &a, &ss, &sslen) < 0) {
		return 0;
	} else {
		n = tsi_connect_addr(s, &ss, sslen, rec, len);
	}
	return n == -EAGAIN || n == -EWOULDBLOCK ? -EAGAIN : 0;
}

static void close_channel(struct tsi_sock *s)
{
	if (s->dg.ev)
		event_loop_remove(tsi_loop(s), s->dg.fd);
	close_and_reset(&s->dg.fd);
	s->dg.ev = 0;
	free(s->dg_to_host);
	free(s->dg_to_guest);
	s->dg_to_host = s->dg_to_guest = NULL;
}

/* Guest records to the host socket. */
static void from_guest(struct tsi_sock *s)
{
	uint8_t *buf = s->t->buf;

	for (unsigned i = 0; i < DGRAM_BUDGET && !s->dg_to_host && s->dg.fd >= 0; i++) {
		ssize_t n = recv(s->dg.fd, buf, TSI_DGRAM_BUF, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 || (n == 0 && tsi_at_eof(s->dg.fd))) {
			close_channel(s); /* the guest closed it; the control channel stays */
			return;
		}
		if ((size_t)n < sizeof(struct tsi_addr) ||
		    (size_t)n > sizeof(struct tsi_addr) + TSI_DGRAM_MAX)
			continue;
		if (to_host(s, buf, n) == -EAGAIN)
			s->dg_to_host = copy_rec(buf, n);
	}
}

static ssize_t send_channel(struct tsi_sock *s, const void *data, size_t len)
{
	ssize_t n;

	do
		n = send(s->dg.fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Host datagrams to the guest, each behind its source address. */
static void from_host(struct tsi_sock *s)
{
	uint8_t *buf = s->t->buf;

	for (unsigned i = 0; i < DGRAM_BUDGET && !s->dg_to_guest && s->dg.fd >= 0; i++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		struct tsi_addr a;
		ssize_t n = recvfrom(s->host.fd, buf + sizeof(a), TSI_DGRAM_BUF - sizeof(a),
				     MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			continue;   /* an ICMP error reported on a connected socket */
		if (fromlen == 0) { /* an unnamed AF_UNIX sender may leave it empty */
			from.ss_family = AF_UNIX;
			fromlen = sizeof(sa_family_t);
		}
		tsi_addr_from_host(s->t, (struct sockaddr *)&from, fromlen, &a);
		memcpy(buf, &a, sizeof(a));
		size_t len = sizeof(a) + n;
		if (send_channel(s, buf, len) < 0 && errno == EAGAIN)
			s->dg_to_guest = copy_rec(buf, len);
	}
}

void tsi_dgram_on_host(struct tsi_sock *s, uint32_t events)
{
	if (events & EPOLLERR) {
		int e;
		socklen_t len = sizeof(e);
		getsockopt(s->host.fd, SOL_SOCKET, SO_ERROR, &e, &len); /* consumed, not reported */
	}
	if ((events & EPOLLOUT) && s->dg_to_host &&
	    to_host(s, s->dg_to_host->data, s->dg_to_host->len) == 0) {
		free(s->dg_to_host);
		s->dg_to_host = NULL;
	}
	if (events & EPOLLIN)
		from_host(s);
}

void tsi_dgram_on_channel(void *opaque, uint32_t events)
{
	struct tsi_sock *s = opaque;

	if ((events & EPOLLOUT) && s->dg_to_guest) {
		struct tsi_rec *r = s->dg_to_guest;
		if (send_channel(s, r->data, r->len) >= 0 || errno != EAGAIN) {
			free(r);
			s->dg_to_guest = NULL;
		}
	}
	if ((events & (EPOLLHUP | EPOLLERR)) && s->dg_to_host)
		close_channel(s); /* gone for good: what it still held cannot matter */
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		from_guest(s);
	if (!tsi_update(s))
		tsi_release(s);
}
