/* TSI, the host side, without a VM: the test plays the guest kernel's TSI (docs/tsi.md)
 * through a fake virtio-vsock driver (rings in fake RAM, the device on the real event loop
 * in a thread), against real host sockets on 127.0.0.1, ::1 and in a temporary container
 * root. Checks outgoing TCP with large checksummed data both ways, refused connects,
 * names, listening and ACCEPTED, UDP both ways with real source addresses, AF_UNIX paths
 * confined to the root, socket options, hostile records, release of the host socket with
 * the control connection, and the privileged-port rule. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_vsock.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/vsock/internal.h"
#include "devices/vsock/tsi.h"
#include "devices/vsock/tsi_internal.h"
#include "tap.h"
#include "vring_driver.h"

#define HDR	   ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define RX_PAYLOAD 65536
#define RX_BUFS	   64
#define QSIZE	   256
#define MAX_CONNS  4400
#define GUEST_BUF  (64u << 20) /* the fake guest's buf_alloc: it never runs out */

static struct fake_ram ram;
static char root[] = "/tmp/tsi-root-XXXXXX";
static char outside[] = "/tmp/tsi-outside-XXXXXX";

/* One vsock connection of the fake guest. */
struct gconn {
	bool used, connected, rst, shut;
	uint32_t gport, hport;
	uint16_t type;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt, fwd_cnt;
	uint8_t *data; /* received bytes; SEQPACKET records end at ends[] */
	size_t len, off, cap;
	size_t *ends;
	unsigned nends, ends_cap;
};

struct guest {
	struct virtio_device *dev;
	struct virtio_mmio t;
	struct vring_driver q[VSOCK_NUM_QUEUES];
	pthread_t loop_thread;
	uint64_t txh, txd; /* one tx header and payload buffer, reused */
	struct gconn conns[MAX_CONNS];
	uint32_t next_port;
};

static void kick(struct guest *g, unsigned q)
{
	mmio_w32(&g->t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static void guest_boot(struct guest *g, bool privileged)
{
	struct vsock_tsi_config tc = { .root_path = root, .allow_privileged_ports = privileged };
	krun_error_t err = NULL;
	struct vsock_config cfg;

	memset(g, 0, sizeof(*g));
	g->next_port = 5000;
	if (vsock_tsi_backend_new(&tc, &cfg.backend, &err) < 0 ||
	    virtio_vsock_new(&cfg, &g->dev, &err) < 0)
		drv_bail(err->msg);
	virtio_vsock_set_max_connections(g->dev, TSI_MAX_CONNECTIONS);
	if (virtio_mmio_init(&g->t, g->dev, &ram.mem, &err) < 0 ||
	    event_loop_new(&g->dev->loop, &err) < 0)
		drv_bail(err->msg);
	pthread_create(&g->loop_thread, NULL, drv_run_event_loop, g->dev->loop);
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_VSOCK_F_SEQPACKET);
	drv_activate(&g->t, f, g->q, VSOCK_NUM_QUEUES, &ram, QSIZE);
	g->txh = fake_ram_alloc(&ram, HDR, 8);
	g->txd = fake_ram_alloc(&ram, RX_PAYLOAD, 8);
	for (unsigned i = 0; i < RX_BUFS; i++) {
		struct drv_seg s = { fake_ram_alloc(&ram, HDR + RX_PAYLOAD, 8), HDR + RX_PAYLOAD,
				     true };
		vring_driver_add(&g->q[VSOCK_RXQ], &s, 1);
	}
	kick(g, VSOCK_RXQ);
}

static void guest_destroy(struct guest *g)
{
	drv_device_destroy(g->dev, &g->t, &g->loop_thread);
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		free(g->conns[i].data);
		free(g->conns[i].ends);
	}
}

static struct gconn *find_conn(struct guest *g, uint32_t gport, uint32_t hport)
{
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct gconn *c = &g->conns[i];
		if (c->used && c->gport == gport && c->hport == hport)
			return c;
	}
	return NULL;
}

static struct gconn *new_conn(struct guest *g, uint32_t gport, uint32_t hport, uint16_t type)
{
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct gconn *c = &g->conns[i];
		if (c->used)
			continue;
		free(c->data);
		free(c->ends);
		memset(c, 0, sizeof(*c));
		c->used = true;
		c->gport = gport;
		c->hport = hport;
		c->type = type;
		return c;
	}
	drv_bail("fake guest: connection table full");
	return NULL;
}

static void forget(struct gconn *c)
{
	c->used = false;
}

/* One packet from the guest; waits until the device consumed it. */
static void send_raw(struct guest *g, struct gconn *c, uint16_t op, uint32_t flags,
		     const void *data, uint32_t len)
{
	struct virtio_vsock_hdr h = { .src_cid = VSOCK_GUEST_CID,
				      .dst_cid = VSOCK_HOST_CID,
				      .src_port = c->gport,
				      .dst_port = c->hport,
				      .len = len,
				      .type = c->type,
				      .op = op,
				      .flags = flags,
				      .buf_alloc = GUEST_BUF,
				      .fwd_cnt = c->fwd_cnt };
	struct drv_seg s[2] = { { g->txh, HDR, false }, { g->txd, len, false } };
	uint32_t id, ulen;

	memcpy(fake_ram_ptr(&ram, g->txh), &h, HDR);
	if (len)
		memcpy(fake_ram_ptr(&ram, g->txd), data, len);
	vring_driver_add(&g->q[VSOCK_TXQ], s, len ? 2 : 1);
	kick(g, VSOCK_TXQ);
	for (int i = 0; i < 500000; i++) {
		if (vring_driver_used(&g->q[VSOCK_TXQ], &id, &ulen))
			return;
		usleep(10);
	}
	drv_bail("the device does not consume the tx queue");
}

static void append(struct gconn *c, const uint8_t *p, uint32_t n, bool eom)
{
	if (c->len + n > c->cap) {
		c->cap = (c->len + n) * 2;
		c->data = realloc(c->data, c->cap);
	}
	memcpy(c->data + c->len, p, n);
	c->len += n;
	c->fwd_cnt += n;
	if (eom) {
		if (c->nends == c->ends_cap) {
			c->ends_cap = c->ends_cap ? 2 * c->ends_cap : 16;
			c->ends = realloc(c->ends, c->ends_cap * sizeof(*c->ends));
		}
		c->ends[c->nends++] = c->len;
	}
}

