/* Split virtqueue, device side: pops, pushes, notification decisions, indirect chains,
 * and every malformed ring a hostile guest can build. The guest side is played by
 * vring_driver in fake RAM. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util/util.h"
#include "vring_driver.h"

#define GIB (1ULL << 30)

static struct fake_ram ram;
static struct vq_chain chain;

/* A fresh driver ring of `size` entries and an activated device queue over it. */
static void setup(struct virtqueue *vq, struct vring_driver *d, uint16_t size, bool event_idx)
{
	vring_driver_init(d, &ram, size);
	virtqueue_init(vq, 256);
	vring_driver_setup(d, vq);
	if (virtqueue_activate(vq, &ram.mem, event_idx) < 0) {
		printf("Bail out! activation failed\n");
		exit(2);
	}
}

static uint64_t buf(uint32_t len)
{
	return fake_ram_buf(&ram, NULL, len);
}

static void test_activate_checks(void)
{
	struct vring_driver d;
	struct virtqueue vq;

	vring_driver_init(&d, &ram, 16);
	virtqueue_init(&vq, 16);
	vring_driver_setup(&d, &vq);
	is_int(virtqueue_activate(&vq, &ram.mem, true), 0, "activate: well-formed rings");

	const struct {
		const char *name;
		uint16_t size;
		uint64_t desc, avail, used;
	} bad[] = {
		{ "size 0", 0, d.desc_gpa, d.avail_gpa, d.used_gpa },
		{ "size not a power of 2", 12, d.desc_gpa, d.avail_gpa, d.used_gpa },
		{ "size above the maximum", 32, d.desc_gpa, d.avail_gpa, d.used_gpa },
		{ "descriptors misaligned", 16, d.desc_gpa + 8, d.avail_gpa, d.used_gpa },
		{ "avail ring misaligned", 16, d.desc_gpa, d.avail_gpa + 1, d.used_gpa },
		{ "used ring misaligned", 16, d.desc_gpa, d.avail_gpa, d.used_gpa + 2 },
		{ "descriptors below RAM", 16, 0x1000, d.avail_gpa, d.used_gpa },
		{ "used ring past the end of RAM", 16, d.desc_gpa, d.avail_gpa,
		  FAKE_RAM_BASE + ram.size - 64 },
		{ "avail ring address wraps", 16, d.desc_gpa, ~0ULL - 1, d.used_gpa },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		virtqueue_reset(&vq);
		vq.size = bad[i].size;
		vq.desc_gpa = bad[i].desc;
		vq.avail_gpa = bad[i].avail;
		vq.used_gpa = bad[i].used;
		is_int(virtqueue_activate(&vq, &ram.mem, true), -EINVAL, bad[i].name);
	}
	is_int(virtqueue_pop(&vq, &chain), 0, "an inactive queue pops nothing");
}

static void test_pop_push(void)
{
	struct vring_driver d;
	struct virtqueue vq;
	uint32_t id, len;

	setup(&vq, &d, 8, false);
	is_int(virtqueue_pop(&vq, &chain), 0, "empty ring: pop returns 0");

	uint64_t req = fake_ram_buf(&ram, "request", 7), resp = buf(100), resp2 = buf(20);
	struct drv_seg segs[] = { { req, 7, false }, { resp, 100, true }, { resp2, 20, true } };
	uint16_t head = vring_driver_add(&d, segs, 3);

	is_int(virtqueue_pop(&vq, &chain), 1, "pop returns a chain");
	is_int(chain.head, head, "head index");
	is_int(chain.nout, 1, "one readable segment");
	is_int(chain.nin, 2, "two writable segments");
	is_int(chain.out_len, 7, "readable length");
	is_int(chain.in_len, 120, "writable length");
	ok(chain.out[0].iov_base == fake_ram_ptr(&ram, req), "out segment points into RAM");
	ok(chain.in[1].iov_base == fake_ram_ptr(&ram, resp2), "in segments follow out ones");
	is_int(virtqueue_pop(&vq, &chain), 0, "then empty again");

	char got[8] = { 0 };
	is_int(iov_to_buf(chain.out, chain.nout, 0, got, sizeof(got)), 7, "iov_to_buf copies");
	is_str(got, "request", "iov_to_buf bytes");
	is_int(iov_from_buf(chain.in, chain.nin, 98, "abcdef", 6), 6, "iov_from_buf across segs");
	ok(memcmp(fake_ram_ptr(&ram, resp + 98), "ab", 2) == 0 &&
	       memcmp(fake_ram_ptr(&ram, resp2), "cdef", 4) == 0,
	   "iov_from_buf splits at the segment boundary");
	is_int(iov_from_buf(chain.in, chain.nin, 118, "abcdef", 6), 2, "iov_from_buf stops short");

	ok(!vring_driver_used(&d, &id, &len), "nothing used before push");
	virtqueue_push(&vq, chain.head, 42);
	ok(vring_driver_used(&d, &id, &len), "push publishes a used element");
	is_int(id, head, "used id");
	is_int(len, 42, "used length");
	is_int(d.used->idx, 1, "used idx advanced");
}

