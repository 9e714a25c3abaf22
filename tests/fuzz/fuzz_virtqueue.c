/* Fuzzes the split virtqueue walker (src/devices/virtio/virtqueue.c) over guest memory that
 * the input fills: descriptor tables, avail rings, indirect tables, chains that loop, point
 * outside RAM or wrap the address space. Guest RAM is two heap blocks of exactly their size
 * (the second above 4 GiB), so AddressSanitizer reports any host access outside them; every
 * chain popped is also checked to lie within RAM and then read and written end to end.
 *
 * Input: a header (ring layout, size, features), a list of actions (pop, push, notify
 * decisions, a guest write to RAM between two of them, a reset), then the initial RAM. */
#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"
#include "fuzz_util.h"

#define RAM0_GPA  0x1000ULL
#define RAM1_GPA  0x100000000ULL
#define RAM1_SIZE 0x2000ULL
#define MAX_RAM0  (64 * 1024)

enum act {
	ACT_POP,
	ACT_PUSH,
	ACT_SIGNAL,
	ACT_ENABLE,
	ACT_POKE16, /* the guest writes a 16-bit value (avail->idx, a ring entry...) */
	ACT_POKE64,
	ACT_RESET, /* driver reset, then activation again */
	ACT_NUM,
};

struct harness {
	struct guest_mem mem;
	uint8_t *ram[2];
	struct virtqueue vq;
	struct vq_chain chain;
	uint16_t heads[VIRTQUEUE_MAX_SIZE]; /* popped, not pushed yet */
	unsigned nheads;
	bool event_idx;
	uint16_t size;
	uint64_t desc, avail, used;
};

static struct harness *h;

/* The walker promised host pointers inside guest RAM: check that, then touch every
 * segment at both ends the way a device would (read the out ones, write the in ones). */
static void check_chain(const struct vq_chain *c)
{
	size_t out = 0, in = 0;

	if (c->nout + c->nin > VIRTQUEUE_MAX_SEGS || c->in != c->iov + c->nout)
		fuzz_fail("chain shape: %u out, %u in", c->nout, c->nin);
	for (unsigned i = 0; i < c->nout + c->nin; i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;
		bool inside = false;
		for (unsigned r = 0; r < h->mem.nregions; r++) {
			const struct guest_mem_region *g = &h->mem.region[r];
			if (p >= g->hva && len <= g->size &&
			    p - g->hva <= (ptrdiff_t)(g->size - len))
				inside = true;
		}
		if (!inside)
			fuzz_fail("segment %u (%zu bytes) outside guest RAM", i, len);
		if (i < c->nout)
			out += len;
		else
			in += len;
		if (!len)
			continue;
		if (i < c->nout) {
			volatile uint8_t sink = p[0] ^ p[len - 1];
			(void)sink;
		} else {
			p[0] = 0xa5;
			p[len - 1] = 0x5a;
		}
	}
	if (out != c->out_len || in != c->in_len)
		fuzz_fail("chain lengths %zu/%zu, segments say %zu/%zu", c->out_len, c->in_len, out,
			  in);
}

static void do_pop(void)
{
	int ret = virtqueue_pop(&h->vq, &h->chain);

	if (ret < 0 && ret != -EINVAL)
		fuzz_fail("pop returned %d", ret);
	if (ret <= 0)
		return;
	check_chain(&h->chain);
	if (h->chain.head >= h->size)
		fuzz_fail("head %u beyond the ring of %u", h->chain.head, h->size);
	if (h->nheads < VIRTQUEUE_MAX_SIZE)
		h->heads[h->nheads++] = h->chain.head;
}

static void poke(struct fuzz_in *in, unsigned width)
{
	uint32_t off = fin_u32(in) % MAX_RAM0;
	uint64_t v = width == 2 ? fin_u16(in) : fin_u64(in);

	if (off + width <= h->mem.region[0].size)
		memcpy(h->ram[0] + off, &v, width);
}

static void activate(void)
{
	virtqueue_reset(&h->vq);
	h->vq.size = h->size;
	h->vq.desc_gpa = h->desc;
	h->vq.avail_gpa = h->avail;
	h->vq.used_gpa = h->used;
	h->vq.ready = true;
	virtqueue_activate(&h->vq, &h->mem, h->event_idx);
	h->nheads = 0;
}

static void run_action(struct fuzz_in *in)
{
	uint8_t op = fin_u8(in) % ACT_NUM;

	switch (op) {
	case ACT_POP:
		do_pop();
		break;
	case ACT_PUSH: {
		uint16_t sel = fin_u16(in);
		uint32_t written = fin_u32(in);
		/* Mostly a head we popped; sometimes any value. */
		uint16_t head = h->nheads && !(sel & 0x8000) ? h->heads[sel % h->nheads] : sel;
		virtqueue_push(&h->vq, head, written);
		break;
	}
	case ACT_SIGNAL:
		virtqueue_should_signal(&h->vq);
		break;
	case ACT_ENABLE:
		virtqueue_enable_notify(&h->vq);
		break;
	case ACT_POKE16:
		poke(in, 2);
		break;
	case ACT_POKE64:
		poke(in, 8);
		break;
	case ACT_RESET:
		activate();
		break;
	}
}

/* A ring address: mostly an offset into the first region, sometimes any address. */
static uint64_t ring_gpa(struct fuzz_in *in, bool raw)
{
	uint32_t v = fin_u32(in);

	return raw ? ((uint64_t)fin_u32(in) << 32 | v) : RAM0_GPA + v % MAX_RAM0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	h = calloc(1, sizeof(*h));
	virtqueue_init(&h->vq, VIRTQUEUE_MAX_SIZE);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t flags = fin_u8(&in);
	size_t ram0 = 4096 * (1 + fin_u8(&in) % (MAX_RAM0 / 4096));

	h->event_idx = flags & 1;
	h->size = 1u << (fin_u8(&in) % 11);
	h->desc = ring_gpa(&in, flags & 2);
	h->avail = ring_gpa(&in, flags & 4);
	h->used = ring_gpa(&in, flags & 8);
	unsigned nact = fin_u8(&in) % 64;
	uint8_t actions[64 * 16];
	size_t alen = fin_bytes(&in, actions, nact * 16);
	struct fuzz_in acts = { actions, alen };

	h->ram[0] = calloc(1, ram0);
	h->ram[1] = calloc(1, RAM1_SIZE);
	h->mem.region[0] = (struct guest_mem_region){ RAM0_GPA, ram0, h->ram[0] };
	h->mem.region[1] = (struct guest_mem_region){ RAM1_GPA, RAM1_SIZE, h->ram[1] };
	h->mem.nregions = flags & 16 ? 2 : 1;
	h->mem.ram_size = ram0 + (flags & 16 ? RAM1_SIZE : 0);
	fin_bytes(&in, h->ram[0], in.left < ram0 ? in.left : ram0);
	if (h->mem.nregions == 2)
		fin_bytes(&in, h->ram[1], in.left < RAM1_SIZE ? in.left : RAM1_SIZE);

	activate();
	/* The actions, then drain what is left as a device would. */
	while (!fin_done(&acts))
		run_action(&acts);
	for (unsigned i = 0; i < 2u * h->size + 2; i++)
		do_pop();
	virtqueue_reset(&h->vq);
	free(h->ram[0]);
	free(h->ram[1]);
	return 0;
}
