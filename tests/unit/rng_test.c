/* virtio-rng without a VM: the test plays the guest driver (rings in fake RAM, registers
 * through the transport's handlers), the device runs on the real event loop in a thread.
 * A probe fd that is always readable shares the loop, so its callback runs once per turn
 * of the loop: the count of its calls while a request is served says in how many turns
 * the device served it, and the gaps between calls how long a turn took. Checks that one
 * request of 1023 descriptors of 4 MiB (4 GiB but 4 MiB) is served in slices of at most
 * 256 KiB, every byte filled, and that requests after it are served too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/rng/rng.h"
#include "tap.h"
#include "vm/event_loop.h"
#include "vring_driver.h"

#define QSIZE	   256
#define SEG_LEN	   (4u << 20)
#define NSEGS	   1023
#define MAX_SLICE  (256u << 10)
#define SMALL_LEN  64
#define MAX_WAIT_S 600

static struct fake_ram ram;

struct guest {
	struct virtio_device *dev;
	struct virtio_mmio t;
	struct vring_driver q;
	pthread_t loop_thread;
};

/* Counted on the loop thread, read by the test thread: turns of the loop while the
 * request is served (armed, and its used ring has not moved). */
static bool probe_armed;
static const struct vring_used *probe_used;
static uint16_t probe_idx;
static unsigned long probe_turns;
static uint64_t probe_last_ns, probe_max_gap_ns;
static uint64_t probe_last_cpu_ns, probe_max_cpu_ns; /* the loop thread's CPU time */
static unsigned long probe_over_2ms;		     /* turns of more than 2 ms of CPU */

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void probe(void *opaque, uint32_t events)
{
	uint64_t t = now_ns(), cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	(void)opaque;
	(void)events;

	if (probe_last_ns && t - probe_last_ns > probe_max_gap_ns)
		probe_max_gap_ns = t - probe_last_ns;
	if (probe_last_cpu_ns && cpu - probe_last_cpu_ns > probe_max_cpu_ns)
		probe_max_cpu_ns = cpu - probe_last_cpu_ns;
	if (probe_last_cpu_ns && cpu - probe_last_cpu_ns > 2000000)
		probe_over_2ms++;
	probe_last_ns = t;
	probe_last_cpu_ns = cpu;
	if (__atomic_load_n(&probe_armed, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&probe_used->idx, __ATOMIC_ACQUIRE) == probe_idx)
		__atomic_add_fetch(&probe_turns, 1, __ATOMIC_RELAXED);
}

static void guest_boot(struct guest *g)
{
	krun_error_t err = NULL;

	memset(g, 0, sizeof(*g));
	if (virtio_rng_new(&g->dev, &err) < 0 ||
	    virtio_mmio_init(&g->t, g->dev, &ram.mem, &err) < 0 ||
	    event_loop_new(&g->dev->loop, &err) < 0)
		drv_bail(err->msg);
	int efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK); /* readable, and never read */
	if (efd < 0 || event_loop_add(g->dev->loop, efd, EPOLLIN, probe, NULL, &err) < 0)
		drv_bail("probe fd");
	pthread_create(&g->loop_thread, NULL, drv_run_event_loop, g->dev->loop);
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	drv_activate(&g->t, f, &g->q, 1, &ram, QSIZE);
}

static void guest_destroy(struct guest *g)
{
	drv_device_destroy(g->dev, &g->t, &g->loop_thread);
}

static bool wait_used(struct guest *g, uint32_t *id, uint32_t *len)
{
	for (uint64_t end = now_ns() + MAX_WAIT_S * 1000000000ull; now_ns() < end;) {
		if (vring_driver_used(&g->q, id, len))
			return true;
		usleep(1000);
	}
	return false;
}

static size_t zero_bytes(const uint8_t *p, size_t n)
{
	size_t z = 0;

	for (size_t i = 0; i < n; i++)
		z += p[i] == 0;
	return z;
}