static void on_packet(struct guest *g, const struct virtio_vsock_hdr *h, const uint8_t *p)
{
	struct gconn *c = find_conn(g, h->dst_port, h->src_port);

	if (!c && h->op != VIRTIO_VSOCK_OP_REQUEST)
		return;
	if (!c)
		c = new_conn(g, h->dst_port, h->src_port, h->type);
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VIRTIO_VSOCK_OP_REQUEST: /* a host connection to a guest listener: accepted */
		c->connected = true;
		send_raw(g, c, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
		break;
	case VIRTIO_VSOCK_OP_RESPONSE:
		c->connected = true;
		break;
	case VIRTIO_VSOCK_OP_RW:
		append(c, p, h->len,
		       c->type == VSOCK_SEQPACKET && (h->flags & VIRTIO_VSOCK_SEQ_EOM));
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->shut = true;
		break;
	case VIRTIO_VSOCK_OP_RST:
		c->rst = true;
		c->connected = false;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		send_raw(g, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
		break;
	}
}

/* Takes every packet the device delivered; false when there was none. */
static bool pump(struct guest *g)
{
	struct vring_driver *d = &g->q[VSOCK_RXQ];
	uint32_t id, len;
	bool any = false;

	while (vring_driver_used(d, &id, &len)) {
		struct drv_seg s = { d->desc[id].addr, d->desc[id].len, true };
		struct virtio_vsock_hdr h;
		const uint8_t *b = fake_ram_ptr(&ram, s.gpa);
		memcpy(&h, b, HDR);
		if (len >= HDR && h.len <= len - HDR)
			on_packet(g, &h, b + HDR);
		vring_driver_add(d, &s, 1);
		any = true;
	}
	if (any)
		kick(g, VSOCK_RXQ);
	return any;
}

/* Pumps until cond(c) or 5 s pass. */
static bool wait_for(struct guest *g, struct gconn *c, bool (*cond)(struct gconn *c))
{
	for (int i = 0; i < 50000; i++) {
		if (cond(c))
			return true;
		if (!pump(g))
			usleep(100);
	}
	return cond(c);
}

static bool is_settled(struct gconn *c)
{
	return c->connected || c->rst;
}

static bool is_reset(struct gconn *c)
{
	return c->rst;
}

static bool has_record(struct gconn *c)
{
	return c->nends > 0 || c->rst;
}

static bool ended(struct gconn *c)
{
	return c->shut || c->rst;
}

/* The guest connects from a fresh port (or gport) to host port hport. */
static struct gconn *gconnect(struct guest *g, uint32_t gport, uint32_t hport, uint16_t type)
{
	struct gconn *c = new_conn(g, gport ? gport : g->next_port++, hport, type);

	send_raw(g, c, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	wait_for(g, c, is_settled);
	return c;
}

static uint32_t credit(const struct gconn *c)
{
	uint32_t used = c->tx_cnt - c->peer_fwd_cnt;

	return used >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

/* Sends len bytes within the device's credit; for SEQPACKET as one record. */
static bool gsend(struct guest *g, struct gconn *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	int idle = 0;

	while (len || (c->type == VSOCK_SEQPACKET && !p)) {
		uint32_t n = len < RX_PAYLOAD ? len : RX_PAYLOAD;
		if (n > credit(c))
			n = credit(c);
		if (n == 0 && len) {
			if (c->rst || ++idle > 50000)
				return false;
			if (!pump(g))
				usleep(100);
			continue;
		}
		bool last = n == len;
		send_raw(g, c, VIRTIO_VSOCK_OP_RW, last ? VIRTIO_VSOCK_SEQ_EOM : 0, p, n);
		c->tx_cnt += n;
		p += n;
		len -= n;
		if (last)
			break;
	}
	return !c->rst;
}

/* The next record of a SEQPACKET connection: its length, or -1 within 5 s. */
static ssize_t grecv(struct guest *g, struct gconn *c, void *buf, size_t max)
{
	if (!wait_for(g, c, has_record) || !c->nends)
		return -1;
	size_t len = c->ends[0] - c->off;
	memcpy(buf, c->data + c->off, len < max ? len : max);
	c->off = c->ends[0];
	memmove(c->ends, c->ends + 1, --c->nends * sizeof(*c->ends));
	return len;
}

static void gclose(struct guest *g, struct gconn *c)
{
	send_raw(g, c, VIRTIO_VSOCK_OP_SHUTDOWN, 3, NULL, 0);
	wait_for(g, c, is_reset);
	forget(c);
}

/* --- the guest's TSI side --- */

struct tsock {
	struct gconn *ctl, *data;
	uint32_t data_port, next_id;
	struct tsi_accepted_ev events[8];
	unsigned nevents;
};

/* One request and its reply (events met on the way are kept). Returns the reply length. */
static ssize_t rpc(struct guest *g, struct tsock *s, void *req, size_t len, void *rep,
		   size_t replen)
{
	struct tsi_req *h = req;
	uint8_t buf[1024];

	if (h->id == 0 && len >= sizeof(*h))
		h->id = ++s->next_id;
	if (!gsend(g, s->ctl, req, len))
		return -1;
	for (;;) {
		ssize_t n = grecv(g, s->ctl, buf, sizeof(buf));
		if (n < 0)
			return -1;
		struct tsi_rep r;
		memcpy(&r, buf, sizeof(r));
		if (r.id == 0 && r.op == TSI_EV_ACCEPTED && s->nevents < 8) {
			memcpy(&s->events[s->nevents++], buf, sizeof(s->events[0]));
			continue;
		}
		memcpy(rep, buf, (size_t)n < replen ? (size_t)n : replen);
		return n;
	}
}

/* A control connection and its OPEN; returns OPEN's result. */
static int topen(struct guest *g, struct tsock *s, int family, int type, uint32_t flags)
{
	struct tsi_open_req q = {
		.h.op = TSI_OP_OPEN, .family = family, .type = type, .flags = flags
	};
	struct tsi_addr_rep r;

	memset(s, 0, sizeof(*s));
	s->ctl = gconnect(g, 0, TSI_PORT_CONTROL, VSOCK_SEQPACKET);
	if (!s->ctl->connected)
		return -ECONNRESET;
	s->data_port = q.data_port = g->next_port++;
	if (rpc(g, s, &q, sizeof(q), &r, sizeof(r)) != sizeof(r))
		return -EPROTO;
	return r.h.result;
}

/* A control connection for an accepted connection; returns ADOPT's result. */
static int tadopt(struct guest *g, struct tsock *s, int family, uint32_t host_port,
		  uint32_t guest_port)
{
	struct tsi_adopt_req q = { .h.op = TSI_OP_ADOPT,
				   .family = family,
				   .type = SOCK_STREAM,
				   .host_port = host_port,
				   .guest_port = guest_port };
	struct tsi_addr_rep r;

	memset(s, 0, sizeof(*s));
	s->ctl = gconnect(g, 0, TSI_PORT_CONTROL, VSOCK_SEQPACKET);
	if (!s->ctl->connected)
		return -ECONNRESET;
	if (rpc(g, s, &q, sizeof(q), &r, sizeof(r)) != sizeof(r))
		return -EPROTO;
	return r.h.result;
}

static void tclose(struct guest *g, struct tsock *s)
{
	if (s->data)
		gclose(g, s->data);
	gclose(g, s->ctl);
}

static struct tsi_addr taddr(const void *sa, socklen_t len)
{
	struct tsi_addr a = { .len = len };

	memcpy(a.sa, sa, len);
	return a;
}

static struct tsi_addr inet4(const char *ip, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, ip, &sin.sin_addr);
	return taddr(&sin, sizeof(sin));
}

static struct tsi_addr inet6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	return taddr(&sin6, sizeof(sin6));
}

static struct tsi_addr unix_addr(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	strcpy(sun.sun_path, path);
	return taddr(&sun, offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

static uint16_t port_of(const struct tsi_addr *a)
{
	struct sockaddr_in sin;

	memcpy(&sin, a->sa, sizeof(sin));
	return ntohs(sin.sin_port);
}

static bool same_addr(const struct tsi_addr *a, const void *ss, socklen_t len)
{
	return a->len == len && memcmp(a->sa, ss, len) == 0;
}

static int tconnect_from(struct guest *g, struct tsock *s, struct tsi_addr dest,
			 struct tsi_addr bind, struct tsi_connect_rep *r)
{
	struct tsi_connect_req q = { .h.op = TSI_OP_CONNECT, .dest = dest, .bind = bind };

	memset(r, 0, sizeof(*r));
	if (rpc(g, s, &q, sizeof(q), r, sizeof(*r)) != sizeof(*r))
		return -EPROTO;
	return r->h.result;
}

static int tconnect(struct guest *g, struct tsock *s, struct tsi_addr dest,
		    struct tsi_connect_rep *r)
{
	return tconnect_from(g, s, dest, (struct tsi_addr){ 0 }, r);
}

static int tgetname(struct guest *g, struct tsock *s, uint32_t peer, struct tsi_addr *out)
{
	struct tsi_getname_req q = { .h.op = TSI_OP_GETNAME, .peer = peer };
	struct tsi_addr_rep r;

	if (rpc(g, s, &q, sizeof(q), &r, sizeof(r)) != sizeof(r))
		return -EPROTO;
	*out = r.addr;
	return r.h.result;
}

static int tbind(struct guest *g, struct tsock *s, struct tsi_addr a, struct tsi_addr *local)
{
	struct tsi_bind_req q = { .h.op = TSI_OP_BIND, .bind = a };
	struct tsi_addr_rep r;

	if (rpc(g, s, &q, sizeof(q), &r, sizeof(r)) != sizeof(r))
		return -EPROTO;
	if (local)
		*local = r.addr;
	return r.h.result;
}

static int tlisten(struct guest *g, struct tsock *s, struct tsi_addr a, uint32_t listen_port,
		   struct tsi_addr *local)
{
	struct tsi_listen_req q = {
		.h.op = TSI_OP_LISTEN,
		.bind = a,
		.backlog = 16,
		.listen_port = listen_port,
		.flags = TSI_F_REUSEADDR,
	};
	struct tsi_addr_rep r;

	if (rpc(g, s, &q, sizeof(q), &r, sizeof(r)) != sizeof(r))
		return -EPROTO;
	if (local)
		*local = r.addr;
	return r.h.result;
}

static int tsetsockopt(struct guest *g, struct tsock *s, int level, int name, int val, uint32_t len)
{
	struct tsi_setsockopt_req q = {
		.h.op = TSI_OP_SETSOCKOPT, .level = level, .name = name, .len = len
	};
	struct tsi_rep r;

	memcpy(q.val, &val, sizeof(val));
	if (rpc(g, s, &q, sizeof(q), &r, sizeof(r)) != sizeof(r))
		return -EPROTO;
	return r.result;
}

/* --- host side helpers --- */

static int host_listen(int family, const char *ip, int type, struct sockaddr_storage *ss,
		       socklen_t *len)
{
	struct tsi_addr a = family == AF_INET ? inet4(ip, 0) : inet6(ip, 0);
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)a.sa, a.len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 64) < 0))
		drv_bail("host socket");
	*len = sizeof(*ss);
	getsockname(fd, (struct sockaddr *)ss, len);
	return fd;
}

