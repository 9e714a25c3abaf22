/* The guest's side of the vsock harnesses; see vsock_guest.h. */
#include "vsock_guest.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEATURES(seq, ev)                                                                          \
	((1ULL << VIRTIO_F_VERSION_1) | (ev ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0) |               \
	 (seq ? 1ULL << VIRTIO_VSOCK_F_SEQPACKET : 0))

void vg_init(struct vg *g, uint64_t ram_size)
{
	memset(g, 0, sizeof(*g));
	fake_ram_init(&g->ram, ram_size);
}

/* Rings at the start of RAM; the rest is for buffers, given out afresh by each input. */
static void setup_queues(struct vg *g, bool event_idx)
{
	if (!(mmio_negotiate(&g->t, FEATURES(g->seqpacket, event_idx)) &
	      VIRTIO_CONFIG_S_FEATURES_OK))
		fuzz_fail("vsock refused its features");
	g->ram.next = FAKE_RAM_BASE;
	for (unsigned q = 0; q < VSOCK_NUM_QUEUES; q++) {
		vring_driver_init(&g->q[q], &g->ram, VG_QSIZE);
		mmio_setup_queue(&g->t, q, &g->q[q]);
		g->outstanding[q] = 0;
	}
	memset(g->tx_ndesc, 0, sizeof(g->tx_ndesc));
	g->ram_limit = FAKE_RAM_BASE + g->ram.size;
	mmio_w32(&g->t, VIRTIO_MMIO_STATUS, 0xf);
	if (mmio_r32(&g->t, VIRTIO_MMIO_STATUS) != 0xf)
		fuzz_fail("vsock refused DRIVER_OK");
}

void vg_boot(struct vg *g, struct vsock_backend *b, bool seqpacket, bool event_idx)
{
	struct vsock_config cfg = { .backend = b };
	krun_error_t err = NULL;

	g->seqpacket = seqpacket;
	if (virtio_vsock_new(&cfg, &g->dev, &err) < 0 ||
	    virtio_mmio_init(&g->t, g->dev, &g->ram.mem, &err) < 0 ||
	    event_loop_new(&g->dev->loop, &err) < 0)
		fuzz_fail("vsock device: %s", err->msg);
	setup_queues(g, event_idx);
	g->up = true;
}

void vg_reset(struct vg *g, bool event_idx)
{
	mmio_w32(&g->t, VIRTIO_MMIO_STATUS, 0);
	vg_poll(g, 4); /* the loop releases the connections */
	setup_queues(g, event_idx);
}

void vg_destroy(struct vg *g)
{
	struct event_loop *loop = g->dev->loop;

	g->dev->ops->destroy(g->dev);
	virtio_mmio_release(&g->t);
	event_loop_free(loop);
	g->dev = NULL;
	g->up = false;
}

void vg_poll(struct vg *g, int turns)
{
	fuzz_loop_poll(g->dev->loop, turns);
}

static bool room(struct vg *g, uint64_t len)
{
	return ((g->ram.next + 7) & ~7ULL) + len <= g->ram_limit;
}

void vg_add_rx(struct vg *g, unsigned n, uint32_t size)
{
	struct vring_driver *d = &g->q[VSOCK_RXQ];

	for (unsigned i = 0; i < n && g->outstanding[VSOCK_RXQ] < VG_QSIZE && room(g, size); i++) {
		struct drv_seg s = { fake_ram_buf(&g->ram, NULL, size), size, true };
		uint16_t head = vring_driver_add(d, &s, 1);
		g->rx_len[head] = size;
		g->outstanding[VSOCK_RXQ]++;
	}
	mmio_w32(&g->t, VIRTIO_MMIO_QUEUE_NOTIFY, VSOCK_RXQ);
}

