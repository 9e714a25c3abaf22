/* The virtio-fs device end to end without a VM: the test plays the guest driver (rings in
 * fake RAM, registers through the transport's handlers) and sends FUSE requests split
 * over several descriptors, many at once, a lock wait that must not hold the queue, a
 * FORGET on the hiprio queue, and a driver reset followed by a new session. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <stdlib.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "devices/fs/fs.h"
#include "fs_test_util.h"
#include "tap.h"
#include "vring_driver.h"

#define Q_HIPRIO  0
#define Q_REQUEST 1
#define RING_SIZE 256

static struct fake_ram ram;
static struct virtio_device *dev;
static struct virtio_mmio t;
static struct vring_driver q[2];
static char *root;
static uint64_t unique = 1;

static void driver_start(void)
{
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX);

	if (!(mmio_negotiate(&t, f) & VIRTIO_CONFIG_S_FEATURES_OK))
		drv_bail("features refused");
	for (unsigned i = 0; i < 2; i++) {
		vring_driver_init(&q[i], &ram, RING_SIZE);
		mmio_setup_queue(&t, i, &q[i]);
	}
	mmio_w32(&t, VIRTIO_MMIO_STATUS, 0xf);
	if (mmio_r32(&t, VIRTIO_MMIO_STATUS) != 0xf)
		drv_bail("DRIVER_OK refused");
}

static void boot(void)
{
	krun_error_t err = NULL;
	struct virtio_fs_config cfg = { .tag = "/dev/root", .root_path = root, .num_workers = 3 };

	fake_ram_init(&ram, 256u << 20);
	if (virtio_fs_new(&cfg, &dev, &err) < 0 || virtio_mmio_init(&t, dev, &ram.mem, &err) < 0)
		drv_bail(err->msg);
}

/* A request: `len` bytes split into `pieces` device-readable descriptors, and `space`
 * bytes of reply space (one guest buffer at *rsp) split into `pieces` writable ones.
 * Returns the chain's head; not published when publish is false. */
static uint16_t make_req(unsigned queue, const void *req, size_t len, size_t space, unsigned pieces,
			 uint64_t *rsp, bool publish)
{
	struct drv_seg segs[16];
	unsigned n = 0;
	uint64_t in = fake_ram_buf(&ram, req, len);

	*rsp = space ? fake_ram_buf(&ram, NULL, space) : 0;
	for (unsigned i = 0; i < pieces; i++) {
		size_t a = len * i / pieces, b = len * (i + 1) / pieces;
		if (b > a)
			segs[n++] = (struct drv_seg){ in + a, b - a, false };
	}
	for (unsigned i = 0; i < pieces && space; i++) {
		size_t a = space * i / pieces, b = space * (i + 1) / pieces;
		if (b > a)
			segs[n++] = (struct drv_seg){ *rsp + a, b - a, true };
	}
	uint16_t head = vring_driver_chain(&q[queue], segs, n);
	if (publish)
		vring_driver_publish(&q[queue], head);
	return head;
}

static void kick(unsigned queue)
{
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_NOTIFY, queue);
}

static bool wait_used(unsigned queue, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < 5000; i++) {
		if (vring_driver_used(&q[queue], id, len))
			return true;
		usleep(1000);
	}
	return false;
}

/* Builds header + args into buf; returns the length. */
static size_t build(void *buf, uint32_t op, uint64_t nodeid, const void *a, size_t alen,
		    const void *b, size_t blen)
{
	struct fuse_in_header h = {
		.len = sizeof(h) + alen + blen, .opcode = op, .unique = unique++, .nodeid = nodeid
	};
	memcpy(buf, &h, sizeof(h));
	memcpy((char *)buf + sizeof(h), a, alen);
	memcpy((char *)buf + sizeof(h) + alen, b, blen);
	return h.len;
}

/* Sends one request and waits for it. Returns the reply header (in fake RAM). */
static struct fuse_out_header *call(uint32_t op, uint64_t nodeid, const void *a, size_t alen,
				    const void *b, size_t blen, size_t space, unsigned pieces)
{
	static _Alignas(8) uint8_t buf[1 << 17];
	uint64_t rsp;
	uint32_t id, len;
	size_t n = build(buf, op, nodeid, a, alen, b, blen);
	uint16_t head = make_req(Q_REQUEST, buf, n, space, pieces, &rsp, true);

	kick(Q_REQUEST);
	if (!wait_used(Q_REQUEST, &id, &len) || id != head)
		return NULL;
	struct fuse_out_header *oh = fake_ram_ptr(&ram, rsp);
	return oh->len == len ? oh : NULL;
}