static uint16_t ss_port(const struct sockaddr_storage *ss)
{
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static uint8_t pattern(uint32_t seed, size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u + seed;
	return (uint8_t)(x >> 13 ^ x >> 24);
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static uint64_t pattern_hash(uint32_t seed, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		uint8_t b = pattern(seed, i);
		h = fnv(h, &b, 1);
	}
	return h;
}

/* A host TCP peer: accepts one connection, reads until end of file hashing what came,
 * writes `out` pattern bytes, closes. */
struct server {
	int lfd;
	size_t out;
	uint32_t seed;
	size_t got;
	uint64_t hash;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	bool refused; /* the host reports what came only after the whole exchange */
};

static void *serve(void *arg)
{
	struct server *sv = arg;
	static __thread uint8_t buf[65536];
	struct pollfd p = { .fd = sv->lfd, .events = POLLIN };

	sv->hash = 1469598103934665603ull;
	sv->peer_len = sizeof(sv->peer);
	if (poll(&p, 1, 10000) != 1)
		return NULL;
	int fd = accept4(sv->lfd, (struct sockaddr *)&sv->peer, &sv->peer_len, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* Writer and reader at once, so neither side's buffers can wedge the other. */
	size_t sent = 0;
	bool eof = false;
	while (!eof || sent < sv->out) {
		struct pollfd q = { .fd = fd,
				    .events = (eof ? 0 : POLLIN) | (sent < sv->out ? POLLOUT : 0) };
		if (poll(&q, 1, 10000) != 1)
			break;
		if (q.revents & POLLIN) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				eof = true;
			else {
				sv->hash = fnv(sv->hash, buf, n);
				sv->got += n;
			}
		}
		if (sent < sv->out && (q.revents & POLLOUT)) {
			size_t n = sv->out - sent < sizeof(buf) ? sv->out - sent : sizeof(buf);
			for (size_t i = 0; i < n; i++)
				buf[i] = pattern(sv->seed, sent + i);
			ssize_t w = write(fd, buf, n);
			if (w <= 0)
				break;
			sent += w;
			if (sent == sv->out)
				shutdown(fd, SHUT_WR);
		}
	}
	close(fd);
	return NULL;
}

/* --- tests --- */

/* Guest data pattern 1 (`up` bytes) to the server and pattern 2 (`down`) back. */
static void exchange(struct guest *g, struct tsock *s, struct server *sv, size_t up, size_t down,
		     const char *what)
{
	char name[160];
	uint8_t *buf = malloc(up);

	for (size_t i = 0; i < up; i++)
		buf[i] = pattern(1, i);
	snprintf(name, sizeof(name), "%s: %zu bytes guest to host", what, up);
	bool sent = gsend(g, s->data, buf, up);
	send_raw(g, s->data, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0);
	ok(sent, name);
	wait_for(g, s->data, ended);
	snprintf(name, sizeof(name), "%s: %zu bytes host to guest, checksum matches", what, down);
	ok(s->data->len == down &&
	       fnv(1469598103934665603ull, s->data->data, s->data->len) == pattern_hash(2, down),
	   name);
	free(buf);
}

static void test_connect(struct guest *g, int family, const char *ip, size_t up, size_t down)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct tsock s;
	struct tsi_connect_rep r;
	struct tsi_addr a;
	char what[64];

	snprintf(what, sizeof(what), "TCP to %s", ip);
	struct server sv = { .lfd = host_listen(family, ip, SOCK_STREAM, &ss, &len),
			     .out = down,
			     .seed = 2 };
	pthread_t th;
	pthread_create(&th, NULL, serve, &sv);
	is_int(topen(g, &s, family, SOCK_STREAM, 0), 0, "OPEN of a stream socket");
	struct tsi_addr dest =
	    family == AF_INET ? inet4(ip, ss_port(&ss)) : inet6(ip, ss_port(&ss));
	is_int(tconnect(g, &s, dest, &r), 0, "CONNECT to a listening host socket: 0");
	ok(same_addr(&r.peer, &ss, len), "CONNECT reply: peer is the server's address");
	s.data = gconnect(g, s.data_port, TSI_PORT_STREAM, VSOCK_STREAM);
	ok(s.data->connected, "the data connection from data_port to 1025 is accepted");
	ok(tgetname(g, &s, 0, &a) == 0 && same_addr(&a, r.local.sa, r.local.len),
	   "GETNAME local: the address CONNECT reported");
	ok(tgetname(g, &s, 1, &a) == 0 && same_addr(&a, &ss, len),
	   "GETNAME peer: the server's address");
	exchange(g, &s, &sv, up, down, what);
	pthread_join(th, NULL);
	ok(sv.got == up && sv.hash == pattern_hash(1, up),
	   "the host server got every byte in order (checksum matches)");
	ok(same_addr(&r.local, &sv.peer, sv.peer_len),
	   "CONNECT reply: local is the address the server saw");
	tclose(g, &s);
	close(sv.lfd);
}

static void test_refused(struct guest *g)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct tsock s;
	struct tsi_connect_rep r;

	struct sockaddr_storage src;
	int fd = host_listen(AF_INET, "127.0.0.1", SOCK_STREAM, &src, &len);

	close(fd); /* a free port to bind to */
	fd = host_listen(AF_INET, "127.0.0.1", SOCK_STREAM, &ss, &len);
	close(fd); /* the port is now closed */
	topen(g, &s, AF_INET, SOCK_STREAM, 0);
	is_int(tconnect_from(g, &s, inet4("127.0.0.1", ss_port(&ss)),
			     inet4("127.0.0.1", ss_port(&src)), &r),
	       -ECONNREFUSED, "CONNECT (bound to a port) to a closed port: -ECONNREFUSED");
	struct gconn *d = gconnect(g, s.data_port, TSI_PORT_STREAM, VSOCK_STREAM);
	ok(d->rst, "no data connection for a socket that did not connect");
	forget(d);
	fd = host_listen(AF_INET, "127.0.0.1", SOCK_STREAM, &ss, &len);
	is_int(tconnect_from(g, &s, inet4("127.0.0.1", ss_port(&ss)),
			     inet4("127.0.0.1", ss_port(&src)), &r),
	       0, "a second CONNECT after a refusal succeeds, the first bind kept");
	is_int(tconnect(g, &s, inet4("127.0.0.1", ss_port(&ss)), &r), -EISCONN,
	       "CONNECT on a connected socket: -EISCONN");
	close(fd);
	tclose(g, &s);
}

static bool has_4_bytes(struct gconn *c)
{
	return c->len >= 4;
}

static bool has_event(struct gconn *c)
{
	return c->nends > 0;
}

/* Our fd for the host end whose peer is the socket c (the device's, or a duplicate). */
static int host_end_of(int c)
{
	struct sockaddr_storage me, peer;
	socklen_t me_len = sizeof(me), len;

	getsockname(c, (struct sockaddr *)&me, &me_len);
	for (int fd = 3; fd < 4096; fd++) {
		len = sizeof(peer);
		if (fd != c && getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
		    len == me_len && !memcmp(&peer, &me, len))
			return fd;
	}
	return -1;
}

/* ADOPT gives an accepted connection (ACCEPTED event ev, guest end ac) a control
 * connection of its own; c is the host client. */
