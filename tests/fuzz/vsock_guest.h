/* The guest side shared by the vsock and TSI harnesses: a virtio-vsock device over fake
 * guest RAM, driven through its transport registers, with its event loop turned on the
 * harness's own thread. Every packet the device gives the guest is checked. */
#ifndef KRUN_TESTS_FUZZ_VSOCK_GUEST_H
#define KRUN_TESTS_FUZZ_VSOCK_GUEST_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/vsock/internal.h"
#include "fuzz_util.h"
#include "vring_driver.h"

#define VG_QSIZE 64
#define VG_HDR	 ((uint32_t)sizeof(struct virtio_vsock_hdr))

struct vg {
	struct fake_ram ram;
	uint64_t ram_limit; /* what one input may allocate of it */
	struct virtio_device *dev;
	struct virtio_mmio t;
	struct vring_driver q[VSOCK_NUM_QUEUES];
	unsigned outstanding[VSOCK_NUM_QUEUES]; /* descriptors the device holds */
	uint32_t rx_len[VG_QSIZE];		/* size of the rx buffer at each head */
	uint8_t tx_ndesc[VG_QSIZE];		/* descriptors of the tx chain at each head */
	bool seqpacket;
	bool up;
	/* Called for each packet the device delivered (after the checks). */
	void (*on_rx)(void *opaque, const struct virtio_vsock_hdr *h, const uint8_t *payload);
	void *opaque;
};

/* Once per process. */
void vg_init(struct vg *g, uint64_t ram_size);
/* Creates the device on backend b, negotiates (SEQPACKET when asked) and sets it up. */
void vg_boot(struct vg *g, struct vsock_backend *b, bool seqpacket, bool event_idx);
/* Driver reset (status 0), then negotiation and set-up again. */
void vg_reset(struct vg *g, bool event_idx);
void vg_destroy(struct vg *g);
/* Runs the event loop until it is idle (at most `turns` batches). */
void vg_poll(struct vg *g, int turns);
/* Adds n receive buffers of `size` bytes (as many as fit). */
void vg_add_rx(struct vg *g, unsigned n, uint32_t size);
/* Takes back what the device used on the rx queue (checking each packet) and the tx one. */
void vg_reap(struct vg *g);
/* Sends one packet: hdr then payload, cut into segments at the points in cuts[] (offsets
 * into the hdr+payload bytes, increasing), and a writable segment after when asked. False
 * when there was no room (descriptors or RAM). */
bool vg_send(struct vg *g, const struct virtio_vsock_hdr *h, const uint8_t *payload, uint32_t len,
	     const uint32_t *cuts, unsigned ncuts, bool writable_tail);

#endif