static void test_config(void)
{
	char tag[37] = { 0 };
	uint32_t nq;

	is_int(mmio_r32(&t, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_FS, "device id 26");
	for (int i = 0; i < 36; i++)
		virtio_mmio_read(&t, VIRTIO_MMIO_CONFIG + i, &tag[i], 1);
	virtio_mmio_read(&t, VIRTIO_MMIO_CONFIG + 36, &nq, 4);
	is_str(tag, "/dev/root", "tag in the config space");
	is_int(nq, 1, "one request queue");
	mmio_w32(&t, VIRTIO_MMIO_QUEUE_SEL, Q_REQUEST);
	is_int(mmio_r32(&t, VIRTIO_MMIO_QUEUE_NUM_MAX), 1024, "queues of 1024");
}

static void test_session(void)
{
	struct fuse_init_in init = { .major = 7, .minor = 37, .flags = FUSE_MAX_PAGES };
	struct fuse_out_header *oh;

	oh = call(FUSE_INIT, 0, &init, sizeof(init), "", 0, 4096, 3);
	ok(oh && oh->error == 0, "INIT split over three descriptors each way");
	struct fuse_init_out *out = (void *)(oh + 1);
	ok(oh && out->minor == 37 && out->max_write == 1u << 20, "negotiated 7.37");
	oh = call(FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 }, 16, "", 0, 256, 2);
	ok(oh && oh->error == 0 && S_ISDIR(((struct fuse_attr_out *)(oh + 1))->attr.mode),
	   "GETATTR of the root");
}

static uint64_t lookup(const char *name)
{
	struct fuse_out_header *oh =
	    call(FUSE_LOOKUP, FUSE_ROOT_ID, name, strlen(name) + 1, "", 0, 256, 1);
	return oh && oh->error == 0 ? ((struct fuse_entry_out *)(oh + 1))->nodeid : 0;
}

static uint64_t open_rw(uint64_t nodeid)
{
	struct fuse_open_in in = { .flags = O_RDWR };
	struct fuse_out_header *oh = call(FUSE_OPEN, nodeid, &in, sizeof(in), "", 0, 64, 1);
	return oh && oh->error == 0 ? ((struct fuse_open_out *)(oh + 1))->fh : 0;
}

static void test_data(void)
{
	enum { SIZE = 100 * 1024 };
	static char data[SIZE], back[SIZE];
	char *path = fs_test_path(root, "data");

	for (int i = 0; i < SIZE; i++)
		data[i] = (char)(i * 7 + i / 251);
	fs_test_write_file(path, data, SIZE);
	uint64_t nodeid = lookup("data");
	uint64_t fh = open_rw(nodeid);
	ok(nodeid && fh, "LOOKUP and OPEN");
	struct fuse_read_in rd = { .fh = fh, .size = SIZE };
	struct fuse_out_header *oh =
	    call(FUSE_READ, nodeid, &rd, sizeof(rd), "", 0, sizeof(*oh) + SIZE, 7);
	ok(oh && oh->error == 0 && oh->len == sizeof(*oh) + SIZE && memcmp(oh + 1, data, SIZE) == 0,
	   "READ of 100 KiB into seven reply segments");
	for (int i = 0; i < SIZE; i++)
		data[i] = (char)~data[i];
	struct fuse_write_in wr = { .fh = fh, .size = SIZE };
	oh = call(FUSE_WRITE, nodeid, &wr, sizeof(wr), data, SIZE, 64, 5);
	ok(oh && oh->error == 0 && ((struct fuse_write_out *)(oh + 1))->size == SIZE,
	   "WRITE of 100 KiB from five request segments");
	int fd = open(path, O_RDONLY);
	ok(read(fd, back, SIZE) == SIZE && memcmp(back, data, SIZE) == 0, "the file has it");
	close(fd);
	free(path);
}

static void test_parallel(void)
{
	static _Alignas(8) uint8_t buf[64][128];
	uint64_t rsp[64];
	uint16_t head[64];
	bool seen[64] = { 0 };
	int got = 0;

	for (int i = 0; i < 64; i++) {
		size_t n = build(buf[i], FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 },
				 16, "", 0);
		head[i] = make_req(Q_REQUEST, buf[i], n, 256, 1, &rsp[i], true);
	}
	kick(Q_REQUEST);
	for (uint32_t id, len; got < 64 && wait_used(Q_REQUEST, &id, &len); got++)
		for (int i = 0; i < 64; i++)
			if (head[i] == id &&
			    len == sizeof(struct fuse_out_header) + sizeof(struct fuse_attr_out))
				seen[i] = true;
	int all = 0;
	for (int i = 0; i < 64; i++)
		all += seen[i];
	is_int(all, 64, "64 requests behind one kick all answered");
	uint64_t irq;
	ok(read(dev->irq_fd, &irq, sizeof(irq)) == sizeof(irq) && irq > 0,
	   "the guest was interrupted");
}