static void check_adopt(struct guest *g, const struct tsi_accepted_ev *ev, struct gconn *ac, int c)
{
	struct tsock s;
	struct tsi_addr peer;
	int on = 0;
	socklen_t len = sizeof(on);

	is_int(tadopt(g, &s, AF_INET, 1025, ac->gport), -EINVAL,
	       "ADOPT of a port the VMM does not give accepted connections: -EINVAL");
	tclose(g, &s);
	is_int(tadopt(g, &s, AF_INET, ev->host_port, ac->gport + 1), -ENOENT,
	       "ADOPT of a connection that does not exist: -ENOENT");
	tclose(g, &s);
	is_int(tadopt(g, &s, AF_INET6, ev->host_port, ac->gport), -EINVAL,
	       "ADOPT claiming another family: -EINVAL");
	tclose(g, &s);
	is_int(tadopt(g, &s, AF_INET, ev->host_port, ac->gport), 0,
	       "ADOPT of the accepted connection");
	is_int(tsetsockopt(g, &s, IPPROTO_TCP, TCP_NODELAY, 1, sizeof(int)), 0,
	       "SETSOCKOPT TCP_NODELAY through it");
	int fd = host_end_of(c);
	ok(fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on,
	   "the accepted host socket has TCP_NODELAY");
	struct sockaddr_storage cl;
	len = sizeof(cl);
	getsockname(c, (struct sockaddr *)&cl, &len);
	ok(tgetname(g, &s, 1, &peer) == 0 && same_addr(&peer, &cl, len),
	   "GETNAME peer through it: the host client");
	struct tsi_open_req q = { .h.op = TSI_OP_OPEN, .family = AF_INET, .type = SOCK_STREAM };
	struct tsi_addr_rep r;
	ok(rpc(g, &s, &q, sizeof(q), &r, sizeof(r)) == sizeof(r) && r.h.result == -EINVAL,
	   "OPEN after ADOPT: -EINVAL");
	gclose(g, s.ctl);
}

