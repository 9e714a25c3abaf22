/* virtio-vsock without a VM: the test plays the guest driver (rings in fake RAM, registers
 * through the transport's handlers), the device runs on the real event loop in a thread,
 * and the host side is real unix sockets in a temporary directory. Checks connection
 * setup, data both ways, credit flow control, CREDIT_REQUEST, shutdown, RST, SEQPACKET
 * records, the connection cap, device reset, host-initiated connections, hostile
 * headers, and the memory a guest can make the VMM hold for a host socket that does not
 * read. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/bridge.h"
#include "agent/proto.h"
#include "devices/vsock/internal.h"
#include "vsock_unix_backend.h"
#include "tap.h"
#include "vring_driver.h"

#define HDR	   ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define RX_PAYLOAD 4096
#define QSIZE	   256

static struct fake_ram ram;
static char dir[] = "/tmp/vsock-test-XXXXXX";

struct guest {
	struct virtio_device *dev;
	struct virtio_mmio t;
	struct vring_driver q[VSOCK_NUM_QUEUES];
	pthread_t loop_thread;
	uint32_t rx_outstanding;
};

struct pkt {
	struct virtio_vsock_hdr h;
	uint8_t data[RX_PAYLOAD];
};

static void kick(struct guest *g, unsigned q)
{
	mmio_w32(&g->t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static void add_rx(struct guest *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct drv_seg s = { fake_ram_buf(&ram, NULL, HDR + RX_PAYLOAD), HDR + RX_PAYLOAD,
				     true };
		vring_driver_add(&g->q[VSOCK_RXQ], &s, 1);
	}
	g->rx_outstanding += n;
	kick(g, VSOCK_RXQ);
}

/* What the guest driver does at boot, and again after a device reset: features, fresh
 * rings, DRIVER_OK, receive buffers. */
static void guest_start(struct guest *g, bool seqpacket, unsigned rx_buffers)
{
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (seqpacket)
		f |= 1ULL << VIRTIO_VSOCK_F_SEQPACKET;
	drv_activate(&g->t, f, g->q, VSOCK_NUM_QUEUES, &ram, QSIZE);
	g->rx_outstanding = 0;
	add_rx(g, rx_buffers);
}

static void guest_boot(struct guest *g, bool seqpacket, unsigned rx_buffers)
{
	krun_error_t err = NULL;
	struct vsock_backend *b;
	struct vsock_config cfg;

	memset(g, 0, sizeof(*g));
	if (virtio_vsock_unix_backend_new(dir, &b, &err) < 0)
		drv_bail(err->msg);
	cfg.backend = b;
	if (virtio_vsock_new(&cfg, &g->dev, &err) < 0 ||
	    virtio_mmio_init(&g->t, g->dev, &ram.mem, &err) < 0 ||
	    event_loop_new(&g->dev->loop, &err) < 0)
		drv_bail(err->msg);
	pthread_create(&g->loop_thread, NULL, drv_run_event_loop, g->dev->loop);
	guest_start(g, seqpacket, rx_buffers);
}

static void guest_destroy(struct guest *g)
{
	drv_device_destroy(g->dev, &g->t, &g->loop_thread);
}

static bool wait_used(struct guest *g, unsigned q, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < 5000; i++) {
		if (vring_driver_used(&g->q[q], id, len))
			return true;
		usleep(1000);
	}
	return false;
}

/* The guest receives one packet (and gives the buffer back). */
static bool recv_pkt(struct guest *g, struct pkt *p)
{
	uint32_t id, len;

	memset(p, 0, sizeof(*p));
	if (!wait_used(g, VSOCK_RXQ, &id, &len) || len < HDR || len > HDR + RX_PAYLOAD)
		return false;
	const uint8_t *b = fake_ram_ptr(&ram, g->q[VSOCK_RXQ].desc[id].addr);
	memcpy(p, b, len);
	g->rx_outstanding--;
	add_rx(g, 1);
	return p->h.len == len - HDR;
}

/* Nothing arrives for the guest within 100 ms. */
static bool rx_quiet(struct guest *g)
{
	usleep(100 * 1000);
	struct vring_driver *d = &g->q[VSOCK_RXQ];
	return __atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE) == d->last_used;
}

/* The guest sends segments on the tx queue and waits for the device to consume them. */
static bool send_segs(struct guest *g, const struct drv_seg *s, unsigned n)
{
	uint32_t id, len;

	vring_driver_add(&g->q[VSOCK_TXQ], s, n);
	kick(g, VSOCK_TXQ);
	return wait_used(g, VSOCK_TXQ, &id, &len);
}

struct hdr_args {
	uint32_t src_port, dst_port;
	uint16_t op, type;
	uint32_t flags, buf_alloc, fwd_cnt;
};

static struct virtio_vsock_hdr mkhdr(const struct hdr_args *a, uint32_t len)
{
	return (struct virtio_vsock_hdr){ .src_cid = VSOCK_GUEST_CID,
					  .dst_cid = VSOCK_HOST_CID,
					  .src_port = a->src_port,
					  .dst_port = a->dst_port,
					  .len = len,
					  .type = a->type ? a->type : VSOCK_STREAM,
					  .op = a->op,
					  .flags = a->flags,
					  .buf_alloc = a->buf_alloc ? a->buf_alloc : 65536,
					  .fwd_cnt = a->fwd_cnt };
}

/* A packet as Linux lays it out: the header, then the payload in its own segment. */
static bool send_hdr(struct guest *g, const struct virtio_vsock_hdr *h, const void *data,
		     uint32_t len)
{
	struct drv_seg s[2] = { { fake_ram_buf(&ram, h, HDR), HDR, false },
				{ fake_ram_buf(&ram, data, len), len, false } };

	return send_segs(g, s, len ? 2 : 1);
}

static bool send_pkt(struct guest *g, struct hdr_args a, const void *data, uint32_t len)
{
	struct virtio_vsock_hdr h = mkhdr(&a, len);

	return send_hdr(g, &h, data, len);
}

static bool is_pkt(const struct pkt *p, uint32_t host_port, uint32_t guest_port, uint16_t op)
{
	return p->h.src_cid == VSOCK_HOST_CID && p->h.dst_cid == VSOCK_GUEST_CID &&
	       p->h.src_port == host_port && p->h.dst_port == guest_port && p->h.op == op;
}

static bool expect_op(struct guest *g, uint32_t host_port, uint32_t guest_port, uint16_t op)
{
	struct pkt p;

	if (!recv_pkt(g, &p))
		return false;
	if (!is_pkt(&p, host_port, guest_port, op)) {
		printf("#   got op %u ports %u->%u\n", p.h.op, p.h.src_port, p.h.dst_port);
		return false;
	}
	return true;
}

static int listen_on(uint32_t port, int type, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vsock-%u.sock", dir, port);
	unlink(sa.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0)
		drv_bail("listen");
	return fd;
}

