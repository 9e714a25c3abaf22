/* The virtio-mmio register state machine, driven through its MMIO handlers as a guest
 * would, with a fake device that records what the transport asks of it. Also virtio-rng,
 * the simplest real device, end to end through the transport and the event loop. */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "devices/rng/rng.h"
#include "tap.h"
#include "util/util.h"
#include "vring_driver.h"

#define F_DEV0	(1ULL << 0)
#define F_DEV33 (1ULL << 33)
#define F_V1	(1ULL << VIRTIO_F_VERSION_1)
#define F_EIDX	(1ULL << VIRTIO_RING_F_EVENT_IDX)
#define F_INDIR (1ULL << VIRTIO_RING_F_INDIRECT_DESC)

#define S_ACK VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV VIRTIO_CONFIG_S_DRIVER
#define S_FOK VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK VIRTIO_CONFIG_S_DRIVER_OK

static struct fake_ram ram;

struct fake_dev {
	struct virtio_device dev;
	int activated, resets;
	bool fail_activate;
	uint8_t config[8];
};

static void fake_config_read(struct virtio_device *dev, uint32_t off, void *data, uint32_t len)
{
	memcpy(data, container_of(dev, struct fake_dev, dev)->config + off, len);
}

static void fake_config_write(struct virtio_device *dev, uint32_t off, const void *data,
			      uint32_t len)
{
	memcpy(container_of(dev, struct fake_dev, dev)->config + off, data, len);
}

static int fake_activate(struct virtio_device *dev, krun_error_t *err)
{
	struct fake_dev *f = container_of(dev, struct fake_dev, dev);

	f->activated++;
	return f->fail_activate ? krun_make_error(err, EIO, "fake activation failure") : 0;
}

static void fake_reset(struct virtio_device *dev)
{
	container_of(dev, struct fake_dev, dev)->resets++;
}

static const struct virtio_device_ops fake_ops = {
	.name = "fake",
	.device_id = 42,
	.num_queues = 2,
	.queue_max_size = 16,
	.features = F_DEV0 | F_DEV33,
	.config_size = 8,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.reset = fake_reset,
};

static struct fake_dev fdev;
static struct virtio_mmio t;

static void fresh(void)
{
	krun_error_t err = NULL;

	memset(&fdev, 0, sizeof(fdev));
	fdev.dev.ops = &fake_ops;
	if (virtio_mmio_init(&t, &fdev.dev, &ram.mem, &err) < 0) {
		printf("Bail out! %s\n", err->msg);
		exit(2);
	}
}