static void test_listen(struct guest *g)
{
	struct tsock s;
	struct tsi_addr local;
	char buf[64];

	is_int(topen(g, &s, AF_INET, SOCK_STREAM, TSI_F_REUSEADDR), 0, "OPEN for a listener");
	is_int(tlisten(g, &s, inet4("127.0.0.1", 0), 8080, &local), 0,
	       "LISTEN on 127.0.0.1, port 0");
	uint16_t port = port_of(&local);
	ok(port != 0, "LISTEN reply: the bound port");

	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct tsi_addr a = inet4("127.0.0.1", port);
	ok(connect(c, (struct sockaddr *)a.sa, a.len) == 0, "a host client connects to that port");
	struct sockaddr_storage cl;
	socklen_t cl_len = sizeof(cl);
	getsockname(c, (struct sockaddr *)&cl, &cl_len);

	ok(wait_for(g, s.ctl, has_event), "an event arrives on the control connection");
	struct tsi_accepted_ev ev;
	ssize_t n = grecv(g, s.ctl, &ev, sizeof(ev));
	ok(n == sizeof(ev) && ev.h.id == 0 && ev.h.op == TSI_EV_ACCEPTED && ev.h.result == 0,
	   "ACCEPTED event, id 0");
	ok(ev.host_port >= TSI_HOST_PORT_BASE, "its host port is >= 0x40000000");
	ok(same_addr(&ev.peer, &cl, cl_len), "ACCEPTED: peer is the host client's address");
	ok(port_of(&ev.local) == port, "ACCEPTED: local is the listening address");
	struct gconn *ac = NULL;
	for (int i = 0; i < 50000 && !ac; i++) {
		ac = find_conn(g, 8080, ev.host_port);
		if (!ac && !pump(g))
			usleep(100);
	}
	ok(ac && ac->connected, "a vsock connection from that host port to listen_port 8080");
	if (!ac)
		return;
	check_adopt(g, &ev, ac, c);
	ok(write(c, "ping", 4) == 4 && wait_for(g, ac, has_4_bytes) && ac->len == 4 &&
	       !memcmp(ac->data, "ping", 4),
	   "host client data reaches the guest");
	gsend(g, ac, "pong!", 5);
	struct pollfd p = { .fd = c, .events = POLLIN };
	ok(poll(&p, 1, 5000) == 1 && read(c, buf, sizeof(buf)) == 5 && !memcmp(buf, "pong!", 5),
	   "guest data reaches the host client");
	gclose(g, ac);
	close(c);

	/* With SO_REUSEADDR only a listener (not the closed connection's TIME_WAIT) holds
	 * the port. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	ok(bind(fd, (struct sockaddr *)a.sa, a.len) < 0 && errno == EADDRINUSE,
	   "while the control connection lives, the port is taken");
	tclose(g, &s);
	/* The listener is gone with the control connection: the port can be bound again. */
	bool bound = false;
	for (int i = 0; i < 100 && !bound; i++) {
		bound = bind(fd, (struct sockaddr *)a.sa, a.len) == 0;
		if (!bound)
			usleep(20000);
	}
	ok(bound, "control connection closed: the host listener is closed, its port free");
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(connect(fd, (struct sockaddr *)a.sa, a.len) < 0, "nobody listens there any more");
	close(fd);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* With every fd taken, a host client waiting on a guest listener is turned away (the
 * listener must not keep the event loop spinning), and once fds are free again the next
 * client is handed over. */
static void test_accept_out_of_fds(struct guest *g)
{
	struct tsock s;
	struct tsi_addr local;
	int fill[1024], n = 0;
	struct rlimit saved, low = { .rlim_cur = 1024 };
	char c0;

	topen(g, &s, AF_INET, SOCK_STREAM, 0);
	is_int(tlisten(g, &s, inet4("127.0.0.1", 0), 8090, &local), 0, "LISTEN for the fd test");
	struct tsi_addr a = inet4("127.0.0.1", port_of(&local));
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	getrlimit(RLIMIT_NOFILE, &saved);
	low.rlim_max = saved.rlim_max;
	setrlimit(RLIMIT_NOFILE, &low);
	while (n < 1024 && (fill[n] = dup(0)) >= 0)
		n++;
	ok(n < 1024 && errno == EMFILE, "every fd of the process is taken");
	double cpu = cpu_seconds();
	ok(connect(c, (struct sockaddr *)a.sa, a.len) == 0, "a host client connects (backlog)");
	struct pollfd p = { .fd = c, .events = POLLIN };
	ok(poll(&p, 1, 3000) == 1 && read(c, &c0, 1) <= 0,
	   "out of fds, the VMM turns the client away (EOF or reset)");
	usleep(300000);
	ok(cpu_seconds() - cpu < 0.25, "and does not spin on the listener meanwhile");
	while (n > 0)
		close(fill[--n]);
	setrlimit(RLIMIT_NOFILE, &saved);
	close(c);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(connect(c, (struct sockaddr *)a.sa, a.len) == 0 && wait_for(g, s.ctl, has_event),
	   "fds free again: the next client is accepted (ACCEPTED)");
	close(c);
	tclose(g, &s);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The guest may set SO_LINGER, and the host peer may read nothing: a lingering close(2)
 * then waits up to l_linger seconds whatever O_NONBLOCK says, and the VMM closes its host
 * sockets on the event loop thread. Closing such a socket must not hold the loop. */
static void test_linger(struct guest *g)
{
	static uint8_t junk[256 * 1024];
	struct sockaddr_storage ss;
	socklen_t len;
	struct tsock s, other;
	struct tsi_connect_rep r;
	struct tsi_addr a;
	struct tsi_rep rep;
	int small = 4096;
	int lfd = host_listen(AF_INET, "127.0.0.1", SOCK_STREAM, &ss, &len);

	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	topen(g, &other, AF_INET, SOCK_STREAM, 0);
	topen(g, &s, AF_INET, SOCK_STREAM, 0);
	is_int(tconnect(g, &s, inet4("127.0.0.1", ss_port(&ss)), &r), 0,
	       "CONNECT to a host server that never reads");
	is_int(tsetsockopt(g, &s, SOL_SOCKET, SO_SNDBUF, small, 4), 0, "a small SO_SNDBUF");
	struct tsi_setsockopt_req q = {
		.h.op = TSI_OP_SETSOCKOPT, .level = SOL_SOCKET, .name = SO_LINGER, .len = 8
	};
	struct linger l = { .l_onoff = 1, .l_linger = 10 };
	memcpy(q.val, &l, sizeof(l));
	ok(rpc(g, &s, &q, sizeof(q), &rep, sizeof(rep)) == sizeof(rep) && rep.result == 0,
	   "SO_LINGER of 10 s is accepted");
	s.data = gconnect(g, s.data_port, TSI_PORT_STREAM, VSOCK_STREAM);
	ok(gsend(g, s.data, junk, sizeof(junk)), "256 KiB that the server never reads");
	usleep(200 * 1000); /* the device fills the host socket */
	send_raw(g, s.data, VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
	forget(s.data);
	s.data = NULL;
	double t0 = now();
	send_raw(g, s.ctl, VIRTIO_VSOCK_OP_SHUTDOWN, 3, NULL, 0); /* the host socket closes */
	forget(s.ctl);
	ok(tgetname(g, &other, 0, &a) == 0 && now() - t0 < 2,
	   "the event loop serves the next request at once");
	tclose(g, &other);
	close(lfd);
}

static bool has_two_records(struct gconn *c)
{
	return c->nends >= 2;
}

static void test_udp(struct guest *g, int family, const char *ip)
{
	struct sockaddr_storage hs, from;
	socklen_t hs_len, from_len = sizeof(from);
	struct tsock s;
	struct tsi_addr local;
	uint8_t rec[sizeof(struct tsi_addr) + 2000];
	char buf[2048];

	int h = host_listen(family, ip, SOCK_DGRAM, &hs, &hs_len);
	is_int(topen(g, &s, family, SOCK_DGRAM, 0), 0, "OPEN of a UDP socket");
	s.data = gconnect(g, s.data_port, TSI_PORT_DGRAM, VSOCK_SEQPACKET);
	ok(s.data->connected, "datagram connection from data_port to 1026 accepted");
	is_int(tbind(g, &s, family == AF_INET ? inet4(ip, 0) : inet6(ip, 0), &local), 0,
	       "BIND to port 0");
	ok(port_of(&local) != 0, "BIND reply: the bound port");

	struct tsi_addr dest = taddr(&hs, hs_len);
	memcpy(rec, &dest, sizeof(dest));
	memcpy(rec + sizeof(dest), "query", 5);
	gsend(g, s.data, rec, sizeof(dest) + 5);
	struct pollfd p = { .fd = h, .events = POLLIN };
	ssize_t n = poll(&p, 1, 5000) == 1
			? recvfrom(h, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len)
			: -1;
	ok(n == 5 && !memcmp(buf, "query", 5), "guest datagram reaches the host socket");
	ok(same_addr(&local, &from, from_len), "from the address BIND reported");

	ok(sendto(h, "answer", 6, 0, (struct sockaddr *)&from, from_len) == 6 &&
	       sendto(h, "second", 6, 0, (struct sockaddr *)&from, from_len) == 6,
	   "the host answers twice");
	wait_for(g, s.data, has_two_records);
	n = grecv(g, s.data, rec, sizeof(rec));
	struct tsi_addr src;
	memcpy(&src, rec, sizeof(src));
	ok(n == sizeof(src) + 6 && !memcmp(rec + sizeof(src), "answer", 6),
	   "host datagram reaches the guest as one record");
	ok(same_addr(&src, &hs, hs_len), "behind the real source address");
	n = grecv(g, s.data, rec, sizeof(rec));
	ok(n == sizeof(src) + 6 && !memcmp(rec + sizeof(src), "second", 6),
	   "record boundaries are datagram boundaries");

	/* CONNECT sets the default destination: len 0 records go there. */
	struct tsi_connect_rep r;
	is_int(tconnect(g, &s, dest, &r), 0, "CONNECT on a datagram socket");
	ok(same_addr(&r.peer, &hs, hs_len), "its reply names the peer");
	struct tsi_addr none = { 0 };
	memcpy(rec, &none, sizeof(none));
	memcpy(rec + sizeof(none), "default", 7);
	gsend(g, s.data, rec, sizeof(none) + 7);
	n = poll(&p, 1, 5000) == 1 ? recv(h, buf, sizeof(buf), 0) : -1;
	ok(n == 7 && !memcmp(buf, "default", 7), "an address of len 0 means the connected peer");

	/* Hostile records on the datagram channel are dropped, the channel survives. */
	gsend(g, s.data, "xx", 2);
	struct tsi_addr bad = inet4("127.0.0.1", 9);
	bad.len = 3;
	memcpy(rec, &bad, sizeof(bad));
	gsend(g, s.data, rec, sizeof(bad) + 1);
	memcpy(rec, &none, sizeof(none));
	memcpy(rec + sizeof(none), "after", 5);
	gsend(g, s.data, rec, sizeof(none) + 5);
	n = poll(&p, 1, 5000) == 1 ? recv(h, buf, sizeof(buf), 0) : -1;
	ok(n == 5 && !memcmp(buf, "after", 5),
	   "short and bad-address records are dropped, the next one goes");

	/* IP_TTL through SETSOCKOPT, seen on the datagrams' headers. */
	if (family == AF_INET) {
		int on = 1;
		setsockopt(h, IPPROTO_IP, IP_RECVTTL, &on, sizeof(on));
		is_int(tsetsockopt(g, &s, IPPROTO_IP, IP_TTL, 7, 4), 0, "SETSOCKOPT IP_TTL 7");
		memcpy(rec + sizeof(none), "ttl", 3);
		gsend(g, s.data, rec, sizeof(none) + 3);
		char cbuf[64];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		int ttl = -1;
		if (poll(&p, 1, 5000) == 1 && recvmsg(h, &m, 0) == 3)
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
				if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL)
					memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
		is_int(ttl, 7, "the host socket sends with TTL 7");
	}
	tclose(g, &s);
	close(h);
}

static void test_sockopts(struct guest *g)
{
	struct tsock s;

	topen(g, &s, AF_INET, SOCK_STREAM, 0);
	is_int(tsetsockopt(g, &s, IPPROTO_TCP, TCP_NODELAY, 1, 4), 0, "SETSOCKOPT TCP_NODELAY");
	is_int(tsetsockopt(g, &s, SOL_SOCKET, SO_KEEPALIVE, 1, 4), 0, "SETSOCKOPT SO_KEEPALIVE");
	is_int(tsetsockopt(g, &s, SOL_SOCKET, SO_PRIORITY, 1, 4), -ENOPROTOOPT,
	       "an option off the list: -ENOPROTOOPT");
	is_int(tsetsockopt(g, &s, IPPROTO_TCP, TCP_NODELAY, 1, 2), -EINVAL,
	       "a value of the wrong size: -EINVAL");
	is_int(tsetsockopt(g, &s, SOL_SOCKET, SO_LINGER, 1, 64), -EINVAL,
	       "SO_LINGER needs a struct linger");
	tclose(g, &s);
}

/* A record with raw bytes and its reply. */
static ssize_t raw_rpc(struct guest *g, struct tsock *s, const void *rec, size_t len,
		       struct tsi_rep *r)
{
	uint8_t buf[1024];

	if (!gsend(g, s->ctl, rec, len))
		return -1;
	ssize_t n = grecv(g, s->ctl, buf, sizeof(buf));
	if (n >= (ssize_t)sizeof(*r))
		memcpy(r, buf, sizeof(*r));
	return n;
}

static void test_malformed(struct guest *g)
{
	struct tsock s;
	struct tsi_rep r;
	struct tsi_addr a;

	memset(&s, 0, sizeof(s));
	s.ctl = gconnect(g, 0, TSI_PORT_CONTROL, VSOCK_SEQPACKET);
	ok(raw_rpc(g, &s, "abcd", 4, &r) >= (ssize_t)sizeof(r) && r.id == 0 && r.result == -EINVAL,
	   "a record shorter than an id: reply with id 0, -EINVAL");
	struct tsi_getname_req gq = { .h = { .id = 5, .op = TSI_OP_GETNAME } };
	ok(raw_rpc(g, &s, &gq, sizeof(gq), &r) > 0 && r.id == 5 && r.op == TSI_OP_GETNAME &&
	       r.result == -EINVAL,
	   "a request before OPEN: -EINVAL with its id and op");
	struct tsi_req unk = { .id = 6, .op = 77 };
	ok(raw_rpc(g, &s, &unk, sizeof(unk), &r) > 0 && r.id == 6 && r.result == -EOPNOTSUPP,
	   "an unknown op: -EOPNOTSUPP");
	struct tsi_open_req oq = { .h = { .id = 7, .op = TSI_OP_OPEN },
				   .family = AF_INET,
				   .type = SOCK_STREAM };
	ok(raw_rpc(g, &s, &oq, offsetof(struct tsi_open_req, creds) - 2, &r) > 0 && r.id == 7 &&
	       r.result == -EINVAL,
	   "a truncated OPEN: -EINVAL");
	oq.family = 99;
	ok(raw_rpc(g, &s, &oq, sizeof(oq), &r) > 0 && r.result == -EINVAL,
	   "OPEN of an unknown family: -EINVAL");
	oq.family = AF_INET;
	oq.type = SOCK_RAW;
	ok(raw_rpc(g, &s, &oq, sizeof(oq), &r) > 0 && r.result == -EINVAL,
	   "OPEN of a raw socket: -EINVAL");
	oq.type = SOCK_STREAM;
	oq.h.id = 0;
	ok(raw_rpc(g, &s, &oq, sizeof(oq), &r) > 0 && r.result == -EINVAL, "id 0: -EINVAL");
	oq.h.id = 8;
	oq.data_port = g->next_port++;
	ok(raw_rpc(g, &s, &oq, sizeof(oq), &r) > 0 && r.id == 8 && r.result == 0,
	   "then a valid OPEN works");
	s.data_port = oq.data_port;
	oq.h.id = 9;
	ok(raw_rpc(g, &s, &oq, sizeof(oq), &r) > 0 && r.id == 9 && r.result == -EINVAL,
	   "a second OPEN: -EINVAL");

	struct tsi_connect_rep cr;
	is_int(tconnect(g, &s, inet6("::1", 80), &cr), -EINVAL,
	       "CONNECT with an address of the wrong family: -EINVAL");
	struct tsi_addr bad = inet4("127.0.0.1", 80);
	bad.len = 12;
	is_int(tconnect(g, &s, bad, &cr), -EINVAL, "an address of the wrong length: -EINVAL");
	bad.len = 100000;
	is_int(tconnect(g, &s, bad, &cr), -EINVAL, "an absurd length: -EINVAL");
	struct tsi_getname_req gp = { .h.op = TSI_OP_GETNAME, .peer = 2 };
	struct tsi_addr_rep ar;
	ok(rpc(g, &s, &gp, sizeof(gp), &ar, sizeof(ar)) > 0 && ar.h.result == -EINVAL,
	   "GETNAME with peer 2: -EINVAL");
	is_int(tbind(g, &s, inet4("127.0.0.1", 0), NULL), 0, "BIND still served");
	is_int(tgetname(g, &s, 1, &a), -ENOTCONN, "GETNAME peer before a connect: -ENOTCONN");
	struct tsi_listen_req lq = { .h.op = TSI_OP_LISTEN, .flags = 0x100 };
	ok(rpc(g, &s, &lq, sizeof(lq), &ar, sizeof(ar)) > 0 && ar.h.result == -EINVAL,
	   "unknown flags: -EINVAL");
	is_int(tgetname(g, &s, 0, &a), 0, "after all that, the socket still answers");
	tclose(g, &s);

	/* A guest that sends many requests without reading its replies is not served
	 * without bound, and still served once it reads. */
	topen(g, &s, AF_INET, SOCK_STREAM, 0);
	struct tsi_getname_req many = { .h = { .id = 1, .op = TSI_OP_GETNAME } };
	for (unsigned i = 0; i < 400; i++) {
		many.h.id = 1000 + i;
		send_raw(g, s.ctl, VIRTIO_VSOCK_OP_RW, VIRTIO_VSOCK_SEQ_EOM, &many, sizeof(many));
		s.ctl->tx_cnt += sizeof(many);
	}
	unsigned got = 0;
	uint8_t buf[512];
	while (got < 400 && grecv(g, s.ctl, buf, sizeof(buf)) > 0)
		got++;
	is_int(got, 400, "400 requests sent before reading any reply: 400 replies");
	tclose(g, &s);

	struct gconn *c = gconnect(g, 0, TSI_PORT_CONTROL, VSOCK_STREAM);
	ok(c->rst, "a STREAM connection to the control port: RST");
	forget(c);
	c = gconnect(g, 0, 1027, VSOCK_STREAM);
	ok(c->rst, "a connection to another port: RST");
	forget(c);
	c = gconnect(g, 0, TSI_PORT_STREAM, VSOCK_STREAM);
	ok(c->rst, "a data connection from a port no socket announced: RST");
	forget(c);
}

/* As in a user namespace: the root is reached only through an fd kept before the ids
 * changed, the directory above it is closed to the new ids. Exit bits: 1 the backend
 * failed, 2 a host path inside the root was not given back as the guest's. */
static int root_behind_closed_dir(const char *closed)
{
	char path[256];
	krun_error_t err = NULL;
	struct vsock_backend *b;

	snprintf(path, sizeof(path), "%s/root", closed);
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
		return 1;
	prctl(PR_SET_DUMPABLE, 1);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct vsock_tsi_config tc = { .root_path = path };
	if (vsock_tsi_backend_new(&tc, &b, &err) < 0) {
		printf("# %s\n", err->msg);
		return 1;
	}
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/root/run/app.sock", closed);
	struct tsi_addr a, want = unix_addr("/run/app.sock");
	tsi_addr_from_host((struct tsi *)b, (struct sockaddr *)&sun, sizeof(sun), &a);
	return a.len == want.len && !memcmp(a.sa, want.sa, a.len) ? 0 : 2;
}

static void test_root_behind_closed_dir(void)
{
	char closed[] = "/tmp/tsi-closed-XXXXXX", path[256];
	int status = -1;

	if (geteuid() != 0) {
		printf("# not root: the root behind a closed directory is not checked\n");
		return;
	}
	if (!mkdtemp(closed))
		drv_bail("mkdtemp");
	snprintf(path, sizeof(path), "%s/root", closed);
	mkdir(path, 0755);
	chmod(closed, 0700);
	pid_t pid = fork();
	if (pid == 0)
		_exit(root_behind_closed_dir(closed));
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && !(WEXITSTATUS(status) & 1),
	   "a root reached only through a kept fd (parent closed to our ids) opens");
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "and host paths inside it are given back as the guest's");
	rmdir(path);
	rmdir(closed);
}