static void test_lock_wait(void)
{
	static _Alignas(8) uint8_t buf[256];
	uint64_t nodeid = lookup("data"), fh = open_rw(nodeid), rsp;
	struct fuse_lk_in lk = { .fh = fh, .owner = 1, .lk = { 0, INT64_MAX, F_WRLCK, 1 } };
	uint32_t id, len;

	struct fuse_out_header *oh = call(FUSE_SETLK, nodeid, &lk, sizeof(lk), "", 0, 64, 1);
	ok(oh && oh->error == 0, "owner 1 takes a write lock");
	lk.owner = 2;
	size_t n = build(buf, FUSE_SETLKW, nodeid, &lk, sizeof(lk), "", 0);
	uint16_t waiting = make_req(Q_REQUEST, buf, n, 64, 1, &rsp, true);
	kick(Q_REQUEST);
	usleep(100000);
	int answered = 0;
	for (int i = 0; i < 8; i++) {
		oh = call(FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 }, 16, "", 0,
			  256, 1);
		answered += oh && oh->error == 0;
	}
	is_int(answered, 8, "requests keep flowing while owner 2 waits (more than the workers)");
	/* The unlock and the granted wait come back in either order. */
	lk.owner = 1;
	lk.lk.type = F_UNLCK;
	static _Alignas(8) uint8_t unlock_buf[256];
	uint64_t unlock_rsp;
	n = build(unlock_buf, FUSE_SETLK, nodeid, &lk, sizeof(lk), "", 0);
	uint16_t unlock = make_req(Q_REQUEST, unlock_buf, n, 64, 1, &unlock_rsp, true);
	kick(Q_REQUEST);
	int back = 0;
	for (int i = 0; i < 2 && wait_used(Q_REQUEST, &id, &len); i++)
		back += (id == unlock || id == waiting) && len == 16;
	is_int(back, 2, "owner 1 unlocks and the waiting SETLKW comes back");
	ok(((struct fuse_out_header *)fake_ram_ptr(&ram, unlock_rsp))->error == 0 &&
	       ((struct fuse_out_header *)fake_ram_ptr(&ram, rsp))->error == 0,
	   "both succeed: the lock is granted");
}

static void test_hiprio_forget(void)
{
	static _Alignas(8) uint8_t buf[64];
	uint64_t nodeid = lookup("data"), rsp;
	uint32_t id, len;

	ok(nodeid, "lookup");
	/* "data" was looked up three times in this session. */
	size_t n = build(buf, FUSE_FORGET, nodeid, &(struct fuse_forget_in){ 3 }, 8, "", 0);
	uint16_t head = make_req(Q_HIPRIO, buf, n, 0, 1, &rsp, true);
	kick(Q_HIPRIO);
	ok(wait_used(Q_HIPRIO, &id, &len) && id == head && len == 0,
	   "FORGET on hiprio is returned without a reply");
	struct fuse_out_header *oh =
	    call(FUSE_GETATTR, nodeid, &(struct fuse_getattr_in){ 0 }, 16, "", 0, 256, 1);
	ok(oh && oh->error == -ENOENT, "the inode is forgotten");
}

static void test_malformed_chain(void)
{
	static _Alignas(8) uint8_t buf[64];
	uint64_t rsp;
	uint32_t id, len;
	size_t n =
	    build(buf, FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 }, 16, "", 0);

	uint16_t head = make_req(Q_REQUEST, buf, n - 3, 256, 1, &rsp, true);
	kick(Q_REQUEST);
	ok(wait_used(Q_REQUEST, &id, &len) && id == head && len == 16, "truncated request");
	ok(((struct fuse_out_header *)fake_ram_ptr(&ram, rsp))->error == -EINVAL, "EINVAL");
	head = make_req(Q_REQUEST, buf, n, 0, 1, &rsp, true);
	kick(Q_REQUEST);
	ok(wait_used(Q_REQUEST, &id, &len) && id == head && len == 0,
	   "no reply space: returned empty");
}