static uint64_t read_features(void)
{
	mmio_w32(&t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint64_t lo = mmio_r32(&t, VIRTIO_MMIO_DEVICE_FEATURES);
	mmio_w32(&t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return lo | (uint64_t)mmio_r32(&t, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

static uint64_t eventfd_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void test_identity(void)
{
	uint16_t half = 0xffff;

	fresh();
	is_int(mmio_r32(&t, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976, "magic");
	is_int(mmio_r32(&t, VIRTIO_MMIO_VERSION), 2, "version 2 (modern)");
	is_int(mmio_r32(&t, VIRTIO_MMIO_DEVICE_ID), 42, "device id");
	is_int(read_features(), F_DEV0 | F_DEV33 | F_V1 | F_EIDX | F_INDIR,
	       "features: device bits + VERSION_1 + INDIRECT_DESC + EVENT_IDX");
	mmio_w32(&t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	is_int(mmio_r32(&t, VIRTIO_MMIO_DEVICE_FEATURES), 0, "feature page 2 is empty");
	virtio_mmio_read(&t, VIRTIO_MMIO_MAGIC_VALUE, &half, 2);
	is_int(half, 0, "2-byte register read returns 0");
	mmio_w32(&t, VIRTIO_MMIO_STATUS, S_ACK);
	uint16_t zero = 0;
	virtio_mmio_write(&t, VIRTIO_MMIO_STATUS, &zero, 2);
	is_int(mmio_r32(&t, VIRTIO_MMIO_STATUS), S_ACK, "2-byte register write is ignored");
	is_int(mmio_r32(&t, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff, "no shared memory region");
	virtio_mmio_release(&t);
}

static void test_negotiation(void)
{
	fresh();
	mmio_w32(&t, VIRTIO_MMIO_STATUS, S_DRV);
	is_int(mmio_r32(&t, VIRTIO_MMIO_STATUS), 0, "DRIVER without ACKNOWLEDGE is refused");
	mmio_w32(&t, VIRTIO_MMIO_STATUS, S_ACK);
	mmio_w32(&t, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	is_int(fdev.dev.driver_features, 0, "driver features ignored before DRIVER");
	is_int(mmio_negotiate(&t, F_DEV0), S_ACK | S_DRV, "FEATURES_OK refused without VERSION_1");
	is_int(mmio_negotiate(&t, F_V1 | (1ULL << 5)), S_ACK | S_DRV,
	       "FEATURES_OK refused for a bit not offered");
	is_int(mmio_negotiate(&t, F_V1 | F_DEV33 | F_EIDX), S_ACK | S_DRV | S_FOK,
	       "FEATURES_OK accepted");
	is_int(fdev.dev.driver_features, F_V1 | F_DEV33 | F_EIDX, "driver features recorded");
	mmio_w32(&t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_w32(&t, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	is_int(fdev.dev.driver_features, F_V1 | F_DEV33 | F_EIDX,
	       "driver features frozen after FEATURES_OK");
	mmio_w32(&t, VIRTIO_MMIO_STATUS, S_ACK | S_FOK);
	is_int(mmio_r32(&t, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK,
	       "clearing a status bit is refused");
	virtio_mmio_release(&t);
}

static void test_queue_registers(void)
{
	struct vring_driver d;
	struct virtqueue *vq;

	fresh();
	vq = &fdev.dev.vq[1];
	vring_driver_init(&d, &ram, 8);
	mmio_setup_queue(&t, 1, &d);
	ok(!vq->ready && vq->desc_gpa == 0, "queue registers locked before FEATURES_OK");
	mmio_negotiate(&t, F_V1);
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_SEL, 1);
	is_int(mmio_r32(&t, VIRTIO_MMIO_QUEUE_NUM_MAX), 16, "queue num max");
	mmio_setup_queue(&t, 1, &d);
	ok(vq->ready && vq->size == 8 && vq->desc_gpa == d.desc_gpa &&
	       vq->avail_gpa == d.avail_gpa && vq->used_gpa == d.used_gpa,
	   "queue programmed");
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_NUM, 4);
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
	ok(vq->size == 8 && vq->desc_gpa == d.desc_gpa, "a ready queue cannot be changed");
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_SEL, 7);
	is_int(mmio_r32(&t, VIRTIO_MMIO_QUEUE_NUM_MAX), 0, "absent queue: num max 0");

	mmio_w32(&t, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	is_int(mmio_r32(&t, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK | S_DOK, "DRIVER_OK");
	is_int(fdev.activated, 1, "the device is activated once");
	ok(fdev.dev.active && vq->desc != NULL, "ready queue activated");
	ok(fdev.dev.vq[0].desc == NULL, "queue never made ready stays inactive");
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_SEL, 1);
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_READY, 0);
	is_int(mmio_r32(&t, VIRTIO_MMIO_QUEUE_READY), 1, "queue registers locked after DRIVER_OK");

	mmio_w32(&t, VIRTIO_MMIO_STATUS, 0);
	is_int(fdev.resets, 1, "status 0 resets the device");
	ok(!fdev.dev.active && !vq->ready && vq->desc == NULL && vq->size == 16, "and its queues");
	is_int(mmio_r32(&t, VIRTIO_MMIO_STATUS), 0, "status reads 0 after reset");
	is_int(fdev.dev.driver_features, 0, "driver features forgotten");
	virtio_mmio_release(&t);
}

static void test_driver_ok_failures(void)
{
	struct vring_driver d;

	fresh();
	vring_driver_init(&d, &ram, 8);
	d.used_gpa = FAKE_RAM_BASE + ram.size - 16; /* the used ring runs past RAM */
	mmio_negotiate(&t, F_V1);
	mmio_setup_queue(&t, 0, &d);
	mmio_w32(&t, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	is_int(mmio_r32(&t, VIRTIO_MMIO_STATUS),
	       S_ACK | S_DRV | S_FOK | VIRTIO_CONFIG_S_NEEDS_RESET,
	       "ring outside RAM: DEVICE_NEEDS_RESET instead of DRIVER_OK");
	is_int(fdev.activated, 0, "and the device is not activated");
	mmio_w32(&t, VIRTIO_MMIO_STATUS, 0);
	is_int(fdev.resets, 0, "reset of a never-activated device skips ops->reset");

	vring_driver_init(&d, &ram, 8);
	fdev.fail_activate = true;
	mmio_negotiate(&t, F_V1);
	mmio_setup_queue(&t, 0, &d);
	mmio_w32(&t, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	ok(mmio_r32(&t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET,
	   "device activation failure: DEVICE_NEEDS_RESET");
	ok(!fdev.dev.active, "and the device is not active");
	virtio_mmio_release(&t);
}

static void test_notify_and_interrupts(void)
{
	struct vring_driver d;
	struct vq_chain chain;

	fresh();
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	is_int(eventfd_count(fdev.dev.kick_fd[1]), 1, "a trapped notify kicks the queue's eventfd");
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_NOTIFY, 9);
	is_int(eventfd_count(fdev.dev.kick_fd[0]) + eventfd_count(fdev.dev.kick_fd[1]), 0,
	       "notify of an absent queue kicks nothing");

	vring_driver_init(&d, &ram, 8);
	mmio_negotiate(&t, F_V1);
	mmio_setup_queue(&t, 0, &d);
	mmio_w32(&t, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	struct drv_seg seg = { fake_ram_buf(&ram, NULL, 8), 8, true };
	vring_driver_add(&d, &seg, 1);
	virtqueue_pop(&fdev.dev.vq[0], &chain);
	virtqueue_push(&fdev.dev.vq[0], chain.head, 8);
	virtio_signal_used(&fdev.dev, 0);
	is_int(mmio_r32(&t, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING, "ISR: used ring");
	is_int(eventfd_count(fdev.dev.irq_fd), 1, "irq eventfd written");
	virtio_signal_used(&fdev.dev, 0);
	is_int(eventfd_count(fdev.dev.irq_fd), 0, "no new used buffer: no interrupt");
	mmio_w32(&t, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	is_int(mmio_r32(&t, VIRTIO_MMIO_INTERRUPT_STATUS), 0, "ISR acknowledged");

	uint32_t gen = mmio_r32(&t, VIRTIO_MMIO_CONFIG_GENERATION);
	virtio_signal_config(&fdev.dev);
	is_int(mmio_r32(&t, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1, "config generation bumped");
	is_int(mmio_r32(&t, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG, "ISR: config");
	is_int(eventfd_count(fdev.dev.irq_fd), 1, "config change interrupts");
	virtio_mmio_release(&t);
}

static void test_config_space(void)
{
	uint64_t v8 = 0;
	uint32_t v4 = 0;
	uint16_t v2 = 0xbeef;
	uint8_t v3[3] = { 0 };

	fresh();
	memcpy(fdev.config, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	virtio_mmio_read(&t, VIRTIO_MMIO_CONFIG, &v8, 8);
	is_int(v8, 0x0807060504030201ULL, "config: 8-byte read");
	virtio_mmio_read(&t, VIRTIO_MMIO_CONFIG + 6, &v2, 2);
	is_int(v2, 0x0807, "config: 2-byte read at the end");
	virtio_mmio_read(&t, VIRTIO_MMIO_CONFIG + 6, &v4, 4);
	is_int(v4, 0, "config: read past the end returns 0");
	virtio_mmio_read(&t, VIRTIO_MMIO_CONFIG + 0xf00, &v4, 4);
	is_int(v4, 0, "config: read far past the end returns 0");
	virtio_mmio_read(&t, VIRTIO_MMIO_CONFIG, v3, 3);
	ok(!v3[0] && !v3[1] && !v3[2], "config: 3-byte access refused");
	v2 = 0xaaaa;
	virtio_mmio_write(&t, VIRTIO_MMIO_CONFIG + 2, &v2, 2);
	is_int(fdev.config[2], 0xaa, "config: write in range");
	v4 = 0x55555555;
	virtio_mmio_write(&t, VIRTIO_MMIO_CONFIG + 6, &v4, 4);
	is_int(fdev.config[6], 0x07, "config: write past the end ignored");
	virtio_mmio_release(&t);
}

/* virtio-rng through the transport, served by the real event loop on a thread. */
static void test_rng(void)
{
	struct virtio_device *dev;
	struct virtio_mmio rt;
	struct vring_driver d;
	krun_error_t err = NULL;
	pthread_t th;
	uint32_t id, len;

	ok(virtio_rng_new(&dev, &err) == 0, "rng: created");
	virtio_mmio_init(&rt, dev, &ram.mem, &err);
	event_loop_new(&dev->loop, &err);
	pthread_create(&th, NULL, drv_run_event_loop, dev->loop);
	is_int(mmio_r32(&rt, VIRTIO_MMIO_DEVICE_ID), 4, "rng: device id 4");
	vring_driver_init(&d, &ram, 16);
	mmio_negotiate(&rt, F_V1 | F_EIDX);
	mmio_setup_queue(&rt, 0, &d);
	mmio_w32(&rt, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	uint64_t a = fake_ram_buf(&ram, NULL, 4096), b = fake_ram_buf(&ram, NULL, 100);
	struct drv_seg segs[] = { { a, 4096, true }, { b, 100, true } };
	vring_driver_add(&d, segs, 2);
	mmio_w32(&rt, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	struct pollfd pfd = { .fd = dev->irq_fd, .events = POLLIN };
	ok(poll(&pfd, 1, 5000) == 1, "rng: interrupt");
	ok(vring_driver_used(&d, &id, &len), "rng: buffer returned");
	is_int(len, 4196, "rng: every writable byte filled");
	unsigned nonzero = 0;
	for (unsigned i = 0; i < 4096; i++)
		nonzero += ((uint8_t *)fake_ram_ptr(&ram, a))[i] != 0;
	ok(nonzero > 3900, "rng: the bytes look random");
	event_loop_stop(dev->loop);
	pthread_join(th, NULL);
	mmio_w32(&rt, VIRTIO_MMIO_STATUS, 0);
	struct event_loop *loop = dev->loop;
	dev->ops->destroy(dev);
	virtio_mmio_release(&rt);
	event_loop_free(loop);
}

int main(void)
{
	fake_ram_init(&ram, 64 << 20);
	test_identity();
	test_negotiation();
	test_queue_registers();
	test_driver_ok_failures();
	test_notify_and_interrupts();
	test_config_space();
	test_rng();
	fake_ram_free(&ram);
	return tap_done();
}