/* Makes this process root of fresh user (when not root already) and network namespaces,
 * with lo up: there it may bind any port, and port 1023 is free. */
static int enter_own_netns(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	bool root = geteuid() == 0;
	char map[32];
	int fd;

	if (unshare(CLONE_NEWNET | (root ? 0 : CLONE_NEWUSER)) < 0)
		return -1;
	if (!root) {
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)geteuid());
		fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			return -1;
		close(fd);
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return -1;
	close(fd);
	return 0;
}

/* Whether the host itself lets this process bind UDP 127.0.0.1:port. */
static bool host_may_bind(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* In the child: 0 when every step behaved, else the number of the first that did not. */
static int privileged_ports_in_netns(void)
{
	struct guest *g = calloc(1, sizeof(*g));
	struct tsi_addr local;
	struct tsock s;
	int ret;

	if (!g || enter_own_netns() < 0)
		return 77;
	if (!host_may_bind(1023))
		return 1;
	guest_boot(g, false);
	topen(g, &s, AF_INET, SOCK_STREAM, TSI_F_REUSEADDR);
	ret = tlisten(g, &s, inet4("127.0.0.1", 1023), 80, NULL);
	tclose(g, &s);
	topen(g, &s, AF_INET, SOCK_DGRAM, 0);
	if (ret != -EACCES || tbind(g, &s, inet4("127.0.0.1", 53), NULL) != -EACCES)
		return 2;
	if (tbind(g, &s, inet4("127.0.0.1", 0), &local) != 0)
		return 3;
	tclose(g, &s);
	guest_destroy(g);

	guest_boot(g, true);
	topen(g, &s, AF_INET, SOCK_DGRAM, 0);
	if (tbind(g, &s, inet4("127.0.0.1", 1023), NULL) != 0)
		return 4;
	/* Bound on the host: the port is taken there now. */
	if (host_may_bind(1023))
		return 5;
	tclose(g, &s);
	guest_destroy(g);
	return 0;
}

/* Port numbers below 1024 are refused by the VMM itself unless allowed, and reach the
 * host when they are. Checked where the host would allow them (a network namespace of
 * our own), so that the host's refusal cannot pass for the VMM's. */
static void test_privileged(void)
{
	static const char *const step[] = {
		"in a network namespace of our own the host lets us bind port 1023",
		"LISTEN on 1023 and BIND to 53 without allow_privileged_ports: -EACCES",
		"an ephemeral port is fine",
		"with allow_privileged_ports, BIND to 1023 succeeds",
		"and the port is then bound on the host",
	};
	int status, failed;
	pid_t pid = fork();

	if (pid == 0)
		_exit(privileged_ports_in_netns());
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		ok(0, "the privileged-port child ran");
		return;
	}
	failed = WEXITSTATUS(status);
	if (failed == 77) {
		printf("ok %d - privileged ports # SKIP no network namespace of our own\n",
		       ++tap_count);
		return;
	}
	/* Steps run in order: those before the failed one passed, the rest did not run. */
	for (int i = 0; i < (int)ARRAY_SIZE(step); i++)
		ok(failed == 0 || i + 1 < failed, step[i]);
}

static int unix_listener(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0)
		drv_bail("unix listener");
	return fd;
}

/* A host unix listener whose backlog is full: the CONNECT waits (as the guest's connect()
 * would) instead of failing with EAGAIN, and succeeds once the listener accepts one. */
