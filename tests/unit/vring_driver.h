/* The guest's side of virtio for unit tests: fake guest RAM (one region, sparse, so huge
 * sizes cost nothing), split rings laid out in it the way a driver would, and helpers to
 * program the virtio-mmio registers. */
#ifndef KRUN_TESTS_VRING_DRIVER_H
#define KRUN_TESTS_VRING_DRIVER_H

#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "devices/virtio/virtio_mmio_internal.h"
#include "devices/virtio/virtqueue.h"
#include "vm/guest_mem.h"

#define FAKE_RAM_BASE 0x100000ULL

struct fake_ram {
	struct guest_mem mem;
	uint8_t *hva;
	uint64_t size;
	uint64_t next; /* bump allocator, a guest-physical address */
};

void fake_ram_init(struct fake_ram *r, uint64_t size);
void fake_ram_free(struct fake_ram *r);
uint64_t fake_ram_alloc(struct fake_ram *r, uint64_t len, uint64_t align);
void *fake_ram_ptr(struct fake_ram *r, uint64_t gpa);
/* A buffer in guest RAM holding a copy of data (or zeroes when data is NULL). */
uint64_t fake_ram_buf(struct fake_ram *r, const void *data, uint32_t len);

struct vring_driver {
	struct fake_ram *ram;
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t next_desc; /* descriptors are handed out round robin */
	uint16_t avail_idx;
	uint16_t last_used;
};

struct drv_seg {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

void vring_driver_init(struct vring_driver *d, struct fake_ram *ram, uint16_t size);
/* Sets vq's size and ring addresses, as the transport does from the registers. */
void vring_driver_setup(const struct vring_driver *d, struct virtqueue *vq);
/* Writes n linked descriptors; returns the head. Not yet visible to the device. */
uint16_t vring_driver_chain(struct vring_driver *d, const struct drv_seg *segs, unsigned n);
/* One descriptor pointing to an indirect table holding segs; returns the head. */
uint16_t vring_driver_indirect(struct vring_driver *d, const struct drv_seg *segs, unsigned n);
/* Makes head available (ring entry, then avail->idx with release). */
void vring_driver_publish(struct vring_driver *d, uint16_t head);
/* chain + publish */
uint16_t vring_driver_add(struct vring_driver *d, const struct drv_seg *segs, unsigned n);
/* The next used element, if the device returned one. */
bool vring_driver_used(struct vring_driver *d, uint32_t *id, uint32_t *len);
uint16_t *vring_driver_used_event(struct vring_driver *d);
uint16_t *vring_driver_avail_event(struct vring_driver *d);

/* Ends the TAP run: a harness failure, not a failed check. */
__attribute__((noreturn)) void drv_bail(const char *what);
/* pthread start routine serving the device's event loop until it stops. */
void *drv_run_event_loop(void *loop);
/* Stops the event loop and joins loop_thread (unless NULL: the loop is not running), then
 * destroys the device, its transport and its loop. */
void drv_device_destroy(struct virtio_device *dev, struct virtio_mmio *t, pthread_t *loop_thread);

/* Register access through the transport's MMIO handlers. */
uint32_t mmio_r32(struct virtio_mmio *t, uint64_t off);
void mmio_w32(struct virtio_mmio *t, uint64_t off, uint32_t v);
/* ACKNOWLEDGE, DRIVER, accept `features`, FEATURES_OK; returns the status read back. */
uint32_t mmio_negotiate(struct virtio_mmio *t, uint64_t features);
/* Programs queue q with d's rings and sets it ready. */
void mmio_setup_queue(struct virtio_mmio *t, unsigned q, const struct vring_driver *d);
/* A driver's start: `features` negotiated, nq fresh rings of qsize in ram as queues 0..nq-1,
 * DRIVER_OK; bails out when the device refuses any step. */
void drv_activate(struct virtio_mmio *t, uint64_t features, struct vring_driver *q, unsigned nq,
		  struct fake_ram *ram, uint16_t qsize);

#endif