static void test_wraparound(void)
{
	struct vring_driver d;
	struct virtqueue vq;
	int pops = 0;

	setup(&vq, &d, 4, true);
	vq.last_avail_idx = vq.used_idx = 65534;
	d.avail_idx = d.last_used = 65534;
	d.avail->idx = 65534;
	d.used->idx = 65534;
	struct drv_seg seg = { buf(8), 8, true };
	for (int i = 0; i < 4; i++)
		vring_driver_add(&d, &seg, 1);
	while (virtqueue_pop(&vq, &chain) == 1) {
		virtqueue_push(&vq, chain.head, 1);
		pops++;
	}
	is_int(pops, 4, "indices wrap around 65535");
	is_int(d.used->idx, 2, "used idx wrapped");
	is_int(*vring_driver_avail_event(&d), 2, "avail_event follows the popped index");
}

static void test_indirect(void)
{
	struct vring_driver d;
	struct virtqueue vq;

	setup(&vq, &d, 8, false);
	struct drv_seg segs[] = { { buf(16), 16, false },
				  { buf(32), 32, false },
				  { buf(64), 64, true } };
	uint16_t head = vring_driver_indirect(&d, segs, 3);
	vring_driver_publish(&d, head);
	is_int(virtqueue_pop(&vq, &chain), 1, "indirect chain pops");
	is_int(chain.head, head, "indirect: head is the ring descriptor");
	is_int(chain.nout, 2, "indirect: readable segments");
	is_int(chain.nin, 1, "indirect: writable segments");
	is_int(chain.out_len + chain.in_len, 112, "indirect: total length");

	/* An indirect table not aligned to 16 bytes is still valid. */
	uint64_t table = fake_ram_alloc(&ram, 16 * 2 + 8, 16) + 8;
	struct vring_desc *t = fake_ram_ptr(&ram, table);
	t[0] =
	    (struct vring_desc){ .addr = buf(4), .len = 4, .flags = VRING_DESC_F_NEXT, .next = 1 };
	t[1] = (struct vring_desc){ .addr = buf(4), .len = 4, .flags = VRING_DESC_F_WRITE };
	struct drv_seg ind = { table, 32, false };
	head = vring_driver_chain(&d, &ind, 1);
	d.desc[head].flags = VRING_DESC_F_INDIRECT;
	vring_driver_publish(&d, head);
	is_int(virtqueue_pop(&vq, &chain), 1, "indirect table at an 8-byte boundary pops");
	is_int(chain.nout * 10 + chain.nin, 11, "and has its two segments");
}