static void test_unix_full_backlog(struct guest *g)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char path[sizeof(sun.sun_path)];
	struct tsock s;
	struct tsi_connect_rep r;
	int fill[4], n;

	snprintf(path, sizeof(path), "%s/run/busy.sock", root);
	int lfd = unix_listener(path);
	listen(lfd, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	for (n = 0; n < 4; n++) {
		fill[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (connect(fill[n], (struct sockaddr *)&sun, sizeof(sun)) < 0)
			break;
	}
	ok(n < 4 && errno == EAGAIN, "the host listener's backlog is full");
	topen(g, &s, AF_UNIX, SOCK_STREAM, 0);
	struct tsi_connect_req q = { .h = { .id = 77, .op = TSI_OP_CONNECT },
				     .dest = unix_addr("/run/busy.sock") };
	gsend(g, s.ctl, &q, sizeof(q));
	for (int i = 0; i < 1000 && !has_record(s.ctl); i++)
		if (!pump(g))
			usleep(100);
	ok(!has_record(s.ctl), "CONNECT to it is not answered while the backlog stays full");
	int a = accept(lfd, NULL, NULL);
	ok(a >= 0 && wait_for(g, s.ctl, has_record) &&
	       grecv(g, s.ctl, &r, sizeof(r)) == sizeof(r) && r.h.id == 77 && r.h.result == 0,
	   "once the listener accepts one, CONNECT answers 0");
	tclose(g, &s);
	while (n >= 0)
		close(fill[n--]);
	close(a);
	close(lfd);
	unlink(path);
}

static void test_unix(struct guest *g)
{
	char path[256];
	struct tsock s;
	struct tsi_connect_rep r;
	struct tsi_addr a;

	snprintf(path, sizeof(path), "%s/run", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/run/app.sock", root);
	int lfd = unix_listener(path);
	snprintf(path, sizeof(path), "%s/secret.sock", outside);
	int ofd = unix_listener(path);
	snprintf(path, sizeof(path), "%s/escape.sock", root);
	char target[256];
	snprintf(target, sizeof(target), "%s/secret.sock", outside);
	if (symlink(target, path) < 0)
		drv_bail("symlink");

	is_int(topen(g, &s, AF_UNIX, SOCK_STREAM, 0), 0, "OPEN of an AF_UNIX stream socket");
	is_int(tconnect(g, &s, unix_addr("/run/app.sock"), &r), 0,
	       "CONNECT to /run/app.sock (inside the container root)");
	struct tsi_addr want = unix_addr("/run/app.sock");
	ok(r.peer.len == want.len && !memcmp(r.peer.sa, want.sa, want.len),
	   "its peer is the guest's path");
	s.data = gconnect(g, s.data_port, TSI_PORT_STREAM, VSOCK_STREAM);
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int c = poll(&p, 1, 5000) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	ok(c >= 0, "the host listener accepts");
	char buf[16];
	gsend(g, s.data, "unix!", 5);
	p.fd = c;
	ok(poll(&p, 1, 5000) == 1 && read(c, buf, sizeof(buf)) == 5 && !memcmp(buf, "unix!", 5),
	   "guest data reaches the host unix socket");
	ok(tgetname(g, &s, 1, &a) == 0 && a.len == want.len && !memcmp(a.sa, want.sa, want.len),
	   "GETNAME peer: the guest's path");
	close(c);
	tclose(g, &s);

	topen(g, &s, AF_UNIX, SOCK_STREAM, 0);
	is_int(tconnect(g, &s, unix_addr("/escape.sock"), &r), -ENOENT,
	       "an absolute symlink to a socket outside the root: resolved inside, -ENOENT");
	snprintf(path, sizeof(path), "/../../../..%s/secret.sock", outside);
	is_int(tconnect(g, &s, unix_addr(path), &r), -ENOENT, "`..` cannot leave the root");
	is_int(tconnect(g, &s, unix_addr("/run"), &r), -ECONNREFUSED,
	       "a path that is no socket: -ECONNREFUSED");
	struct tsi_addr rel = unix_addr("run/app.sock");
	is_int(tconnect(g, &s, rel, &r), -EINVAL, "a relative path: -EINVAL");
	struct tsi_addr unterminated = unix_addr("/run/app.sock");
	unterminated.len--; /* drop the NUL */
	is_int(tconnect(g, &s, unterminated, &r), -EINVAL, "a path without its NUL: -EINVAL");
	tclose(g, &s);
	p.fd = ofd;
	ok(poll(&p, 1, 0) == 0, "the socket outside the root never saw a connection");

	/* LISTEN on a path: created inside the root, reported with the guest's path. */
	topen(g, &s, AF_UNIX, SOCK_STREAM, 0);
	struct tsi_addr local;
	is_int(tlisten(g, &s, unix_addr("/run/guest.sock"), 9000, &local), 0,
	       "LISTEN on /run/guest.sock");
	want = unix_addr("/run/guest.sock");
	ok(local.len == want.len && !memcmp(local.sa, want.sa, want.len),
	   "LISTEN reply: the guest's path");
	snprintf(path, sizeof(path), "%s/run/guest.sock", root);
	struct stat st;
	ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "the socket file is inside the root");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	strcpy(sun.sun_path, path);
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(connect(c, (struct sockaddr *)&sun, sizeof(sun)) == 0, "a host client connects");
	ok(wait_for(g, s.ctl, has_event), "ACCEPTED for the unix listener");
	struct tsi_accepted_ev ev;
	ok(grecv(g, s.ctl, &ev, sizeof(ev)) == sizeof(ev) && ev.h.op == TSI_EV_ACCEPTED &&
	       ev.local.len == want.len && ev.peer.len == offsetof(struct sockaddr_un, sun_path),
	   "ACCEPTED: local is the guest's path, the peer unnamed");
	close(c);
	tclose(g, &s);
	unlink(path);

	topen(g, &s, AF_UNIX, SOCK_STREAM, 0);
	snprintf(path, sizeof(path), "/../../..%s/bound.sock", outside);
	is_int(tlisten(g, &s, unix_addr(path), 9001, NULL), -ENOENT,
	       "LISTEN through `..` stays inside the root");
	snprintf(path, sizeof(path), "%s/bound.sock", outside);
	ok(access(path, F_OK) < 0, "and creates nothing outside it");
	tclose(g, &s);
	close(lfd);
	close(ofd);
}

/* AF_UNIX connects and binds act as the guest user of the request: the host peer's
 * SO_PEERCRED, the owner of a socket file, and the permission to connect are that user's;
 * ids 0 (and records of older guests, which have none) keep the VMM's. */
#define GUEST_UID 1234
#define GUEST_GID 5678

static int peer_ids(int lfd, uid_t *uid, gid_t *gid)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int c = poll(&p, 1, 5000) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;

	if (c < 0 || getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		if (c >= 0)
			close(c);
		return -1;
	}
	*uid = cred.uid;
	*gid = cred.gid;
	close(c);
	return 0;
}

static int tconnect_as(struct guest *g, const char *path, uint32_t uid, uint32_t gid)
{
	struct tsi_connect_req q = { .h.op = TSI_OP_CONNECT,
				     .dest = unix_addr(path),
				     .creds = { uid, gid } };
	struct tsi_connect_rep r;
	struct tsock s;

	topen(g, &s, AF_UNIX, SOCK_STREAM, 0);
	int ret = rpc(g, &s, &q, sizeof(q), &r, sizeof(r)) == sizeof(r) ? r.h.result : -EPROTO;
	tclose(g, &s);
	return ret;
}

