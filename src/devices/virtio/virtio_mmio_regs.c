/* virtio-mmio version 2 registers: feature negotiation, queue setup, the status state
 * machine, interrupts and the device config window. The driver is the guest, so every
 * write is checked against the current state and ignored when it is out of order. */
#include "devices/virtio/virtio_mmio_internal.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/util.h"

#define MMIO_MAGIC   0x74726976 /* "virt" */
#define MMIO_VERSION 2
#define MMIO_VENDOR  0

#define TRANSPORT_FEATURES                                                                         \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                    \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

int virtio_mmio_init(struct virtio_mmio *t, struct virtio_device *dev, struct guest_mem *mem,
		     krun_error_t *err)
{
	const struct virtio_device_ops *ops = dev->ops;
	unsigned n = ops->num_queues;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->dev = dev;
	t->device_features = ops->features | TRANSPORT_FEATURES;
	t->num_queues = n;
	t->vq = xzalloc(n * sizeof(*t->vq));
	t->kick_fd = xmalloc(n * sizeof(*t->kick_fd));
	for (unsigned q = 0; q < n; q++) {
		virtqueue_init(&t->vq[q], ops->queue_max_size);
		t->kick_fd[q] = -1;
	}
	t->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	bool ok = t->irq_fd >= 0;
	for (unsigned q = 0; q < n && ok; q++) {
		t->kick_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ok = t->kick_fd[q] >= 0;
	}
	if (!ok) {
		int ret = krun_make_error(err, errno, "%s: eventfd", ops->name);
		virtio_mmio_release(t);
		return ret;
	}
	dev->mem = mem;
	dev->vq = t->vq;
	dev->kick_fd = t->kick_fd;
	dev->irq_fd = t->irq_fd;
	return 0;
}