static void test_signalling(void)
{
	struct vring_driver d;
	struct virtqueue vq;
	struct drv_seg seg;

	setup(&vq, &d, 8, false);
	seg = (struct drv_seg){ buf(8), 8, true };
	vring_driver_add(&d, &seg, 1);
	virtqueue_pop(&vq, &chain);
	virtqueue_push(&vq, chain.head, 0);
	ok(virtqueue_should_signal(&vq), "no EVENT_IDX: signal after a push");
	ok(!virtqueue_should_signal(&vq), "no new push: no signal");
	d.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	vring_driver_add(&d, &seg, 1);
	virtqueue_pop(&vq, &chain);
	virtqueue_push(&vq, chain.head, 0);
	ok(!virtqueue_should_signal(&vq), "NO_INTERRUPT suppresses the signal");

	ok(!virtqueue_enable_notify(&vq), "enable_notify: nothing pending");
	is_int(d.used->flags, 0, "notifications stay on");
	vring_driver_add(&d, &seg, 1);
	ok(virtqueue_enable_notify(&vq), "enable_notify reports a buffer not popped yet");

	setup(&vq, &d, 8, true);
	for (int i = 0; i < 4; i++)
		vring_driver_add(&d, &seg, 1);
	*vring_driver_used_event(&d) = 2; /* interrupt me when used idx passes 2 */
	virtqueue_pop(&vq, &chain);
	virtqueue_push(&vq, chain.head, 0);
	ok(virtqueue_should_signal(&vq), "EVENT_IDX: the first decision always signals");
	virtqueue_pop(&vq, &chain);
	virtqueue_push(&vq, chain.head, 0);
	ok(!virtqueue_should_signal(&vq), "EVENT_IDX: used idx 2 has not passed used_event 2");
	virtqueue_pop(&vq, &chain);
	virtqueue_push(&vq, chain.head, 0);
	ok(virtqueue_should_signal(&vq), "EVENT_IDX: used idx 3 passed used_event 2");
	virtqueue_pop(&vq, &chain);
	virtqueue_push(&vq, chain.head, 0);
	ok(!virtqueue_should_signal(&vq), "EVENT_IDX: used_event behind: no signal");
	is_int(*vring_driver_avail_event(&d), 4, "EVENT_IDX: avail_event published on pop");

	vring_driver_add(&d, &seg, 1);
	ok(virtqueue_enable_notify(&vq), "EVENT_IDX: enable reports a buffer not popped yet");
	virtqueue_pop(&vq, &chain);
	is_int(*vring_driver_avail_event(&d), 5, "EVENT_IDX: pop publishes avail_event");
	ok(!virtqueue_enable_notify(&vq), "EVENT_IDX: enable with nothing pending");
	is_int(*vring_driver_avail_event(&d), 5, "EVENT_IDX: enable keeps avail_event");
}

/* Builds one malformed chain on a fresh queue and checks the queue breaks for good. */
static void expect_broken(const char *name, void (*build)(struct vring_driver *d))
{
	struct vring_driver d;
	struct virtqueue vq;
	char msg[160];

	setup(&vq, &d, 8, false);
	build(&d);
	snprintf(msg, sizeof(msg), "hostile: %s", name);
	is_int(virtqueue_pop(&vq, &chain), -EINVAL, msg);
	struct drv_seg good = { buf(8), 8, false };
	vring_driver_add(&d, &good, 1);
	snprintf(msg, sizeof(msg), "hostile: %s: the queue stays broken", name);
	is_int(virtqueue_pop(&vq, &chain), -EINVAL, msg);
	ok(!virtqueue_should_signal(&vq), "hostile: a broken queue does not signal");
}

static void avail_jump(struct vring_driver *d)
{
	d->avail->idx = 9; /* 9 new entries in a ring of 8 */
}

static void head_out_of_range(struct vring_driver *d)
{
	vring_driver_publish(d, 8);
}

static void next_out_of_range(struct vring_driver *d)
{
	struct drv_seg s[] = { { buf(8), 8, false }, { buf(8), 8, false } };
	uint16_t head = vring_driver_chain(d, s, 2);
	d->desc[head].next = 200;
	vring_driver_publish(d, head);
}

static void loop_chain(struct vring_driver *d)
{
	struct drv_seg s[] = { { buf(8), 8, false }, { buf(8), 8, false } };
	uint16_t head = vring_driver_chain(d, s, 2);
	d->desc[(head + 1) % 8].flags |= VRING_DESC_F_NEXT;
	d->desc[(head + 1) % 8].next = head;
	vring_driver_publish(d, head);
}

static void self_loop(struct vring_driver *d)
{
	struct drv_seg s = { buf(8), 8, false };
	uint16_t head = vring_driver_chain(d, &s, 1);
	d->desc[head].flags = VRING_DESC_F_NEXT;
	d->desc[head].next = head;
	vring_driver_publish(d, head);
}

static void write_then_read(struct vring_driver *d)
{
	struct drv_seg s[] = { { buf(8), 8, true }, { buf(8), 8, false } };
	vring_driver_add(d, s, 2);
}

