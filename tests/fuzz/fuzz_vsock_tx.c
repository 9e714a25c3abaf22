/* Fuzzes the virtio-vsock packet path (src/devices/vsock: tx.c, conn.c, rx.c) as a hostile
 * guest drives it: packets on the tx queue with any header (ports, op, type, flags, credit
 * fields, a length that may disagree with the descriptors) and payloads cut into segments
 * anywhere, interleaved with receive buffers given and taken back, host sockets that write,
 * read, half-close or close, host-initiated connections and device resets. The host side
 * is a backend of socketpairs whose far ends the harness holds (some with tiny send
 * buffers, so that guest data queues in the device).
 *
 * The device and its event loop are created afresh for each input and run on this thread;
 * every packet it gives the guest is checked (vsock_guest.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vsock_guest.h"

#define MAX_PEERS   32
#define MAX_ACTIONS 32
#define MAX_PAYLOAD (64 * 1024 + 16)

struct fuzz_backend {
	struct vsock_backend b;
	int peers[MAX_PEERS]; /* the host ends the harness holds */
	unsigned npeers;
	bool small_buffers;
};

static struct vg G;
static struct fuzz_backend *B;
static uint8_t payload[MAX_PAYLOAD];

static int fb_connect(struct vsock_backend *b, uint32_t host_port, uint32_t guest_port,
		      enum vsock_type type)
{
	struct fuzz_backend *fb = container_of(b, struct fuzz_backend, b);
	int sp[2];