static void test_unix_creds(struct guest *g)
{
	char path[256];
	uid_t uid = 0;
	gid_t gid = 0;

	chmod(root, 0755); /* the guest user walks the root */
	snprintf(path, sizeof(path), "%s/run/peer.sock", root);
	int lfd = unix_listener(path);
	chmod(path, 0777);
	ok(tconnect_as(g, "/run/peer.sock", GUEST_UID, GUEST_GID) == 0 &&
	       peer_ids(lfd, &uid, &gid) == 0 && uid == GUEST_UID && gid == GUEST_GID,
	   "CONNECT as 1234:5678: the host peer's SO_PEERCRED is 1234:5678");
	ok(tconnect_as(g, "/run/peer.sock", 0, 0) == 0 && peer_ids(lfd, &uid, &gid) == 0 &&
	       uid == geteuid() && gid == getegid(),
	   "CONNECT as 0:0 keeps the VMM's ids");
	struct tsi_connect_req old = { .h = { .id = 9, .op = TSI_OP_CONNECT },
				       .dest = unix_addr("/run/peer.sock") };
	struct tsi_connect_rep r;
	struct tsock s;
	topen(g, &s, AF_UNIX, SOCK_STREAM, 0);
	ok(rpc(g, &s, &old, offsetof(struct tsi_connect_req, creds), &r, sizeof(r)) == sizeof(r) &&
	       r.h.result == 0 && peer_ids(lfd, &uid, &gid) == 0 && uid == geteuid(),
	   "a CONNECT without ids (an older guest) keeps the VMM's");
	tclose(g, &s);
	chmod(path, 0700);
	is_int(tconnect_as(g, "/run/peer.sock", GUEST_UID, GUEST_GID), -EACCES,
	       "a socket only root may connect to: -EACCES for the guest user");
	ok(tconnect_as(g, "/run/peer.sock", 0, 0) == 0 && peer_ids(lfd, &uid, &gid) == 0,
	   "and the VMM's own ids are back after it");
	close(lfd);
	unlink(path);

	snprintf(path, sizeof(path), "%s/run/user", root);
	mkdir(path, 0700);
	if (chown(path, GUEST_UID, GUEST_GID) < 0)
		drv_bail("chown");
	struct tsi_listen_req lq = { .h.op = TSI_OP_LISTEN,
				     .bind = unix_addr("/run/user/bus.sock"),
				     .backlog = 4,
				     .listen_port = 9100,
				     .creds = { GUEST_UID, GUEST_GID } };
	struct tsi_addr_rep lr;
	struct stat st;
	topen(g, &s, AF_UNIX, SOCK_STREAM, 0);
	ok(rpc(g, &s, &lq, sizeof(lq), &lr, sizeof(lr)) == sizeof(lr) && lr.h.result == 0,
	   "LISTEN as 1234:5678 in a directory only that user may write");
	snprintf(path, sizeof(path), "%s/run/user/bus.sock", root);
	ok(stat(path, &st) == 0 && st.st_uid == GUEST_UID && st.st_gid == GUEST_GID,
	   "the socket file belongs to 1234:5678");
	tclose(g, &s);
	unlink(path);
	lq.creds = (struct tsi_creds){ GUEST_UID + 1, GUEST_GID };
	lq.h.id = 0;
	topen(g, &s, AF_UNIX, SOCK_STREAM, 0);
	ok(rpc(g, &s, &lq, sizeof(lq), &lr, sizeof(lr)) == sizeof(lr) && lr.h.result == -EACCES,
	   "another user may not create a file there: -EACCES");
	tclose(g, &s);
	chmod(root, 0700);
}

/* A VMM without CAP_SETUID and CAP_SETGID keeps its own ids (in a child that drops them);
 * an id the user namespace does not map is refused. */
static void test_ids_fallback(void)
{
	struct tsi_creds c = { GUEST_UID, GUEST_GID };
	struct tsi_saved_ids ids;
	int status;

	pid_t pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
		syscall(SYS_capget, &hdr, caps);
		for (int cap = CAP_SETGID; cap <= CAP_SETUID; cap++) {
			caps[CAP_TO_INDEX(cap)].effective &= ~CAP_TO_MASK(cap);
			caps[CAP_TO_INDEX(cap)].permitted &= ~CAP_TO_MASK(cap);
		}
		if (syscall(SYS_capset, &hdr, caps) < 0)
			_exit(2);
		int ret = tsi_ids_enter(&c, &ids);
		bool same = !ids.switched && syscall(SYS_geteuid) == 0 && syscall(SYS_getegid) == 0;
		tsi_ids_leave(&ids);
		_exit(ret == 0 && same ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0,
	   "without CAP_SETUID/CAP_SETGID the VMM keeps its own ids");

	/* A user namespace that maps root alone. */
	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(2);
		/* setgroups denied, as an unprivileged map writer must: groups stay */
		const char *files[] = { "/proc/self/uid_map", "/proc/self/setgroups",
					"/proc/self/gid_map" };
		const char *lines[] = { "0 0 1", "deny", "0 0 1" };
		for (int i = 0; i < 3; i++) {
			int fd = open(files[i], O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, lines[i], strlen(lines[i])) < 0)
				_exit(2);
			close(fd);
		}
		int ret = tsi_ids_enter(&c, &ids);
		bool same = !ids.switched && syscall(SYS_geteuid) == 0;
		tsi_ids_leave(&ids);
		_exit(ret == -EPERM && same ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0,
	   "ids the user namespace does not map: -EPERM, and nothing stays switched");
}

/* The accepted connection and ACCEPTED of many sockets at once: the cap of control
 * connections holds, and each released one makes room. */
static void test_cap(struct guest *g)
{
	static struct gconn *ctl[TSI_MAX_SOCKETS + 1];
	unsigned n = 0;

	for (unsigned i = 0; i < TSI_MAX_SOCKETS; i++) {
		ctl[i] = gconnect(g, 0, TSI_PORT_CONTROL, VSOCK_SEQPACKET);
		n += ctl[i]->connected;
	}
	is_int(n, TSI_MAX_SOCKETS, "4096 control connections are accepted");
	struct gconn *extra = gconnect(g, 0, TSI_PORT_CONTROL, VSOCK_SEQPACKET);
	ok(extra->rst, "the 4097th gets RST");
	forget(extra);
	gclose(g, ctl[0]);
	bool fits = false;
	for (int i = 0; i < 50 && !fits; i++) {
		extra = gconnect(g, 0, TSI_PORT_CONTROL, VSOCK_SEQPACKET);
		fits = extra->connected;
		if (!fits) {
			forget(extra);
			usleep(10000);
		}
	}
	ok(fits, "after one closes, a new one fits");
	if (fits)
		gclose(g, extra);
	for (unsigned i = 1; i < TSI_MAX_SOCKETS; i++)
		gclose(g, ctl[i]);
}

/* Many connections at once, all through one device. */
static void test_parallel(struct guest *g)
{
	enum { N = 64 };
	struct sockaddr_storage ss;
	socklen_t len;
	static struct tsock s[N];
	int lfd = host_listen(AF_INET, "127.0.0.1", SOCK_STREAM, &ss, &len);
	unsigned good = 0;

	for (unsigned i = 0; i < N; i++) {
		struct tsi_connect_rep r;
		topen(g, &s[i], AF_INET, SOCK_STREAM, 0);
		if (tconnect(g, &s[i], inet4("127.0.0.1", ss_port(&ss)), &r) == 0)
			s[i].data = gconnect(g, s[i].data_port, TSI_PORT_STREAM, VSOCK_STREAM);
	}
	int hfd[N];
	for (unsigned i = 0; i < N; i++) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		hfd[i] = poll(&p, 1, 5000) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	}
	for (unsigned i = 0; i < N; i++) {
		char msg[16];
		int l = snprintf(msg, sizeof(msg), "conn %u", i);
		if (s[i].data && s[i].data->connected)
			gsend(g, s[i].data, msg, l);
	}
	for (unsigned i = 0; i < N; i++) {
		char buf[16];
		struct pollfd p = { .fd = hfd[i], .events = POLLIN };
		if (hfd[i] >= 0 && poll(&p, 1, 5000) == 1 && read(hfd[i], buf, sizeof(buf)) > 0) {
			/* Whichever connection it is, the bytes are one guest socket's. */
			good += !strncmp(buf, "conn ", 5);
		}
		close(hfd[i]);
	}
	is_int(good, N, "64 parallel connections each carry their data");
	for (unsigned i = 0; i < N; i++)
		tclose(g, &s[i]);
	close(lfd);
}

int main(void)
{
	struct rlimit rl;
	struct guest *g = calloc(1, sizeof(*g));

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 16384) {
		rl.rlim_cur = rl.rlim_max < 16384 ? rl.rlim_max : 16384;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!mkdtemp(root) || !mkdtemp(outside))
		drv_bail("mkdtemp");
	fake_ram_init(&ram, 1ULL << 32);
	guest_boot(g, false);
	test_connect(g, AF_INET, "127.0.0.1", 8 << 20, 8 << 20);
	test_connect(g, AF_INET6, "::1", 1 << 20, 3 << 20);
	test_refused(g);
	test_listen(g);
	test_accept_out_of_fds(g);
	test_udp(g, AF_INET, "127.0.0.1");
	test_udp(g, AF_INET6, "::1");
	test_sockopts(g);
	test_linger(g);
	test_malformed(g);
	test_unix(g);
	test_unix_full_backlog(g);
	if (geteuid() == 0) {
		test_unix_creds(g);
		test_ids_fallback();
	} else
		printf("# not root: the guest user's ids for AF_UNIX are not checked\n");
	test_parallel(g);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 16384)
		test_cap(g);
	else
		printf("# RLIMIT_NOFILE below 16384: the 4096-socket cap is not checked\n");
	guest_destroy(g);
	free(g);
	test_privileged();
	test_root_behind_closed_dir();
	fake_ram_free(&ram);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", root, outside);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
	return tap_done();
}