static void segment_outside_ram(struct vring_driver *d)
{
	struct drv_seg s[] = { { buf(8), 8, false }, { 0x1000, 8, true } };
	vring_driver_add(d, s, 2);
}

static void segment_past_end_of_ram(struct vring_driver *d)
{
	struct drv_seg s = { FAKE_RAM_BASE + ram.size - 4, 8, false };
	vring_driver_add(d, &s, 1);
}

static void segment_address_wraps(struct vring_driver *d)
{
	struct drv_seg s = { ~0ULL - 2, 8, false };
	vring_driver_add(d, &s, 1);
}

static void total_length_overflow(struct vring_driver *d)
{
	/* Two segments of 3 GiB, both inside the (sparse) 8 GiB of fake RAM. */
	struct drv_seg s[] = { { FAKE_RAM_BASE, 3 * GIB, false },
			       { FAKE_RAM_BASE + 4 * GIB, 3 * GIB, true } };
	vring_driver_add(d, s, 2);
}

static void nested_indirect(struct vring_driver *d)
{
	struct drv_seg inner = { buf(8), 8, false };
	uint64_t inner_table = fake_ram_alloc(d->ram, 16, 16);
	struct vring_desc *t = fake_ram_ptr(d->ram, inner_table);
	*t = (struct vring_desc){ .addr = inner.gpa, .len = 8 };
	struct drv_seg outer = { inner_table, 16, false };
	uint16_t head = vring_driver_indirect(d, &outer, 1);
	struct vring_desc *outer_table = fake_ram_ptr(d->ram, d->desc[head].addr);
	outer_table[0].flags = VRING_DESC_F_INDIRECT;
	vring_driver_publish(d, head);
}

static void indirect_len_not_multiple(struct vring_driver *d)
{
	struct drv_seg s[] = { { buf(8), 8, false }, { buf(8), 8, false } };
	uint16_t head = vring_driver_indirect(d, s, 2);
	d->desc[head].len = 24;
	vring_driver_publish(d, head);
}

static void indirect_len_zero(struct vring_driver *d)
{
	struct drv_seg s = { buf(8), 8, false };
	uint16_t head = vring_driver_indirect(d, &s, 1);
	d->desc[head].len = 0;
	vring_driver_publish(d, head);
}

static void indirect_with_next(struct vring_driver *d)
{
	struct drv_seg s = { buf(8), 8, false };
	uint16_t head = vring_driver_indirect(d, &s, 1);
	d->desc[head].flags |= VRING_DESC_F_NEXT;
	d->desc[head].next = (head + 1) % 8;
	vring_driver_publish(d, head);
}

static void indirect_after_direct(struct vring_driver *d)
{
	struct drv_seg s[] = { { buf(8), 8, false }, { buf(16), 16, false } };
	uint16_t head = vring_driver_chain(d, s, 2);
	uint64_t table = fake_ram_alloc(d->ram, 16, 16);
	*(struct vring_desc *)fake_ram_ptr(d->ram, table) =
	    (struct vring_desc){ .addr = buf(8), .len = 8 };
	d->desc[(head + 1) % 8] =
	    (struct vring_desc){ .addr = table, .len = 16, .flags = VRING_DESC_F_INDIRECT };
	vring_driver_publish(d, head);
}

static void indirect_table_outside_ram(struct vring_driver *d)
{
	struct drv_seg s = { buf(8), 8, false };
	uint16_t head = vring_driver_indirect(d, &s, 1);
	d->desc[head].addr = 0x2000;
	vring_driver_publish(d, head);
}

static void indirect_loop(struct vring_driver *d)
{
	struct drv_seg s[] = { { buf(8), 8, false }, { buf(8), 8, false } };
	uint16_t head = vring_driver_indirect(d, s, 2);
	struct vring_desc *t = fake_ram_ptr(d->ram, d->desc[head].addr);
	t[1].flags |= VRING_DESC_F_NEXT;
	t[1].next = 0;
	vring_driver_publish(d, head);
}

static void indirect_next_out_of_table(struct vring_driver *d)
{
	struct drv_seg s[] = { { buf(8), 8, false }, { buf(8), 8, false } };
	uint16_t head = vring_driver_indirect(d, s, 2);
	struct vring_desc *t = fake_ram_ptr(d->ram, d->desc[head].addr);
	t[0].next = 2; /* the table has 2 entries */
	vring_driver_publish(d, head);
}