	if (host_port % 4 == 3 || fb->npeers == MAX_PEERS)
		return -ECONNREFUSED;
	int st = type == VSOCK_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
	if (socketpair(AF_UNIX, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	if (fb->small_buffers || host_port % 4 == 2) {
		int small = 1024;
		setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	fb->peers[fb->npeers++] = sp[1];
	return sp[0];
}

static void fb_destroy(struct vsock_backend *b)
{
	struct fuzz_backend *fb = container_of(b, struct fuzz_backend, b);

	for (unsigned i = 0; i < fb->npeers; i++)
		if (fb->peers[i] >= 0)
			close(fb->peers[i]);
	free(fb);
}

static const struct vsock_backend_ops fb_ops = { .connect = fb_connect, .destroy = fb_destroy };

static int *peer(struct fuzz_in *in)
{
	uint8_t sel = fin_u8(in);

	return B->npeers ? &B->peers[sel % B->npeers] : NULL;
}

/* A header as the guest's driver would build it, every field open to the input. */
static void packet(struct fuzz_in *in)
{
	uint8_t ctl = fin_u8(in), ports = fin_u8(in), op = fin_u8(in), flags = fin_u8(in);
	struct virtio_vsock_hdr h = {
		.src_cid = VSOCK_GUEST_CID,
		.dst_cid = VSOCK_HOST_CID,
		.src_port = 1024 + (ports & 7),
		.dst_port = ports >> 3 & 7,
		.op = op % 9,
		.type = ctl & 1 ? VSOCK_SEQPACKET : VSOCK_STREAM,
		.flags = flags,
		.buf_alloc = 256 * 1024,
	};
	/* Fields in the input's order (an initializer's order of evaluation is unspecified). */
	if (ctl & 2)
		h.buf_alloc = fin_u32(in);
	if (ctl & 4)
		h.fwd_cnt = fin_u32(in);
	uint32_t len = fin_u16(in);

	if (ctl & 8) { /* raw addressing and type */
		h.src_cid = fin_u64(in);
		h.dst_cid = fin_u64(in);
		h.src_port = fin_u32(in);
		h.dst_port = fin_u32(in);
		h.type = fin_u16(in);
	}
	if (ctl & 16)
		h.flags = fin_u32(in);
	if (ctl & 32)
		len += 65536 - 256; /* around VSOCK_MAX_PAYLOAD */
	if (len > MAX_PAYLOAD)
		len = MAX_PAYLOAD;
	/* Zero padding beyond the input stays small, except for the big packets. */
	if (!(ctl & 32) && len > in->left + 64)
		len = in->left + 64;
	fin_bytes(in, payload, len);
	h.len = len;
	if (ctl & 64) /* a length that disagrees with the descriptors */
		h.len = fin_u32(in);
	uint32_t cuts[4];
	unsigned ncuts = fin_u8(in) % 5;
	for (unsigned i = 0; i < ncuts; i++)
		cuts[i] = fin_u16(in) % (VG_HDR + len + 1);
	for (unsigned i = 1; i < ncuts; i++) /* increasing */
		if (cuts[i] < cuts[i - 1])
			cuts[i] = cuts[i - 1];
	vg_send(&G, &h, payload, len, cuts, ncuts, ctl & 128);
}

static void host_write(struct fuzz_in *in)
{
	int *p = peer(in);
	uint32_t len = fin_u16(in) % 8192;

	if (len > in->left + 64)
		len = in->left + 64;
	fin_bytes(in, payload, len);
	if (p && *p >= 0)
		(void)!send(*p, payload, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void host_read(struct fuzz_in *in)
{
	int *p = peer(in);

	if (p && *p >= 0)
		while (recv(*p, payload, sizeof(payload), MSG_DONTWAIT) > 0)
			;
}

static void host_close(struct fuzz_in *in)
{
	uint8_t how = fin_u8(in);
	int *p = peer(in);

	if (!p || *p < 0)
		return;
	if (how % 4 == 3) {
		close(*p);
		*p = -1;
	} else {
		shutdown(*p, how % 4 == 0 ? SHUT_RD : how % 4 == 1 ? SHUT_WR : SHUT_RDWR);
	}
}

static void host_connect(struct fuzz_in *in)
{
	uint8_t ports = fin_u8(in), type = fin_u8(in);
	int sp[2];
	int st = type & 1 ? SOCK_SEQPACKET : SOCK_STREAM;

	if (B->npeers == MAX_PEERS ||
	    socketpair(AF_UNIX, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0)
		return;
	B->peers[B->npeers++] = sp[1];
	/* Takes sp[0] whatever happens. */
	virtio_vsock_connect_guest(G.dev, ports & 7, 1024 + (ports >> 3 & 7),
				   type & 1 ? VSOCK_SEQPACKET : VSOCK_STREAM, sp[0]);
}

enum { A_PACKET, A_RX, A_REAP, A_WRITE, A_READ, A_CLOSE, A_CONNECT, A_DUP, A_RESET, A_NUM };

static void action(struct fuzz_in *in, bool event_idx)
{
	switch (fin_u8(in) % A_NUM) {
	case A_PACKET:
		packet(in);
		break;
	case A_RX: {
		uint8_t n = fin_u8(in), size = fin_u8(in);
		/* Mostly buffers like Linux's; sometimes too small for a header. */
		vg_add_rx(&G, 1 + n % 16, size < 16 ? size * 4 : VG_HDR + size * 64);
		break;
	}
	case A_REAP:
		vg_reap(&G);
		break;
	case A_WRITE:
		host_write(in);
		break;
	case A_READ:
		host_read(in);
		break;
	case A_CLOSE:
		host_close(in);
		break;
	case A_CONNECT:
		host_connect(in);
		break;
	case A_DUP: {
		uint8_t ports = fin_u8(in);
		int fd = virtio_vsock_dup_host_fd(G.dev, ports & 7, 1024 + (ports >> 3 & 7));
		if (fd >= 0)
			close(fd);
		break;
	}
	case A_RESET:
		vg_reset(&G, event_idx);
		break;
	}
	vg_poll(&G, 8);
	vg_reap(&G);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vg_init(&G, 4 << 20);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t setup = fin_u8(&in);

	B = calloc(1, sizeof(*B));
	B->b.ops = &fb_ops;
	B->small_buffers = setup & 4;
	vg_boot(&G, &B->b, setup & 1, setup & 2);
	vg_add_rx(&G, 16, VG_HDR + 4096);
	vg_poll(&G, 4);
	for (unsigned i = 0; i < MAX_ACTIONS && !fin_done(&in); i++)
		action(&in, setup & 2);
	vg_destroy(&G);
	return 0;
}