void virtio_mmio_release(struct virtio_mmio *t)
{
	for (unsigned q = 0; q < t->num_queues; q++) {
		if (t->kick_fd[q] >= 0)
			close(t->kick_fd[q]);
		pthread_mutex_destroy(&t->vq[q].lock);
	}
	if (t->irq_fd >= 0)
		close(t->irq_fd);
	free(t->kick_fd);
	free(t->vq);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

static void raise_irq(struct virtio_device *dev, uint32_t cause)
{
	uint64_t one = 1;

	atomic_fetch_or(&dev->isr, cause);
	/* An eventfd write only fails if the counter would overflow; the interrupt is
	 * pending anyway in that case. */
	while (write(dev->irq_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void virtio_signal_used(struct virtio_device *dev, unsigned q)
{
	if (q < dev->ops->num_queues && virtqueue_should_signal(&dev->vq[q]))
		raise_irq(dev, VIRTIO_MMIO_INT_VRING);
}

void virtio_signal_config(struct virtio_device *dev)
{
	atomic_fetch_add(&dev->config_generation, 1);
	raise_irq(dev, VIRTIO_MMIO_INT_CONFIG);
}

static struct virtqueue *selected_queue(struct virtio_mmio *t)
{
	if (t->queue_sel >= t->dev->ops->num_queues)
		return NULL;
	return &t->dev->vq[t->queue_sel];
}

static void device_reset(struct virtio_mmio *t)
{
	struct virtio_device *dev = t->dev;

	if (dev->active && dev->ops->reset)
		dev->ops->reset(dev);
	for (unsigned q = 0; q < dev->ops->num_queues; q++)
		virtqueue_reset(&dev->vq[q]);
	dev->active = false;
	dev->driver_features = 0;
	atomic_store(&dev->isr, 0);
	t->status = 0;
	t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
}

static bool features_acceptable(const struct virtio_mmio *t)
{
	uint64_t f = t->dev->driver_features;

	return (f & (1ULL << VIRTIO_F_VERSION_1)) && !(f & ~t->device_features);
}

/* DRIVER_OK: validate and activate the ready queues, then the device. */
static bool device_start(struct virtio_mmio *t)
{
	struct virtio_device *dev = t->dev;
	bool event_idx = dev->driver_features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	krun_error_t err = NULL;

	for (unsigned q = 0; q < dev->ops->num_queues; q++) {
		struct virtqueue *vq = &dev->vq[q];
		if (vq->ready && virtqueue_activate(vq, dev->mem, event_idx) < 0)
			return false;
	}
	dev->active = true;
	if (dev->ops->activate(dev, &err) < 0) {
		/* The guest only sees DEVICE_NEEDS_RESET; nowhere better to report. */
		krun_error_release(&err);
		dev->active = false;
		return false;
	}
	return true;
}

/* The driver only ever adds status bits, one step at a time; 0 resets. A step out of
 * order is not kept, which the driver sees when it reads the status back. */
static void write_status(struct virtio_mmio *t, uint32_t v)
{
	uint32_t old = t->status, next = old;

	if (v == 0) {
		device_reset(t);
		return;
	}
	if (old & ~v & ~VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	uint32_t add = v & ~old;
	if (add & VIRTIO_CONFIG_S_ACKNOWLEDGE)
		next |= VIRTIO_CONFIG_S_ACKNOWLEDGE;
	if ((add & VIRTIO_CONFIG_S_DRIVER) && (next & VIRTIO_CONFIG_S_ACKNOWLEDGE))
		next |= VIRTIO_CONFIG_S_DRIVER;
	if ((add & VIRTIO_CONFIG_S_FEATURES_OK) && (next & VIRTIO_CONFIG_S_DRIVER) &&
	    features_acceptable(t))
		next |= VIRTIO_CONFIG_S_FEATURES_OK;
	if ((add & VIRTIO_CONFIG_S_DRIVER_OK) && (next & VIRTIO_CONFIG_S_FEATURES_OK))
		next |= device_start(t) ? VIRTIO_CONFIG_S_DRIVER_OK : VIRTIO_CONFIG_S_NEEDS_RESET;
	if (add & VIRTIO_CONFIG_S_FAILED)
		next |= VIRTIO_CONFIG_S_FAILED;
	t->status = next;
}

static void write_driver_features(struct virtio_mmio *t, uint32_t v)
{
	uint64_t *f = &t->dev->driver_features;

	if (!(t->status & VIRTIO_CONFIG_S_DRIVER) || (t->status & VIRTIO_CONFIG_S_FEATURES_OK))
		return;
	if (t->driver_features_sel == 0)
		*f = (*f & ~0xffffffffULL) | v;
	else if (t->driver_features_sel == 1)
		*f = (*f & 0xffffffffULL) | (uint64_t)v << 32;
}

static void set_lo(uint64_t *r, uint32_t v)
{
	*r = (*r & ~0xffffffffULL) | v;
}

static void set_hi(uint64_t *r, uint32_t v)
{
	*r = (*r & 0xffffffffULL) | (uint64_t)v << 32;
}

/* Queue registers: only between FEATURES_OK and DRIVER_OK, and only while the selected
 * queue is not ready (QUEUE_READY itself may be cleared again). */
static void write_queue_reg(struct virtio_mmio *t, uint64_t offset, uint32_t v)
{
	struct virtqueue *vq = selected_queue(t);

	if (!vq || !(t->status & VIRTIO_CONFIG_S_FEATURES_OK) ||
	    (t->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return;
	if (offset == VIRTIO_MMIO_QUEUE_READY) {
		vq->ready = v == 1;
		return;
	}
	if (vq->ready)
		return;
	switch (offset) {
	case VIRTIO_MMIO_QUEUE_NUM:
		vq->size = v > UINT16_MAX ? 0 : v; /* activation checks it against max */
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		set_lo(&vq->desc_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_hi(&vq->desc_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		set_lo(&vq->avail_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_hi(&vq->avail_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		set_lo(&vq->used_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_hi(&vq->used_gpa, v);
		break;
	}
}

/* A notify write that reached us instead of KVM's ioeventfd: kick the same eventfd. */
static void notify_queue(struct virtio_mmio *t, uint32_t q)
{
	uint64_t one = 1;

	if (q >= t->dev->ops->num_queues)
		return;
	while (write(t->dev->kick_fd[q], &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void write_reg(struct virtio_mmio *t, uint64_t offset, uint32_t v)
{
	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		write_driver_features(t, v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		notify_queue(t, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&t->dev->isr, ~v);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(t, v);
		break;
	default:
		write_queue_reg(t, offset, v);
		break;
	}
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t offset)
{
	struct virtio_device *dev = t->dev;
	struct virtqueue *vq = selected_queue(t);

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->device_features_sel > 1)
			return 0;
		return t->device_features >> (32 * t->device_features_sel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? vq->max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&dev->isr);
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffff; /* a length of ~0: no shared memory region */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return atomic_load(&dev->config_generation);
	default:
		return 0;
	}
}

static bool config_range_ok(const struct virtio_device *dev, uint64_t offset, unsigned len)
{
	uint64_t off = offset - VIRTIO_MMIO_CONFIG;
	bool width_ok = len == 1 || len == 2 || len == 4 || len == 8;

	return width_ok && off <= dev->ops->config_size && len <= dev->ops->config_size - off;
}

void virtio_mmio_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	struct virtio_mmio *t = opaque;
	struct virtio_device *dev = t->dev;

	memset(data, 0, len);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		if (config_range_ok(dev, offset, len))
			dev->ops->config_read(dev, offset - VIRTIO_MMIO_CONFIG, data, len);
		return;
	}
	if (len != 4)
		return;
	pthread_mutex_lock(&t->lock);
	uint32_t v = read_reg(t, offset);
	pthread_mutex_unlock(&t->lock);
	memcpy(data, &v, 4);
}

void virtio_mmio_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	struct virtio_mmio *t = opaque;
	struct virtio_device *dev = t->dev;
	uint32_t v;

	if (offset >= VIRTIO_MMIO_CONFIG) {
		if (dev->ops->config_write && config_range_ok(dev, offset, len))
			dev->ops->config_write(dev, offset - VIRTIO_MMIO_CONFIG, data, len);
		return;
	}
	if (len != 4)
		return;
	memcpy(&v, data, 4);
	pthread_mutex_lock(&t->lock);
	write_reg(t, offset, v);
	pthread_mutex_unlock(&t->lock);
}
