#include "vring_driver.h"
#include "vm/event_loop.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void fake_ram_init(struct fake_ram *r, uint64_t size)
{
	memset(r, 0, sizeof(*r));
	r->hva = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->hva == MAP_FAILED) {
		perror("mmap fake guest RAM");
		exit(2);
	}
	r->size = size;
	r->next = FAKE_RAM_BASE;
	r->mem.nregions = 1;
	r->mem.region[0] = (struct guest_mem_region){ FAKE_RAM_BASE, size, r->hva };
	r->mem.ram_size = size;
}

void fake_ram_free(struct fake_ram *r)
{
	munmap(r->hva, r->size);
}

uint64_t fake_ram_alloc(struct fake_ram *r, uint64_t len, uint64_t align)
{
	uint64_t gpa = (r->next + align - 1) & ~(align - 1);

	if (gpa + len > FAKE_RAM_BASE + r->size) {
		fprintf(stderr, "fake guest RAM exhausted\n");
		exit(2);
	}
	r->next = gpa + len;
	return gpa;
}

void *fake_ram_ptr(struct fake_ram *r, uint64_t gpa)
{
	return r->hva + (gpa - FAKE_RAM_BASE);
}

uint64_t fake_ram_buf(struct fake_ram *r, const void *data, uint32_t len)
{
	uint64_t gpa = fake_ram_alloc(r, len, 8);

	if (data)
		memcpy(fake_ram_ptr(r, gpa), data, len);
	else
		memset(fake_ram_ptr(r, gpa), 0, len);
	return gpa;
}

void vring_driver_init(struct vring_driver *d, struct fake_ram *ram, uint16_t size)
{
	memset(d, 0, sizeof(*d));
	d->ram = ram;
	d->size = size;
	d->desc_gpa = fake_ram_alloc(ram, 16 * size, 4096);
	d->avail_gpa = fake_ram_alloc(ram, 6 + 2 * size, 2);
	d->used_gpa = fake_ram_alloc(ram, 6 + 8 * size, 4096);
	d->desc = fake_ram_ptr(ram, d->desc_gpa);
	d->avail = fake_ram_ptr(ram, d->avail_gpa);
	d->used = fake_ram_ptr(ram, d->used_gpa);
	memset(d->desc, 0, 16 * size);
	memset(d->avail, 0, 6 + 2 * size);
	memset(d->used, 0, 6 + 8 * size);
}

void vring_driver_setup(const struct vring_driver *d, struct virtqueue *vq)
{
	vq->size = d->size;
	vq->desc_gpa = d->desc_gpa;
	vq->avail_gpa = d->avail_gpa;
	vq->used_gpa = d->used_gpa;
	vq->ready = true;
}

static void write_descs(struct vring_desc *table, unsigned first, unsigned table_size,
			const struct drv_seg *segs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned idx = (first + i) % table_size;
		table[idx].addr = segs[i].gpa;
		table[idx].len = segs[i].len;
		table[idx].flags = segs[i].writable ? VRING_DESC_F_WRITE : 0;
		if (i + 1 < n) {
			table[idx].flags |= VRING_DESC_F_NEXT;
			table[idx].next = (first + i + 1) % table_size;
		}
	}
}

uint16_t vring_driver_chain(struct vring_driver *d, const struct drv_seg *segs, unsigned n)
{
	uint16_t head = d->next_desc;

	write_descs(d->desc, head, d->size, segs, n);
	d->next_desc = (head + n) % d->size;
	return head;
}

uint16_t vring_driver_indirect(struct vring_driver *d, const struct drv_seg *segs, unsigned n)
{
	uint64_t table_gpa = fake_ram_alloc(d->ram, 16 * n, 16);
	struct drv_seg ind = { .gpa = table_gpa, .len = 16 * n };

	write_descs(fake_ram_ptr(d->ram, table_gpa), 0, n, segs, n);
	uint16_t head = vring_driver_chain(d, &ind, 1);
	d->desc[head].flags = VRING_DESC_F_INDIRECT;
	return head;
}