static int accept_timeout(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Reads exactly n bytes from a host fd within 5 s. */
static bool host_read(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) != 1)
			return false;
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return false;
		got += r;
	}
	return true;
}

/* The host fd reports end of file (or reset) within 5 s. */
static bool host_sees_eof(int fd)
{
	char c;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return false;
	return read(fd, &c, 1) <= 0;
}

/* The host fd reaches end of file (or reset) within 5 s, after whatever data it holds. */
static bool host_drains_to_eof(int fd)
{
	static char sink[65536];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) != 1)
			return false;
		ssize_t r = read(fd, sink, sizeof(sink));
		if (r < 0 && errno != EAGAIN)
			return true;
		if (r == 0)
			return true;
	}
}

/* Guest port gp connects to host port hp; the host accepts. Returns the host fd. */
static int connect_pair(struct guest *g, int lfd, uint32_t gp, uint32_t hp, uint16_t type,
			uint32_t buf_alloc)
{
	struct hdr_args a = { gp, hp, VIRTIO_VSOCK_OP_REQUEST, type, 0, buf_alloc };

	if (!send_pkt(g, a, NULL, 0) || !expect_op(g, hp, gp, VIRTIO_VSOCK_OP_RESPONSE))
		return -1;
	return accept_timeout(lfd);
}

static void test_config(void)
{
	struct guest g;

	guest_boot(&g, false, 4);
	uint64_t cid = mmio_r32(&g.t, VIRTIO_MMIO_CONFIG) |
		       (uint64_t)mmio_r32(&g.t, VIRTIO_MMIO_CONFIG + 4) << 32;
	is_int(cid, 3, "config space: guest_cid is 3");
	is_int(mmio_r32(&g.t, VIRTIO_MMIO_DEVICE_ID), 19, "device id 19");
	guest_destroy(&g);
}

static void test_stream(void)
{
	struct guest g;
	struct pkt p;
	char buf[64];

	guest_boot(&g, false, 16);
	int lfd = listen_on(1000, SOCK_STREAM, 8);
	int hfd = connect_pair(&g, lfd, 5000, 1000, VSOCK_STREAM, 0);
	ok(hfd >= 0, "REQUEST to a listening port: RESPONSE, and the host accepts");

	ok(send_pkt(&g, (struct hdr_args){ 5000, 1000, VIRTIO_VSOCK_OP_RW }, "hello guest", 11),
	   "guest sends RW");
	ok(host_read(hfd, buf, 11) && memcmp(buf, "hello guest", 11) == 0,
	   "guest data reaches the host socket");

	ok(write(hfd, "from host", 9) == 9, "host writes");
	ok(recv_pkt(&g, &p) && is_pkt(&p, 1000, 5000, VIRTIO_VSOCK_OP_RW) && p.h.len == 9 &&
	       memcmp(p.data, "from host", 9) == 0 && p.h.type == VSOCK_STREAM,
	   "host data reaches the guest as RW");
	is_int(p.h.buf_alloc, VSOCK_BUF_ALLOC, "our buf_alloc is advertised");
	is_int(p.h.fwd_cnt, 11, "fwd_cnt counts what the host socket took");

	ok(send_pkt(&g, (struct hdr_args){ 5000, 1000, VIRTIO_VSOCK_OP_CREDIT_REQUEST }, NULL, 0),
	   "guest sends CREDIT_REQUEST");
	ok(recv_pkt(&g, &p) && is_pkt(&p, 1000, 5000, VIRTIO_VSOCK_OP_CREDIT_UPDATE) &&
	       p.h.fwd_cnt == 11 && p.h.buf_alloc == VSOCK_BUF_ALLOC,
	   "CREDIT_REQUEST answered with CREDIT_UPDATE");

	/* Guest half-close: the host reads end of file, and can still send. */
	ok(send_pkt(&g,
		    (struct hdr_args){ 5000, 1000, VIRTIO_VSOCK_OP_SHUTDOWN, 0,
				       VIRTIO_VSOCK_SHUTDOWN_SEND },
		    NULL, 0),
	   "guest SHUTDOWN SEND");
	ok(host_sees_eof(hfd), "host reads end of file after the guest's SHUTDOWN SEND");
	ok(write(hfd, "late", 4) == 4 && recv_pkt(&g, &p) &&
	       is_pkt(&p, 1000, 5000, VIRTIO_VSOCK_OP_RW) && p.h.len == 4,
	   "the other direction still flows");
	close(hfd);
	ok(expect_op(&g, 1000, 5000, VIRTIO_VSOCK_OP_RST),
	   "host close after the guest's shutdown: RST, connection over");
	ok(send_pkt(&g, (struct hdr_args){ 5000, 1000, VIRTIO_VSOCK_OP_RW }, "x", 1) &&
	       expect_op(&g, 1000, 5000, VIRTIO_VSOCK_OP_RST),
	   "data on the released connection gets RST");

	/* Host closes first: SHUTDOWN to the guest; the guest's full shutdown ends it. */
	hfd = connect_pair(&g, lfd, 5001, 1000, VSOCK_STREAM, 0);
	close(hfd);
	ok(recv_pkt(&g, &p) && is_pkt(&p, 1000, 5001, VIRTIO_VSOCK_OP_SHUTDOWN) &&
	       p.h.flags == VIRTIO_VSOCK_SHUTDOWN_SEND,
	   "host close: SHUTDOWN(SEND) to the guest");
	ok(send_pkt(&g, (struct hdr_args){ 5001, 1000, VIRTIO_VSOCK_OP_SHUTDOWN, 0, 3 }, NULL, 0) &&
	       expect_op(&g, 1000, 5001, VIRTIO_VSOCK_OP_RST),
	   "guest SHUTDOWN both ways: RST ends it");

	/* Guest RST: the host socket is closed. */
	hfd = connect_pair(&g, lfd, 5002, 1000, VSOCK_STREAM, 0);
	ok(send_pkt(&g, (struct hdr_args){ 5002, 1000, VIRTIO_VSOCK_OP_RST }, NULL, 0),
	   "guest RST");
	ok(host_sees_eof(hfd), "guest RST closes the host socket");
	ok(rx_quiet(&g), "no answer to an RST");
	close(hfd);

	/* Nobody listens on 1001. */
	ok(send_pkt(&g, (struct hdr_args){ 5003, 1001, VIRTIO_VSOCK_OP_REQUEST }, NULL, 0) &&
	       expect_op(&g, 1001, 5003, VIRTIO_VSOCK_OP_RST),
	   "REQUEST to a port without a socket: RST");
	ok(send_pkt(&g, (struct hdr_args){ 5004, 1000, VIRTIO_VSOCK_OP_RW }, "zz", 2) &&
	       expect_op(&g, 1000, 5004, VIRTIO_VSOCK_OP_RST),
	   "RW for an unknown connection: RST");
	close(lfd);
	guest_destroy(&g);
}

