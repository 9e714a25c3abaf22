/* Split virtqueues (virtio 1.x), driven by the device side. The guest owns the rings, so
 * every descriptor address, length, index and flag read from them is checked before use;
 * a malformed chain marks the queue broken instead of harming the VMM. Supports
 * VIRTIO_RING_F_INDIRECT_DESC and VIRTIO_RING_F_EVENT_IDX. */
#ifndef KRUN_DEVICES_VIRTQUEUE_H
#define KRUN_DEVICES_VIRTQUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "vm/guest_mem.h"

#define VIRTQUEUE_MAX_SIZE 1024
/* A chain may not have more segments than this, indirect tables included. */
#define VIRTQUEUE_MAX_SEGS 1024

struct virtqueue {
	/* Written by the transport from the driver's registers before activation. */
	uint16_t size;
	uint16_t max_size;
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* Set by virtqueue_activate. */
	const struct guest_mem *mem;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	bool event_idx;
	bool broken;
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used;
	bool signalled_used_valid;
	pthread_mutex_t lock; /* serialises pop/push when several threads share a queue */
};

/* One request: the device-readable segments first (out), then the device-writable ones
 * (in), as host pointers already checked against guest RAM. */
struct vq_chain {
	uint16_t head;
	unsigned nout, nin;
	size_t out_len, in_len;
	struct iovec *out; /* = iov */
	struct iovec *in;  /* = iov + nout */
	struct iovec iov[VIRTQUEUE_MAX_SEGS];
};

void virtqueue_init(struct virtqueue *vq, uint16_t max_size);
/* Resets the indices and forgets the rings (driver reset). */
void virtqueue_reset(struct virtqueue *vq);

/* Checks that the rings lie in guest RAM with the required alignment and resolves them.
 * Returns 0 or -EINVAL. */
int virtqueue_activate(struct virtqueue *vq, const struct guest_mem *mem, bool event_idx);

/* Takes the next available chain. Returns 1 with *chain filled, 0 when the ring is
 * empty (notifications stay armed, so the guest's next kick reports new buffers), -EINVAL when the
 * guest gave a malformed chain (the queue is then broken and every later call returns -EINVAL).
 * Thread safe. */
int virtqueue_pop(struct virtqueue *vq, struct vq_chain *chain);

/* Returns a chain to the guest with `written` bytes written into its in segments.
 * Thread safe. */
void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written);

/* After one or more pushes: whether the guest asked to be interrupted (EVENT_IDX or
 * VRING_AVAIL_F_NO_INTERRUPT). Thread safe. */
bool virtqueue_should_signal(struct virtqueue *vq);

/* Makes sure the guest notifies the next buffer it adds (the device never suppresses
 * notifications) and returns true when buffers are already waiting: after pop found the
 * ring empty, a caller that would sleep until the next kick drains again instead. */
bool virtqueue_enable_notify(struct virtqueue *vq);

/* Copy helpers over a chain's segments. They return the number of bytes copied, which
 * is short when the segments are shorter than asked. `offset` skips bytes first. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf,
		    size_t len);

#endif