void vring_driver_publish(struct vring_driver *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->size] = head;
	d->avail_idx++;
	__atomic_store_n(&d->avail->idx, d->avail_idx, __ATOMIC_RELEASE);
}

uint16_t vring_driver_add(struct vring_driver *d, const struct drv_seg *segs, unsigned n)
{
	uint16_t head = vring_driver_chain(d, segs, n);

	vring_driver_publish(d, head);
	return head;
}

bool vring_driver_used(struct vring_driver *d, uint32_t *id, uint32_t *len)
{
	uint16_t used_idx = __atomic_load_n(&d->used->idx, __ATOMIC_ACQUIRE);

	if (used_idx == d->last_used)
		return false;
	struct vring_used_elem *e = &d->used->ring[d->last_used % d->size];
	*id = e->id;
	*len = e->len;
	d->last_used++;
	return true;
}

uint16_t *vring_driver_used_event(struct vring_driver *d)
{
	return &d->avail->ring[d->size];
}

uint16_t *vring_driver_avail_event(struct vring_driver *d)
{
	return (uint16_t *)&d->used->ring[d->size];
}

uint32_t mmio_r32(struct virtio_mmio *t, uint64_t off)
{
	uint32_t v;

	virtio_mmio_read(t, off, &v, 4);
	return v;
}

void mmio_w32(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio_write(t, off, &v, 4);
}

uint32_t mmio_negotiate(struct virtio_mmio *t, uint64_t features)
{
	mmio_w32(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_w32(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		mmio_w32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		mmio_w32(t, VIRTIO_MMIO_DRIVER_FEATURES, features >> (32 * sel));
	}
	mmio_w32(t, VIRTIO_MMIO_STATUS,
		 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		     VIRTIO_CONFIG_S_FEATURES_OK);
	return mmio_r32(t, VIRTIO_MMIO_STATUS);
}

void mmio_setup_queue(struct virtio_mmio *t, unsigned q, const struct vring_driver *d)
{
	mmio_w32(t, VIRTIO_MMIO_QUEUE_SEL, q);
	mmio_w32(t, VIRTIO_MMIO_QUEUE_NUM, d->size);
	mmio_w32(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d->desc_gpa);
	mmio_w32(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, d->desc_gpa >> 32);
	mmio_w32(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)d->avail_gpa);
	mmio_w32(t, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, d->avail_gpa >> 32);
	mmio_w32(t, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)d->used_gpa);
	mmio_w32(t, VIRTIO_MMIO_QUEUE_USED_HIGH, d->used_gpa >> 32);
	mmio_w32(t, VIRTIO_MMIO_QUEUE_READY, 1);
}

void drv_bail(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(2);
}

void *drv_run_event_loop(void *loop)
{
	krun_error_t err = NULL;

	event_loop_run(loop, &err);
	krun_error_release(&err);
	return NULL;
}

void drv_device_destroy(struct virtio_device *dev, struct virtio_mmio *t, pthread_t *loop_thread)
{
	struct event_loop *loop = dev->loop;

	if (loop_thread) {
		event_loop_stop(loop);
		pthread_join(*loop_thread, NULL);
	}
	dev->ops->destroy(dev);
	virtio_mmio_release(t);
	event_loop_free(loop);
}

void drv_activate(struct virtio_mmio *t, uint64_t features, struct vring_driver *q, unsigned nq,
		  struct fake_ram *ram, uint16_t qsize)
{
	if (!(mmio_negotiate(t, features) & VIRTIO_CONFIG_S_FEATURES_OK))
		drv_bail("features refused");
	for (unsigned i = 0; i < nq; i++) {
		vring_driver_init(&q[i], ram, qsize);
		mmio_setup_queue(t, i, &q[i]);
	}
	mmio_w32(t, VIRTIO_MMIO_STATUS, 0xf);
	if (mmio_r32(t, VIRTIO_MMIO_STATUS) != 0xf)
		drv_bail("DRIVER_OK refused");
}