/* Host data larger than the guest's credit is held back until the guest gives more. */
static void test_credit_to_guest(void)
{
	struct guest g;
	struct pkt p;
	static char big[3000];

	guest_boot(&g, false, 16);
	int lfd = listen_on(1100, SOCK_STREAM, 8);
	int hfd = connect_pair(&g, lfd, 6000, 1100, VSOCK_STREAM, 1000);
	memset(big, 'c', sizeof(big));
	ok(write(hfd, big, sizeof(big)) == sizeof(big), "host writes 3000 bytes");
	uint32_t got = 0;
	bool asked = false;
	while (recv_pkt(&g, &p)) {
		if (is_pkt(&p, 1100, 6000, VIRTIO_VSOCK_OP_RW))
			got += p.h.len;
		else if (is_pkt(&p, 1100, 6000, VIRTIO_VSOCK_OP_CREDIT_REQUEST))
			asked = true;
		if (asked && got >= 1000)
			break;
	}
	is_int(got, 1000, "the guest gets exactly its 1000 bytes of credit");
	ok(asked, "the device asks for credit when it runs out");
	ok(rx_quiet(&g), "nothing more while the guest gives no credit");
	ok(send_pkt(
	       &g, (struct hdr_args){ 6000, 1100, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 1000, 1000 },
	       NULL, 0),
	   "guest CREDIT_UPDATE: fwd_cnt 1000");
	got = 0;
	while (got < 1000 && recv_pkt(&g, &p))
		if (is_pkt(&p, 1100, 6000, VIRTIO_VSOCK_OP_RW))
			got += p.h.len;
	is_int(got, 1000, "1000 more bytes after the update");
	ok(send_pkt(
	       &g,
	       (struct hdr_args){ 6000, 1100, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 100000, 2000 },
	       NULL, 0),
	   "guest opens its window");
	got = 0;
	while (got < 1000 && recv_pkt(&g, &p))
		if (is_pkt(&p, 1100, 6000, VIRTIO_VSOCK_OP_RW))
			got += p.h.len;
	is_int(got, 1000, "the rest arrives");
	close(hfd);
	close(lfd);
	guest_destroy(&g);
}

/* Guest data the host does not read: credit comes back only as the socket takes bytes,
 * and a guest that ignores its credit is reset. */
