/* A virtio device as the transport sees it. Devices implement a const ops table and embed
 * struct virtio_device in their own state (container_of to get back). The transport
 * (virtio_mmio.c) owns the registers, feature negotiation, queue setup, the notify
 * eventfds and the interrupt; the device never touches registers. */
#ifndef KRUN_DEVICES_VIRTIO_H
#define KRUN_DEVICES_VIRTIO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "util/error.h"
#include "vm/bus.h"
#include "devices/virtio/virtqueue.h"

struct virtio_device;

struct virtio_device_ops {
	const char *name;
	uint32_t device_id;  /* VIRTIO_ID_* */
	unsigned num_queues; /* fixed for the device's lifetime */
	uint16_t queue_max_size;
	uint64_t features;    /* device-specific bits; the transport adds VERSION_1,
				 RING_INDIRECT_DESC and RING_EVENT_IDX itself */
	uint32_t config_size; /* bytes of device config space */

	/* [offset, offset + len) is inside config_size (the transport checked). */
	void (*config_read)(struct virtio_device *dev, uint32_t offset, void *data, uint32_t len);
	/* May be NULL: writes are then ignored. */
	void (*config_write)(struct virtio_device *dev, uint32_t offset, const void *data,
			     uint32_t len);
	/* The driver set DRIVER_OK: every ready queue is validated and activated. The device
	 * starts watching dev->kick_fd[] and serving its queues. Runs on a vCPU thread. */
	int (*activate)(struct virtio_device *dev, krun_error_t *err);
	/* The driver reset the device (status 0): stop using the queues; the transport
	 * resets them afterwards. May be NULL when activate was never called. */
	void (*reset)(struct virtio_device *dev);
	/* The VM is stopping (vCPUs are no longer running): deliver everything the guest
	 * already queued for the host (console output must not be lost). May be NULL. */
	void (*drain)(struct virtio_device *dev);
	void (*destroy)(struct virtio_device *dev);
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	struct guest_mem *mem;
	struct event_loop *loop;
	struct virtqueue *vq; /* ops->num_queues entries */
	int *kick_fd;	      /* per-queue eventfd, written by KVM on a guest notify */
	uint64_t driver_features;
	bool active;
	int irq_fd;	      /* eventfd bound to the device's IRQ through irqfd */
	_Atomic uint32_t isr; /* interrupt status register */
	_Atomic uint32_t config_generation;
};

/* Called by devices after pushing used buffers on queue q: interrupts the guest if the
 * ring asks for it. Thread safe. */
void virtio_signal_used(struct virtio_device *dev, unsigned q);
/* Config space changed (console resize): bumps the generation and interrupts. */
void virtio_signal_config(struct virtio_device *dev);

/* Creates the transport for dev at [base, base + GUEST_VIRTIO_MMIO_SIZE) with interrupt
 * line irq (vm/layout.h): allocates the queues and eventfds, registers the MMIO window,
 * one ioeventfd per queue and the irqfd. Appends "virtio_mmio.device=4K@0x<base>:<irq>" to the
 * string in *cmdline (reallocated). */
int virtio_mmio_attach(struct vm *vm, struct virtio_device *dev, uint64_t base, unsigned irq,
		       char **cmdline, krun_error_t *err);

#endif