/* What Linux's driver would refuse: the device must never send it. */
static void check_rx(struct vg *g, uint32_t id, uint32_t len)
{
	struct virtio_vsock_hdr h;

	if (id >= VG_QSIZE || len > g->rx_len[id])
		fuzz_fail("rx used element %u of %u bytes (buffer %u)", id, len,
			  id < VG_QSIZE ? g->rx_len[id] : 0);
	if (len == 0)
		return; /* a buffer given back unused */
	const uint8_t *buf = fake_ram_ptr(&g->ram, g->q[VSOCK_RXQ].desc[id].addr);
	if (len < VG_HDR)
		fuzz_fail("rx packet of %u bytes", len);
	memcpy(&h, buf, VG_HDR);
	if (h.src_cid != VSOCK_HOST_CID || h.dst_cid != VSOCK_GUEST_CID || h.len != len - VG_HDR ||
	    h.op < VIRTIO_VSOCK_OP_REQUEST || h.op > VIRTIO_VSOCK_OP_CREDIT_REQUEST ||
	    (h.type != VSOCK_STREAM && !(h.type == VSOCK_SEQPACKET && g->seqpacket)))
		fuzz_fail("bad rx packet: op %u type %u len %u in %u", h.op, h.type, h.len, len);
	if (h.len && h.op != VIRTIO_VSOCK_OP_RW)
		fuzz_fail("payload on op %u", h.op);
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "rx op %u %u->%u len %u\n", h.op, h.src_port, h.dst_port, h.len);
	if (g->on_rx)
		g->on_rx(g->opaque, &h, buf + VG_HDR);
}

void vg_reap(struct vg *g)
{
	uint32_t id, len;

	while (vring_driver_used(&g->q[VSOCK_RXQ], &id, &len)) {
		check_rx(g, id, len);
		g->outstanding[VSOCK_RXQ]--;
	}
	while (vring_driver_used(&g->q[VSOCK_TXQ], &id, &len)) {
		if (id >= VG_QSIZE || !g->tx_ndesc[id])
			fuzz_fail("tx used element %u was not given", id);
		g->outstanding[VSOCK_TXQ] -= g->tx_ndesc[id];
		g->tx_ndesc[id] = 0;
	}
}

bool vg_send(struct vg *g, const struct virtio_vsock_hdr *h, const uint8_t *payload, uint32_t len,
	     const uint32_t *cuts, unsigned ncuts, bool writable_tail)
{
	struct drv_seg segs[8];
	uint32_t total = VG_HDR + len, off = 0;
	unsigned n = 0;

	if (g->outstanding[VSOCK_TXQ] + ncuts + 4 > VG_QSIZE || !room(g, total + 64 + 8 * 8))
		return false;
	uint64_t gpa = fake_ram_buf(&g->ram, h, VG_HDR);
	uint64_t pgpa = fake_ram_alloc(&g->ram, len, 1);
	if (len)
		memcpy(fake_ram_ptr(&g->ram, pgpa), payload, len);
	/* hdr and payload are separate buffers; a cut inside either splits it. */
	uint32_t points[10];
	unsigned np = 0;
	for (unsigned i = 0; i < ncuts && np < 6; i++)
		if (cuts[i] > off && cuts[i] < total)
			points[np++] = off = cuts[i];
	if (len && (np == 0 || points[np - 1] != VG_HDR)) {
		/* Linux puts the payload in its own segment: keep that boundary too. */
		unsigned k = 0;
		while (k < np && points[k] < VG_HDR)
			k++;
		if (k == np || points[k] != VG_HDR) {
			memmove(points + k + 1, points + k, (np - k) * sizeof(points[0]));
			points[k] = VG_HDR;
			np++;
		}
	}
	points[np++] = total;
	off = 0;
	for (unsigned i = 0; i < np; i++) {
		uint32_t end = points[i];
		uint64_t at = off < VG_HDR ? gpa + off : pgpa + (off - VG_HDR);
		segs[n++] = (struct drv_seg){ at, end - off, false };
		off = end;
	}
	if (writable_tail)
		segs[n++] = (struct drv_seg){ fake_ram_buf(&g->ram, NULL, 64), 64, true };
	uint16_t head = vring_driver_add(&g->q[VSOCK_TXQ], segs, n);
	g->tx_ndesc[head] = n;
	g->outstanding[VSOCK_TXQ] += n;
	mmio_w32(&g->t, VIRTIO_MMIO_QUEUE_NOTIFY, VSOCK_TXQ);
	return true;
}