static void test_credit_from_guest(void)
{
	struct guest g;
	struct pkt p;
	static char chunk[65536];

	guest_boot(&g, false, 64);
	int lfd = listen_on(1200, SOCK_STREAM, 8);
	int hfd = connect_pair(&g, lfd, 7000, 1200, VSOCK_STREAM, 0);
	memset(chunk, 'g', sizeof(chunk));
	/* Respect the credit: stop once buf_alloc bytes are unacknowledged. */
	uint32_t sent = 0, fwd = 0;
	while (sent - fwd + sizeof(chunk) <= VSOCK_BUF_ALLOC) {
		send_pkt(&g, (struct hdr_args){ 7000, 1200, VIRTIO_VSOCK_OP_RW }, chunk,
			 sizeof(chunk));
		sent += sizeof(chunk);
		while (__atomic_load_n(&g.q[VSOCK_RXQ].used->idx, __ATOMIC_ACQUIRE) !=
		       g.q[VSOCK_RXQ].last_used) {
			if (recv_pkt(&g, &p) && p.h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
				fwd = p.h.fwd_cnt;
		}
		if (sent > 16 * 1024 * 1024)
			break;
	}
	ok(sent < 16 * 1024 * 1024, "the guest runs out of credit while the host does not read");
	/* The host drains everything: credit comes back. */
	static char sink[1 << 20];
	size_t drained = 0;
	while (drained < sent) {
		struct pollfd pf = { .fd = hfd, .events = POLLIN };
		if (poll(&pf, 1, 2000) != 1)
			break;
		ssize_t r = read(hfd, sink, sizeof(sink));
		if (r <= 0)
			break;
		drained += r;
	}
	is_int(drained, sent, "the host reads every byte the guest sent");
	/* Updates come while the guest's view of our buffer is over half full, so the
	 * last one may leave up to half of it unacknowledged, never more. */
	while (sent - fwd > VSOCK_BUF_ALLOC / 2 && recv_pkt(&g, &p))
		if (p.h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
			fwd = p.h.fwd_cnt;
	ok(sent - fwd <= VSOCK_BUF_ALLOC / 2,
	   "CREDIT_UPDATEs give back at least half the buffer once the host consumed it");

	/* Now ignore the credit: the connection is reset, the host socket closed. */
	bool rst = false;
	for (int i = 0; i < 200 && !rst; i++) {
		send_pkt(&g, (struct hdr_args){ 7000, 1200, VIRTIO_VSOCK_OP_RW }, chunk,
			 sizeof(chunk));
		while (!rst && __atomic_load_n(&g.q[VSOCK_RXQ].used->idx, __ATOMIC_ACQUIRE) !=
				   g.q[VSOCK_RXQ].last_used)
			rst = recv_pkt(&g, &p) && p.h.op == VIRTIO_VSOCK_OP_RST;
	}
	ok(rst, "a guest sending beyond its credit gets RST");
	bool closed = false;
	for (;;) {
		struct pollfd pf = { .fd = hfd, .events = POLLIN };
		if (poll(&pf, 1, 5000) != 1)
			break;
		ssize_t r = read(hfd, sink, sizeof(sink));
		if (r <= 0) {
			closed = true;
			break;
		}
	}
	ok(closed, "and its host socket is closed");
	close(hfd);
	close(lfd);
	guest_destroy(&g);
}

/* A guest that sends no more than its own buffer size in flight (Linux caps our credit to
 * it since 6.1.y): it sends 256 KiB and waits; once the host consumed it, credit must come
 * back, though the guest never used half of our 1 MiB. */
static void test_credit_guest_capped(void)
{
	const uint32_t own = 256 * 1024;
	static char chunk[65536], sink[65536];
	struct guest g;
	struct pkt p;
	size_t drained = 0;
	bool update = false;

	guest_boot(&g, false, 64);
	int lfd = listen_on(1201, SOCK_STREAM, 8);
	int hfd = connect_pair(&g, lfd, 7001, 1201, VSOCK_STREAM, own);
	memset(chunk, 'c', sizeof(chunk));
	for (uint32_t sent = 0; sent < own; sent += sizeof(chunk))
		send_pkt(&g, (struct hdr_args){ 7001, 1201, VIRTIO_VSOCK_OP_RW, .buf_alloc = own },
			 chunk, sizeof(chunk));
	while (drained < own) {
		struct pollfd pf = { .fd = hfd, .events = POLLIN };
		ssize_t r = poll(&pf, 1, 2000) == 1 ? read(hfd, sink, sizeof(sink)) : -1;
		if (r <= 0)
			break;
		drained += (size_t)r;
	}
	while (!update && recv_pkt(&g, &p))
		update = p.h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE && own - p.h.fwd_cnt <= own / 2;
	ok(drained == own && update,
	   "a guest capped at its own 256 KiB gets credit back once the host consumed it");
	close(hfd);
	close(lfd);
	guest_destroy(&g);
}

static void test_seqpacket(void)
{
	struct guest g;
	struct pkt p;
	char buf[20000];

	guest_boot(&g, true, 32);
	int lfd = listen_on(1300, SOCK_SEQPACKET, 8);
	int hfd = connect_pair(&g, lfd, 8000, 1300, VSOCK_SEQPACKET, 0);
	ok(hfd >= 0, "SEQPACKET connection to a SEQPACKET socket");
	struct hdr_args a = { 8000, 1300, VIRTIO_VSOCK_OP_RW, VSOCK_SEQPACKET };
	send_pkt(&g, a, "first-", 6);
	a.flags = VIRTIO_VSOCK_SEQ_EOM;
	send_pkt(&g, a, "record", 6);
	send_pkt(&g, a, "second", 6);
	ssize_t n = recv(hfd, buf, sizeof(buf), 0);
	ok(n == 12 && memcmp(buf, "first-record", 12) == 0,
	   "guest fragments up to EOM make one host record");
	n = recv(hfd, buf, sizeof(buf), 0);
	ok(n == 6 && memcmp(buf, "second", 6) == 0, "the next message is its own record");
	/* fuzz_vsock_tx: an empty fragment starting a record (UBSan saw arithmetic on its
	 * buffer, which did not exist yet). */
	a.flags = 0;
	send_pkt(&g, a, NULL, 0);
	a.flags = VIRTIO_VSOCK_SEQ_EOM;
	send_pkt(&g, a, "after-empty", 11);
	n = recv(hfd, buf, sizeof(buf), 0);
	ok(n == 11 && memcmp(buf, "after-empty", 11) == 0,
	   "an empty fragment first: the record is what follows it");
	/* fuzz_vsock_tx: an empty record queued (UBSan: its flush computed a position in a
	 * buffer that did not exist). */
	a.flags = 0;
	send_pkt(&g, a, NULL, 0);
	a.flags = VIRTIO_VSOCK_SEQ_EOM;
	send_pkt(&g, a, NULL, 0);
	send_pkt(&g, a, "next", 4);
	n = recv(hfd, buf, sizeof(buf), 0);
	ssize_t n2 = recv(hfd, buf, sizeof(buf), 0);
	ok(n == 0 && n2 == 4 && memcmp(buf, "next", 4) == 0,
	   "an empty record reaches the host as one, before the next");

	memset(buf, 'r', 10000);
	ok(send(hfd, buf, 10000, 0) == 10000, "host sends a 10000-byte record");
	uint32_t got = 0, eoms = 0, frags = 0;
	bool eom_last = false;
	while (got < 10000 && recv_pkt(&g, &p)) {
		if (!is_pkt(&p, 1300, 8000, VIRTIO_VSOCK_OP_RW) || p.h.type != VSOCK_SEQPACKET)
			break;
		got += p.h.len;
		frags++;
		eoms += !!(p.h.flags & VIRTIO_VSOCK_SEQ_EOM);
		eom_last = p.h.flags & VIRTIO_VSOCK_SEQ_EOM;
	}
	ok(got == 10000 && frags == 3 && eoms == 1 && eom_last,
	   "the record reaches the guest in 3 fragments, EOM on the last");
	ok(send(hfd, "tiny", 4, 0) == 4 && recv_pkt(&g, &p) && p.h.len == 4 &&
	       (p.h.flags & VIRTIO_VSOCK_SEQ_EOM) && memcmp(p.data, "tiny", 4) == 0,
	   "a small record: one packet with EOM");
	close(hfd);
	ok(recv_pkt(&g, &p) && is_pkt(&p, 1300, 8000, VIRTIO_VSOCK_OP_SHUTDOWN) &&
	       p.h.flags == VIRTIO_VSOCK_SHUTDOWN_SEND,
	   "host closes its SEQPACKET socket: SHUTDOWN(SEND) to the guest");
	ok(send_pkt(&g, (struct hdr_args){ 8000, 1300, VIRTIO_VSOCK_OP_RST, VSOCK_SEQPACKET }, NULL,
		    0) &&
	       rx_quiet(&g),
	   "guest RST ends it");
	close(lfd);

	int sfd = listen_on(1301, SOCK_STREAM, 8);
	ok(send_pkt(&g, (struct hdr_args){ 8001, 1301, VIRTIO_VSOCK_OP_REQUEST, VSOCK_SEQPACKET },
		    NULL, 0) &&
	       expect_op(&g, 1301, 8001, VIRTIO_VSOCK_OP_RST),
	   "SEQPACKET to a STREAM socket: RST");
	close(sfd);
	guest_destroy(&g);

	guest_boot(&g, false, 8);
	lfd = listen_on(1302, SOCK_SEQPACKET, 8);
	ok(send_pkt(&g, (struct hdr_args){ 8002, 1302, VIRTIO_VSOCK_OP_REQUEST, VSOCK_SEQPACKET },
		    NULL, 0) &&
	       rx_quiet(&g),
	   "SEQPACKET without the feature negotiated: dropped");
	close(lfd);
	guest_destroy(&g);
}

static void test_malformed(void)
{
	struct guest g;
	struct pkt p;

	guest_boot(&g, false, 16);
	int lfd = listen_on(1400, SOCK_STREAM, 8);
	int hfd = connect_pair(&g, lfd, 9000, 1400, VSOCK_STREAM, 0);

	struct drv_seg shortseg = { fake_ram_buf(&ram, "short", 5), 5, false };
	ok(send_segs(&g, &shortseg, 1) && rx_quiet(&g), "a packet shorter than a header: dropped");

	struct hdr_args a = { 9000, 1400, VIRTIO_VSOCK_OP_RW };
	struct virtio_vsock_hdr h = mkhdr(&a, 4);
	h.src_cid = 7;
	ok(send_hdr(&g, &h, "data", 4) && rx_quiet(&g), "wrong src_cid: dropped");
	h = mkhdr(&a, 4);
	h.dst_cid = 3;
	ok(send_hdr(&g, &h, "data", 4) && rx_quiet(&g), "wrong dst_cid: dropped");
	h = mkhdr(&a, 4);
	h.type = 9;
	ok(send_hdr(&g, &h, "data", 4) && rx_quiet(&g), "unknown type: dropped");
	struct pollfd pf = { .fd = hfd, .events = POLLIN };
	ok(poll(&pf, 1, 0) == 0, "none of it reached the host");

	/* Header split over descriptors, payload over two more. */
	h = mkhdr(&a, 6);
	struct drv_seg split[] = { { fake_ram_buf(&ram, &h, 10), 10, false },
				   { fake_ram_buf(&ram, (char *)&h + 10, HDR - 10), HDR - 10,
				     false },
				   { fake_ram_buf(&ram, "abc", 3), 3, false },
				   { fake_ram_buf(&ram, "def", 3), 3, false } };
	char buf[16];
	ok(send_segs(&g, split, 4) && host_read(hfd, buf, 6) && memcmp(buf, "abcdef", 6) == 0,
	   "header and payload split over four descriptors are gathered");

	h = mkhdr(&a, 100);
	ok(send_hdr(&g, &h, "only-ten!!", 10) && expect_op(&g, 1400, 9000, VIRTIO_VSOCK_OP_RST),
	   "len beyond the descriptors: RST");
	ok(host_sees_eof(hfd), "and the connection is gone on the host");
	close(hfd);

	hfd = connect_pair(&g, lfd, 9001, 1400, VSOCK_STREAM, 0);
	a = (struct hdr_args){ 9001, 1400, 42 };
	ok(send_pkt(&g, a, NULL, 0) && expect_op(&g, 1400, 9001, VIRTIO_VSOCK_OP_RST),
	   "unknown op: RST");
	ok(host_sees_eof(hfd), "unknown op releases the connection");
	close(hfd);

	hfd = connect_pair(&g, lfd, 9002, 1400, VSOCK_STREAM, 0);
	a = (struct hdr_args){ 9002, 1400, VIRTIO_VSOCK_OP_RW };
	h = mkhdr(&a, VSOCK_MAX_PAYLOAD + 1);
	struct drv_seg huge[] = { { fake_ram_buf(&ram, &h, HDR), HDR, false },
				  { fake_ram_buf(&ram, NULL, VSOCK_MAX_PAYLOAD + 1),
				    VSOCK_MAX_PAYLOAD + 1, false } };
	ok(send_segs(&g, huge, 2) && expect_op(&g, 1400, 9002, VIRTIO_VSOCK_OP_RST),
	   "payload over 64 KiB: RST");
	close(hfd);

	hfd = connect_pair(&g, lfd, 9003, 1400, VSOCK_STREAM, 0);
	ok(send_pkt(&g, (struct hdr_args){ 9003, 1400, VIRTIO_VSOCK_OP_REQUEST }, NULL, 0) &&
	       expect_op(&g, 1400, 9003, VIRTIO_VSOCK_OP_RST) && host_sees_eof(hfd),
	   "a second REQUEST on a live pair: RST");
	close(hfd);
	hfd = connect_pair(&g, lfd, 9004, 1400, VSOCK_STREAM, 0);
	ok(send_pkt(&g, (struct hdr_args){ 9004, 1400, VIRTIO_VSOCK_OP_RESPONSE }, NULL, 0) &&
	       expect_op(&g, 1400, 9004, VIRTIO_VSOCK_OP_RST),
	   "RESPONSE on a connection the guest opened: RST");
	close(hfd);

	/* A chain with only writable segments carries no header. */
	struct drv_seg wr = { fake_ram_buf(&ram, NULL, 64), 64, true };
	ok(send_segs(&g, &wr, 1) && rx_quiet(&g), "a writable-only tx chain: dropped");

	/* Stray RSTs are bounded: a flood does not queue without limit. */
	for (unsigned i = 0; i < VSOCK_MAX_STRAY_RST + 50; i++)
		send_pkt(&g, (struct hdr_args){ 20000 + i, 1, VIRTIO_VSOCK_OP_CREDIT_UPDATE }, NULL,
			 0);
	unsigned rsts = 0;
	while (recv_pkt(&g, &p) && p.h.op == VIRTIO_VSOCK_OP_RST)
		rsts++;
	ok(rsts >= 50 && rsts <= VSOCK_MAX_STRAY_RST + 50, "stray packets answered with RST");

	hfd = connect_pair(&g, lfd, 9005, 1400, VSOCK_STREAM, 0);
	ok(hfd >= 0 &&
	       send_pkt(&g, (struct hdr_args){ 9005, 1400, VIRTIO_VSOCK_OP_RW }, "still", 5) &&
	       host_read(hfd, buf, 5) && memcmp(buf, "still", 5) == 0,
	   "after every malformed packet a new connection carries data");
	close(hfd);

	/* A descriptor pointing outside guest RAM breaks the tx queue, nothing worse. */
	struct drv_seg bad = { 0xdeadbeef000ULL, HDR, false };
	vring_driver_add(&g.q[VSOCK_TXQ], &bad, 1);
	kick(&g, VSOCK_TXQ);
	usleep(100 * 1000);
	ok(g.dev->vq[VSOCK_TXQ].broken, "a descriptor outside RAM breaks the queue");

	/* The guest's way out of a broken queue is a reset: the device must come back. */
	mmio_w32(&g.t, VIRTIO_MMIO_STATUS, 0);
	for (int i = 0; i < 5000 && mmio_r32(&g.t, VIRTIO_MMIO_STATUS) != 0; i++)
		usleep(1000);
	guest_start(&g, false, 16);
	hfd = connect_pair(&g, lfd, 9006, 1400, VSOCK_STREAM, 0);
	ok(hfd >= 0 &&
	       send_pkt(&g, (struct hdr_args){ 9006, 1400, VIRTIO_VSOCK_OP_RW }, "again", 5) &&
	       host_read(hfd, buf, 5) && memcmp(buf, "again", 5) == 0,
	   "the device survived it all: after a reset it carries a new connection");
	close(hfd);
	close(lfd);
	guest_destroy(&g);
}

/* Turns of the loop that saw a release in progress: fewer connections than at the reset,
 * but some. */
static unsigned probe_start, probe_mid;

/* Runs once per turn of the event loop (its fd is always readable), on the loop thread. */
static void probe(void *opaque, uint32_t events)
{
	unsigned n = to_vsock(opaque)->nconns;
	(void)events;

	if (n && n < probe_start)
		__atomic_add_fetch(&probe_mid, 1, __ATOMIC_RELAXED);
}

static unsigned vs_nconns(const struct guest *g)
{
	return __atomic_load_n(&to_vsock(g->dev)->nconns, __ATOMIC_RELAXED);
}

static void test_cap(void)
{
	struct guest g;
	struct pkt p;

	guest_boot(&g, false, 128);
	int lfd = listen_on(1500, SOCK_STREAM, 2048);
	unsigned responses = 0;
	for (unsigned i = 0; i < VSOCK_MAX_CONNECTIONS; i++) {
		send_pkt(&g, (struct hdr_args){ 30000 + i, 1500, VIRTIO_VSOCK_OP_REQUEST }, NULL,
			 0);
		if (recv_pkt(&g, &p) && is_pkt(&p, 1500, 30000 + i, VIRTIO_VSOCK_OP_RESPONSE))
			responses++;
	}
	is_int(responses, VSOCK_MAX_CONNECTIONS, "1024 connections are accepted");
	ok(send_pkt(&g, (struct hdr_args){ 40000, 1500, VIRTIO_VSOCK_OP_REQUEST }, NULL, 0) &&
	       expect_op(&g, 1500, 40000, VIRTIO_VSOCK_OP_RST),
	   "the 1025th gets RST");
	ok(send_pkt(&g, (struct hdr_args){ 30000, 1500, VIRTIO_VSOCK_OP_RST }, NULL, 0) &&
	       send_pkt(&g, (struct hdr_args){ 40000, 1500, VIRTIO_VSOCK_OP_REQUEST }, NULL, 0) &&
	       expect_op(&g, 1500, 40000, VIRTIO_VSOCK_OP_RESPONSE),
	   "after one is released, a new one fits");

	/* A reset releases them all, without one turn of the loop closing all 1024. */
	krun_error_t err = NULL;
	int efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	probe_start = vs_nconns(&g);
	if (efd < 0 || event_loop_add(g.dev->loop, efd, EPOLLIN, probe, g.dev, &err) < 0)
		drv_bail("probe fd");
	mmio_w32(&g.t, VIRTIO_MMIO_STATUS, 0);
	for (int i = 0; i < 5000 && vs_nconns(&g); i++)
		usleep(1000);
	is_int(vs_nconns(&g), 0, "a device reset releases every connection");
	ok(__atomic_load_n(&probe_mid, __ATOMIC_RELAXED) >= VSOCK_MAX_CONNECTIONS / 256 - 1,
	   "over several turns of the event loop, serving other fds in between");
	close(lfd);
	guest_destroy(&g);
	close(efd);
}

static void test_reset(void)
{
	struct guest g;

	guest_boot(&g, false, 16);
	int lfd = listen_on(1600, SOCK_STREAM, 8);
	int h1 = connect_pair(&g, lfd, 10000, 1600, VSOCK_STREAM, 0);
	int h2 = connect_pair(&g, lfd, 10001, 1600, VSOCK_STREAM, 0);
	mmio_w32(&g.t, VIRTIO_MMIO_STATUS, 0);
	ok(host_sees_eof(h1) && host_sees_eof(h2), "device reset closes every host socket");
	close(h1);
	close(h2);
	close(lfd);
	guest_destroy(&g);
}

static void test_connect_guest(void)
{
	struct guest g;
	struct pkt p;
	int sp[2];

	guest_boot(&g, false, 16);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp);
	is_int(virtio_vsock_connect_guest(g.dev, 2000, 80, VSOCK_STREAM, sp[0]), 0,
	       "host-initiated connection queued");
	ok(expect_op(&g, 2000, 80, VIRTIO_VSOCK_OP_REQUEST), "the guest gets REQUEST");
	fcntl(sp[1], F_SETFL, 0);
	ok(write(sp[1], "early", 5) == 5 && rx_quiet(&g), "no data before the guest's RESPONSE");
	ok(send_pkt(&g, (struct hdr_args){ 80, 2000, VIRTIO_VSOCK_OP_RESPONSE }, NULL, 0) &&
	       recv_pkt(&g, &p) && is_pkt(&p, 2000, 80, VIRTIO_VSOCK_OP_RW) && p.h.len == 5 &&
	       memcmp(p.data, "early", 5) == 0,
	   "after RESPONSE the host data flows");
	char buf[8];
	ok(send_pkt(&g, (struct hdr_args){ 80, 2000, VIRTIO_VSOCK_OP_RW }, "back", 4) &&
	       host_read(sp[1], buf, 4) && memcmp(buf, "back", 4) == 0,
	   "and the guest's data reaches the host fd");
	is_int(virtio_vsock_connect_guest(g.dev, 2000, 80, VSOCK_STREAM, dup(sp[1])), -EBUSY,
	       "the same pair twice: EBUSY");
	close(sp[1]);
	ok(recv_pkt(&g, &p) && is_pkt(&p, 2000, 80, VIRTIO_VSOCK_OP_SHUTDOWN),
	   "host fd closed: SHUTDOWN to the guest");

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp);
	virtio_vsock_connect_guest(g.dev, 2001, 81, VSOCK_STREAM, sp[0]);
	ok(expect_op(&g, 2001, 81, VIRTIO_VSOCK_OP_REQUEST) &&
	       send_pkt(&g, (struct hdr_args){ 81, 2001, VIRTIO_VSOCK_OP_RST }, NULL, 0),
	   "the guest refuses with RST");
	fcntl(sp[1], F_SETFL, 0);
	ok(host_sees_eof(sp[1]), "the refused connection's fd is closed");
	close(sp[1]);
	guest_destroy(&g);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A user other than the container's owner connects: with the socket's own mode it cannot;
 * with the mode opened up (the bridge's check is the second line), it is closed unserved
 * and the guest hears nothing. */
static bool stranger_refused(const char *path, struct guest *g)
{
	int status[2] = { -1, -1 };

	for (int open_mode = 0; open_mode < 2; open_mode++) {
		if (open_mode && (chmod(dir, 0711) < 0 || chmod(path, 0666) < 0))
			return false;
		pid_t pid = fork();
		if (pid == 0) {
			char c;
			if (setresgid(65534, 65534, 65534) < 0 ||
			    setresuid(65534, 65534, 65534) < 0)
				_exit(2);
			int fd = connect_unix(path);
			struct timeval two_s = { 2, 0 };
			if (fd < 0)
				_exit(errno == EACCES ? 10 : 3);
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two_s, sizeof(two_s));
			_exit(read(fd, &c, 1) == 0 ? 0 : 4);
		}
		if (waitpid(pid, &status[open_mode], 0) != pid)
			return false;
	}
	chmod(dir, 0700);
	chmod(path, 0600);
	return WIFEXITED(status[0]) && WEXITSTATUS(status[0]) == 10 && WIFEXITED(status[1]) &&
	       WEXITSTATUS(status[1]) == 0 && rx_quiet(g);
}

/* A directory whose agent.sock path is longer than sun_path holds: listened on all the same. */
static bool deep_socket_listens(void)
{
	char deep[256], path[300];
	krun_error_t err = NULL;
	struct stat st;

	snprintf(deep, sizeof(deep), "%s/%0150d", dir, 0);
	snprintf(path, sizeof(path), "%s/agent.sock", deep);
	int fd = mkdir(deep, 0700) == 0 ? agent_socket_listen(path, &err) : -1;
	bool good = fd >= 0 && strlen(path) > 108 && stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
	if (fd >= 0)
		close(fd);
	krun_error_release(&err);
	unlink(path);
	rmdir(deep);
	return good;
}

/* The exec bridge (src/agent/bridge.c): the container's socket, mode 0600, becomes a
 * connection from the bridge's host ports to the guest agent's port. */
static void test_agent_bridge(void)
{
	struct agent_bridge *b = NULL;
	krun_error_t err = NULL;
	char path[128], buf[8];
	struct stat st;
	struct guest g;
	struct pkt p;
	int lfd, fd;

	snprintf(path, sizeof(path), "%s/agent.sock", dir);
	guest_boot(&g, false, 16);
	lfd = agent_socket_listen(path, &err);
	ok(lfd >= 0 && stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600,
	   "agent.sock is a socket of mode 0600");
	ok(deep_socket_listens(), "in a state directory deeper than sun_path, as docker's");
	ok(agent_bridge_new(g.dev->loop, g.dev, lfd, 0, &b, &err) == 0, "the bridge serves it");
	fd = connect_unix(path);
	ok(fd >= 0 &&
	       expect_op(&g, AGENT_HOST_PORT_BASE, AGENT_VSOCK_PORT, VIRTIO_VSOCK_OP_REQUEST),
	   "a connection to it asks the guest's agent port for one, from the bridge's ports");
	ok(send_pkt(&g,
		    (struct hdr_args){ AGENT_VSOCK_PORT, AGENT_HOST_PORT_BASE,
				       VIRTIO_VSOCK_OP_RESPONSE },
		    NULL, 0) &&
	       write(fd, "exec", 4) == 4 && recv_pkt(&g, &p) &&
	       is_pkt(&p, AGENT_HOST_PORT_BASE, AGENT_VSOCK_PORT, VIRTIO_VSOCK_OP_RW) &&
	       p.h.len == 4 && !memcmp(p.data, "exec", 4) &&
	       send_pkt(
		   &g,
		   (struct hdr_args){ AGENT_VSOCK_PORT, AGENT_HOST_PORT_BASE, VIRTIO_VSOCK_OP_RW },
		   "back", 4) &&
	       host_read(fd, buf, 4) && !memcmp(buf, "back", 4),
	   "bytes flow both ways, untouched");
	ok(stranger_refused(path, &g),
	   "a user who does not own the container cannot connect, and is closed unserved "
	   "when the mode would let it");
	int second = connect_unix(path);
	ok(second >= 0 &&
	       expect_op(&g, AGENT_HOST_PORT_BASE + 1, AGENT_VSOCK_PORT, VIRTIO_VSOCK_OP_REQUEST),
	   "the next connection takes the next host port");
	close(second);
	close(fd);
	agent_bridge_free(b);
	guest_destroy(&g);
	krun_error_release(&err);
}

/* An rx buffer with room for a header only carries no data: it comes back empty and the
 * data goes into the next one. */
static void test_tiny_rx_buffer(void)
{
	struct guest g;
	struct pkt p;
	uint32_t id, len;

	guest_boot(&g, false, 0);
	int lfd = listen_on(1700, SOCK_STREAM, 8);
	struct hdr_args a = { 11000, 1700, VIRTIO_VSOCK_OP_REQUEST };
	send_pkt(&g, a, NULL, 0);
	int hfd = accept_timeout(lfd);
	struct drv_seg one = { fake_ram_buf(&ram, NULL, HDR + 64), HDR + 64, true };
	vring_driver_add(&g.q[VSOCK_RXQ], &one, 1);
	kick(&g, VSOCK_RXQ);
	ok(wait_used(&g, VSOCK_RXQ, &id, &len) && len == HDR, "RESPONSE once a buffer comes");
	ok(write(hfd, "abc", 3) == 3 && rx_quiet(&g), "host data waits for a buffer");
	struct drv_seg tiny = { fake_ram_buf(&ram, NULL, HDR), HDR, true };
	vring_driver_add(&g.q[VSOCK_RXQ], &tiny, 1);
	kick(&g, VSOCK_RXQ);
	ok(wait_used(&g, VSOCK_RXQ, &id, &len) && len == 0,
	   "a header-only buffer is returned empty");
	add_rx(&g, 1);
	ok(recv_pkt(&g, &p) && is_pkt(&p, 1700, 11000, VIRTIO_VSOCK_OP_RW) && p.h.len == 3,
	   "the data goes into the next buffer, none is lost");
	close(hfd);
	close(lfd);
	guest_destroy(&g);
}

/* The heap in use, every arena and mmapped chunk counted. */
static size_t heap_used(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

/* The guest sends count RW packets of len bytes (header and payload in one descriptor,
 * as any driver may lay them out), a ring at a time, and waits for the device to take
 * them all. Payload bytes count up from *seq. */
static bool flood(struct guest *g, struct hdr_args a, uint32_t count, uint32_t len, uint8_t *seq)
{
	static uint64_t slot[QSIZE];
	struct vring_driver *d = &g->q[VSOCK_TXQ];
	uint32_t id, used_len;

	for (unsigned i = 0; i < QSIZE; i++)
		if (!slot[i])
			slot[i] = fake_ram_buf(&ram, NULL, HDR + 64);
	while (count) {
		unsigned n = count < QSIZE ? count : QSIZE;
		for (unsigned i = 0; i < n; i++) {
			uint8_t *p = fake_ram_ptr(&ram, slot[i]);
			struct virtio_vsock_hdr h = mkhdr(&a, len);
			memcpy(p, &h, HDR);
			for (uint32_t k = 0; k < len; k++)
				p[HDR + k] = (*seq)++;
			struct drv_seg s = { slot[i], HDR + len, false };
			vring_driver_add(d, &s, 1);
		}
		kick(g, VSOCK_TXQ);
		for (unsigned got = 0, idle = 0; got < n;) {
			if (vring_driver_used(d, &id, &used_len)) {
				got++;
				idle = 0;
			} else if (++idle > 100000) {
				return false;
			} else {
				usleep(50);
			}
		}
		count -= n;
	}
	return true;
}

/* Whether an RST for the pair comes among what the guest receives within 100 ms. */
static bool saw_rst(struct guest *g, uint32_t host_port, uint32_t guest_port)
{
	struct pkt p;
	bool rst = false;

	while (!rx_quiet(g))
		while (__atomic_load_n(&g->q[VSOCK_RXQ].used->idx, __ATOMIC_ACQUIRE) !=
		       g->q[VSOCK_RXQ].last_used)
			if (recv_pkt(g, &p) &&
			    is_pkt(&p, host_port, guest_port, VIRTIO_VSOCK_OP_RST))
				rst = true;
	return rst;
}

/* 1-byte packets to a host socket that never reads: the queue costs about its payload,
 * not a buffer per packet; the data reaches the host whole once it reads. */
static void test_small_packet_flood(void)
{
	struct guest g;
	uint8_t seq = 0;
	static uint8_t sink[VSOCK_BUF_ALLOC];

	guest_boot(&g, false, 64);
	int lfd = listen_on(1800, SOCK_STREAM, 8);
	int hfd = connect_pair(&g, lfd, 12000, 1800, VSOCK_STREAM, 0);
	size_t before = heap_used();
	ok(flood(&g, (struct hdr_args){ 12000, 1800, VIRTIO_VSOCK_OP_RW }, VSOCK_BUF_ALLOC, 1,
		 &seq),
	   "the guest sends its whole credit as 1-byte packets");
	size_t grown = heap_used() - before;
	printf("# heap growth for %u 1-byte packets: %zu bytes\n", VSOCK_BUF_ALLOC, grown);
	ok(grown < 4u << 20, "the heap grows by less than 4 MiB");
	ok(grown <= 2 * VSOCK_BUF_ALLOC, "and by no more than twice the connection's window");
	ok(!saw_rst(&g, 1800, 12000), "a guest within its credit is not reset");
	ok(host_read(hfd, sink, sizeof(sink)), "the host reads every byte");
	bool in_order = true;
	for (size_t i = 0; i < sizeof(sink); i++)
		in_order &= sink[i] == (uint8_t)i;
	ok(in_order, "in the order sent");
	close(hfd);
	close(lfd);
	guest_destroy(&g);
}

/* SEQPACKET records cost more than their bytes; the guest floods a host socket that does
 * not read with records of len bytes (after `first` records of 1 byte, so that the socket
 * is full). The connection is reset before its queue holds more than twice the window. */
static void record_flood(uint32_t port, uint32_t first, uint32_t len, const char *what)
{
	struct guest g;
	uint8_t seq = 0;
	struct hdr_args a = { 12001 + port, 1801 + port, VIRTIO_VSOCK_OP_RW, VSOCK_SEQPACKET,
			      VIRTIO_VSOCK_SEQ_EOM };

	guest_boot(&g, true, 64);
	int lfd = listen_on(a.dst_port, SOCK_SEQPACKET, 8);
	int hfd = connect_pair(&g, lfd, a.src_port, a.dst_port, VSOCK_SEQPACKET, 0);
	char name[128];
	size_t before = heap_used();
	snprintf(name, sizeof(name), "the guest sends 100000 %s", what);
	ok(flood(&g, a, first, 1, &seq) && flood(&g, a, 100000, len, &seq), name);
	size_t grown = heap_used() - before;
	printf("# heap growth: %zu bytes\n", grown);
	snprintf(name, sizeof(name), "%s to a host socket that does not read: RST", what);
	ok(saw_rst(&g, a.dst_port, a.src_port), name);
	ok(grown <= 2 * VSOCK_BUF_ALLOC, "before the queue holds more than twice the window");
	ok(host_drains_to_eof(hfd), "and the host socket is closed");
	close(hfd);
	close(lfd);
	guest_destroy(&g);
}

static void test_record_flood(void)
{
	record_flood(0, 0, 1, "1-byte records");
	record_flood(1, 1000, 0, "empty records");
}

/* The guest sends up to its whole credit in 64 KiB packets, or until an RST comes. */
static bool fill_credit(struct guest *g, uint32_t gp, uint32_t hp)
{
	static char chunk[65536];

	for (uint32_t sent = 0; sent < VSOCK_BUF_ALLOC; sent += sizeof(chunk))
		send_pkt(g, (struct hdr_args){ gp, hp, VIRTIO_VSOCK_OP_RW }, chunk, sizeof(chunk));
	return !saw_rst(g, hp, gp);
}

static size_t vm_mem(struct guest *g)
{
	return __atomic_load_n(&to_vsock(g->dev)->mem, __ATOMIC_RELAXED);
}

/* The VM's cap on queued memory: beyond half of it new connections get RST, and the
 * connection whose packet would take it beyond the cap is reset; memory coming back lets
 * connections in again. */
static void test_vm_queue_cap(void)
{
	struct guest g;
	struct pkt p;
	int h[3];

	guest_boot(&g, false, 64);
	int lfd = listen_on(1900, SOCK_STREAM, 8);
	for (unsigned i = 0; i < 3; i++)
		h[i] = connect_pair(&g, lfd, 13000 + i, 1900, VSOCK_STREAM, 0);
	ok(fill_credit(&g, 13000, 1900), "a connection fills its credit");
	size_t one = vm_mem(&g);
	ok(one > VSOCK_BUF_ALLOC / 2, "its queue is charged to the VM");
	size_t cap = 2 * one + one / 2;
	virtio_vsock_set_queue_limit(g.dev, cap);
	ok(fill_credit(&g, 13001, 1900), "a second one fits the cap");
	ok(send_pkt(&g, (struct hdr_args){ 13010, 1900, VIRTIO_VSOCK_OP_REQUEST }, NULL, 0) &&
	       saw_rst(&g, 1900, 13010),
	   "beyond half the cap a new connection gets RST");
	ok(!fill_credit(&g, 13002, 1900),
	   "the packet that would pass the cap resets its connection");
	ok(vm_mem(&g) <= cap, "the queued memory stays within the cap");
	ok(host_drains_to_eof(h[2]), "the reset connection's host socket is closed");
	static char sink[VSOCK_BUF_ALLOC];
	ok(host_read(h[0], sink, sizeof(sink)), "a host socket reads its connection's data");
	bool back = false;
	for (int i = 0; i < 50 && !back; i++) {
		send_pkt(&g, (struct hdr_args){ 13020 + i, 1900, VIRTIO_VSOCK_OP_REQUEST }, NULL,
			 0);
		while (!back && recv_pkt(&g, &p))
			if (is_pkt(&p, 1900, 13020 + i, VIRTIO_VSOCK_OP_RESPONSE))
				back = true;
			else if (is_pkt(&p, 1900, 13020 + i, VIRTIO_VSOCK_OP_RST))
				break;
	}
	ok(back, "once that memory is freed, new connections are accepted again");
	for (unsigned i = 0; i < 3; i++)
		close(h[i]);
	close(lfd);
	guest_destroy(&g);
}

int main(void)
{
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!mkdtemp(dir))
		drv_bail("mkdtemp");
	fake_ram_init(&ram, 1ULL << 32);
	test_config();
	test_stream();
	test_credit_to_guest();
	test_credit_from_guest();
	test_credit_guest_capped();
	test_seqpacket();
	test_malformed();
	test_cap();
	test_reset();
	test_connect_guest();
	test_agent_bridge();
	test_tiny_rx_buffer();
	test_small_packet_flood();
	test_record_flood();
	test_vm_queue_cap();
	fake_ram_free(&ram);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