static void test_huge_chain(void)
{
	static struct drv_seg segs[NSEGS];
	struct guest g;
	uint32_t id, len;

	guest_boot(&g);
	/* Every descriptor names the same 4 MiB: the device fills 4 GiB, the test holds 4 MiB. */
	uint64_t buf = fake_ram_buf(&ram, NULL, SEG_LEN);
	for (unsigned i = 0; i < NSEGS; i++)
		segs[i] = (struct drv_seg){ buf, SEG_LEN, true };
	uint16_t big = vring_driver_indirect(&g.q, segs, NSEGS);
	vring_driver_publish(&g.q, big);
	uint64_t small = fake_ram_buf(&ram, NULL, SMALL_LEN);
	struct drv_seg s = { small, SMALL_LEN, true };
	uint16_t after = vring_driver_add(&g.q, &s, 1);

	probe_used = g.q.used;
	probe_idx = g.q.used->idx;
	__atomic_store_n(&probe_armed, true, __ATOMIC_RELEASE);
	uint64_t t0 = now_ns();
	mmio_w32(&g.t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	bool done = wait_used(&g, &id, &len);
	__atomic_store_n(&probe_armed, false, __ATOMIC_RELEASE);
	unsigned long turns = __atomic_load_n(&probe_turns, __ATOMIC_RELAXED);
	uint64_t total = (uint64_t)NSEGS * SEG_LEN;
	ok(done && id == big, "the 4 GiB request is served");
	is_int(len, total, "every byte of it is filled");
	ok(zero_bytes(fake_ram_ptr(&ram, buf), SEG_LEN) < SEG_LEN / 64,
	   "with random bytes (few zeroes)");
	printf("# %lu turns of the loop while it was served, in %.1f s; longest turn %.2f ms "
	       "(%.2f ms of the loop thread's CPU time; %lu turns over 2 ms of CPU)\n",
	       turns, (now_ns() - t0) / 1e9, probe_max_gap_ns / 1e6, probe_max_cpu_ns / 1e6,
	       probe_over_2ms);
	ok(turns >= total / MAX_SLICE - 2,
	   "it took a turn of the event loop per 256 KiB at most: other fds were served meanwhile");
	ok(wait_used(&g, &id, &len) && id == after && len == SMALL_LEN,
	   "the request queued after it is served too");
	guest_destroy(&g);
}

/* A reset while a large chain is being served drops it; the device serves new requests
 * after the driver comes back. */
static void test_reset_mid_chain(void)
{
	static struct drv_seg segs[64];
	struct guest g;
	uint32_t id, len;

	guest_boot(&g);
	uint64_t buf = fake_ram_buf(&ram, NULL, SEG_LEN);
	for (unsigned i = 0; i < 64; i++)
		segs[i] = (struct drv_seg){ buf, SEG_LEN, true };
	vring_driver_publish(&g.q, vring_driver_indirect(&g.q, segs, 64));
	mmio_w32(&g.t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	usleep(20 * 1000);
	mmio_w32(&g.t, VIRTIO_MMIO_STATUS, 0);
	ok(mmio_r32(&g.t, VIRTIO_MMIO_STATUS) == 0, "reset while a chain is half served");
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	mmio_negotiate(&g.t, f);
	vring_driver_init(&g.q, &ram, QSIZE);
	mmio_setup_queue(&g.t, 0, &g.q);
	mmio_w32(&g.t, VIRTIO_MMIO_STATUS, 0xf);
	uint64_t small = fake_ram_buf(&ram, NULL, SMALL_LEN);
	struct drv_seg s = { small, SMALL_LEN, true };
	uint16_t head = vring_driver_add(&g.q, &s, 1);
	mmio_w32(&g.t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ok(wait_used(&g, &id, &len) && id == head && len == SMALL_LEN,
	   "after the reset a new request is served whole, nothing of the old one");
	guest_destroy(&g);
}

int main(void)
{
	fake_ram_init(&ram, 64ull << 20);
	test_huge_chain();
	test_reset_mid_chain();
	fake_ram_free(&ram);
	return tap_done();
}