static void test_reset(void)
{
	static _Alignas(8) uint8_t buf[256];
	uint64_t nodeid = lookup("data"), fh = open_rw(nodeid), rsp;
	struct fuse_lk_in lk = { .fh = fh, .owner = 7, .lk = { 0, INT64_MAX, F_WRLCK, 1 } };

	call(FUSE_SETLK, nodeid, &lk, sizeof(lk), "", 0, 64, 1);
	lk.owner = 8;
	size_t n = build(buf, FUSE_SETLKW, nodeid, &lk, sizeof(lk), "", 0);
	make_req(Q_REQUEST, buf, n, 64, 1, &rsp, true);
	kick(Q_REQUEST);
	usleep(50000);
	mmio_w32(&t, VIRTIO_MMIO_STATUS, 0);
	is_int(mmio_r32(&t, VIRTIO_MMIO_STATUS), 0, "driver reset with a lock wait pending");
	driver_start();
	struct fuse_out_header *oh =
	    call(FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 }, 16, "", 0, 256, 1);
	ok(oh && oh->error == -EIO, "a new session starts with INIT");
	struct fuse_init_in init = { .major = 7, .minor = 38 };
	oh = call(FUSE_INIT, 0, &init, sizeof(init), "", 0, 128, 1);
	ok(oh && oh->error == 0, "INIT again");
	lk.owner = 9;
	lk.fh = open_rw(nodeid = lookup("data"));
	oh = call(FUSE_SETLK, nodeid, &lk, sizeof(lk), "", 0, 64, 1);
	ok(oh && oh->error == 0, "the old session's locks are gone");
}

/* A FUSE mount in the shared directory whose server never answers: any request that
 * reaches it blocks the serving thread until the connection is aborted (closing fd). */
static int mount_hung_fuse(const char *dir)
{
	char opts[128];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
	if (fd < 0 || mkdir(dir, 0755) < 0 || mount("hung", dir, "fuse", 0, opts) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A worker stuck in the host kernel must not make a driver reset, or the VMM's exit, wait
 * for it. */
static void test_stuck_worker(void)
{
	static _Alignas(8) uint8_t buf[256];
	char *dir = fs_test_path(root, "hung");
	struct timespec t0;
	uint64_t rsp;
	int fuse_fd = mount_hung_fuse(dir);

	if (!ok(fuse_fd >= 0, "a FUSE mount that never answers, in the shared directory"))
		return;
	alarm(60); /* without the bound, the reset below never returns */
	size_t n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, "hung", 5, "", 0);
	make_req(Q_REQUEST, buf, n, 256, 1, &rsp, true);
	kick(Q_REQUEST);
	usleep(200000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mmio_w32(&t, VIRTIO_MMIO_STATUS, 0);
	double took = seconds_since(&t0);
	ok(took < 5, "a driver reset returns while a worker is stuck");
	printf("# reset took %.2f s\n", took);
	driver_start();
	struct fuse_init_in init = { .major = 7, .minor = 38 };
	struct fuse_out_header *oh = call(FUSE_INIT, 0, &init, sizeof(init), "", 0, 128, 1);
	ok(oh && oh->error == 0, "the device serves a new session");
	oh = call(FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 }, 16, "", 0, 256, 1);
	ok(oh && oh->error == 0, "and its requests");
	/* A second stuck request, then the VMM's teardown: drain and destroy. */
	n = build(buf, FUSE_LOOKUP, FUSE_ROOT_ID, "hung", 5, "", 0);
	make_req(Q_REQUEST, buf, n, 256, 1, &rsp, true);
	kick(Q_REQUEST);
	usleep(200000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dev->ops->drain(dev);
	dev->ops->destroy(dev);
	dev = NULL;
	took = seconds_since(&t0);
	ok(took < 15, "drain and destroy return while a worker is stuck");
	printf("# teardown took %.2f s\n", took);
	alarm(0);
	close(fuse_fd); /* aborts the connection: the stuck threads finish and go */
	usleep(100000);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	free(dir);
}

int main(void)
{
	/* The test's FUSE mount stays private to it. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		drv_bail("a private mount namespace");
	root = fs_test_tempdir("krun-fs-device");
	boot();
	test_config();
	driver_start();
	test_session();
	test_data();
	test_parallel();
	test_lock_wait();
	test_hiprio_forget();
	test_malformed_chain();
	test_reset();
	test_stuck_worker();
	if (dev)
		dev->ops->destroy(dev);
	virtio_mmio_release(&t);
	fake_ram_free(&ram);
	fs_test_rmtree(root);
	free(root);
	return tap_done();
}