/* A table of VIRTQUEUE_MAX_SEGS + 1 entries, all chained. */
static void too_many_segments(struct vring_driver *d)
{
	unsigned n = VIRTQUEUE_MAX_SEGS + 1;
	struct drv_seg *s = calloc(n, sizeof(*s));
	uint64_t b = buf(8);
	for (unsigned i = 0; i < n; i++)
		s[i] = (struct drv_seg){ b, 8, false };
	vring_driver_publish(d, vring_driver_indirect(d, s, n));
	free(s);
}

static void test_hostile(void)
{
	static const struct {
		const char *name;
		void (*build)(struct vring_driver *d);
	} cases[] = {
		{ "avail idx jumps past the ring size", avail_jump },
		{ "head index out of range", head_out_of_range },
		{ "next index out of range", next_out_of_range },
		{ "loop in a chain", loop_chain },
		{ "descriptor chained to itself", self_loop },
		{ "writable before readable", write_then_read },
		{ "segment outside guest RAM", segment_outside_ram },
		{ "segment past the end of RAM", segment_past_end_of_ram },
		{ "segment address wraps around", segment_address_wraps },
		{ "total length overflows 32 bits", total_length_overflow },
		{ "nested indirect table", nested_indirect },
		{ "indirect length not a multiple of 16", indirect_len_not_multiple },
		{ "indirect length 0", indirect_len_zero },
		{ "indirect descriptor with NEXT", indirect_with_next },
		{ "indirect descriptor after a direct one", indirect_after_direct },
		{ "indirect table outside RAM", indirect_table_outside_ram },
		{ "loop inside an indirect table", indirect_loop },
		{ "indirect next past the table", indirect_next_out_of_table },
		{ "more segments than VIRTQUEUE_MAX_SEGS", too_many_segments },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++)
		expect_broken(cases[i].name, cases[i].build);
}

static void test_max_segments_ok(void)
{
	struct vring_driver d;
	struct virtqueue vq;
	unsigned n = VIRTQUEUE_MAX_SEGS;
	struct drv_seg *s = calloc(n, sizeof(*s));
	uint64_t b = buf(8);

	setup(&vq, &d, 8, false);
	for (unsigned i = 0; i < n; i++)
		s[i] = (struct drv_seg){ b, 8, i >= n / 2 };
	vring_driver_publish(&d, vring_driver_indirect(&d, s, n));
	is_int(virtqueue_pop(&vq, &chain), 1, "exactly VIRTQUEUE_MAX_SEGS segments is fine");
	is_int(chain.nout + chain.nin, n, "all of them in the chain");
	free(s);
}

struct worker {
	struct virtqueue *vq;
	unsigned popped;
	unsigned char seen[256];
	struct vq_chain chain;
};

static void *pop_worker(void *arg)
{
	struct worker *w = arg;

	while (virtqueue_pop(w->vq, &w->chain) == 1) {
		w->seen[w->chain.head]++;
		w->popped++;
		virtqueue_push(w->vq, w->chain.head, 1);
	}
	return NULL;
}

static void test_threads(void)
{
	struct vring_driver d;
	struct virtqueue vq;
	static struct worker w[2];
	pthread_t th[2];
	bool each_once = true;

	setup(&vq, &d, 256, true);
	struct drv_seg seg = { buf(8), 8, true };
	for (int i = 0; i < 256; i++)
		vring_driver_add(&d, &seg, 1);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct worker){ .vq = &vq };
		pthread_create(&th[i], NULL, pop_worker, &w[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int h = 0; h < 256; h++)
		each_once &= w[0].seen[h] + w[1].seen[h] == 1;
	is_int(w[0].popped + w[1].popped, 256, "two threads pop every chain");
	ok(each_once, "each chain exactly once");
	is_int(d.used->idx, 256, "used idx counts every push");
}

int main(void)
{
	fake_ram_init(&ram, 8 * GIB);
	test_activate_checks();
	test_pop_push();
	test_wraparound();
	test_indirect();
	test_signalling();
	test_hostile();
	test_max_segments_ok();
	test_threads();
	fake_ram_free(&ram);
	return tap_done();
}
