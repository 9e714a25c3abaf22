/* The virtio-mmio register state machine, apart from its KVM registration so that unit
 * tests can drive it without a VM. virtio_mmio_attach (virtio_mmio.c) wraps it. */
#ifndef KRUN_DEVICES_VIRTIO_MMIO_INTERNAL_H
#define KRUN_DEVICES_VIRTIO_MMIO_INTERNAL_H

#include <pthread.h>
#include "devices/virtio/virtio.h"

struct virtio_mmio {
	struct virtio_device *dev;
	/* What virtio_mmio_init allocated, kept here so that release works after the
	 * device itself was destroyed. */
	unsigned num_queues;
	struct virtqueue *vq;
	int *kick_fd;
	int irq_fd;
	pthread_mutex_t lock; /* vCPU threads access the registers concurrently */
	uint64_t device_features;
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel;
	uint32_t queue_sel;
};

/* Allocates dev->vq, dev->kick_fd[] and dev->irq_fd (non-blocking eventfds) and binds the
 * transport to dev and mem. dev->loop is left to the caller. */
int virtio_mmio_init(struct virtio_mmio *t, struct virtio_device *dev, struct guest_mem *mem,
		     krun_error_t *err);
/* Closes the eventfds and frees what virtio_mmio_init allocated. Does not touch the
 * device, which may already be destroyed. */
void virtio_mmio_release(struct virtio_mmio *t);

/* The MMIO handlers; opaque is the struct virtio_mmio. */
void virtio_mmio_read(void *opaque, uint64_t offset, void *data, unsigned len);
void virtio_mmio_write(void *opaque, uint64_t offset, const void *data, unsigned len);

#endif
