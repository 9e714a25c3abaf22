/* Split virtqueues, device side. The rings live in guest memory and the guest may change
 * them at any moment, so every field is read once into a local before it is checked and
 * used, and nothing read from the rings is trusted: indices, lengths, addresses and the
 * shape of a chain are all validated. A malformed chain breaks the queue for good.
 *
 * Memory ordering (the guest runs on other CPUs):
 *  - pop: acquire-load avail->idx, then read the ring entry and the descriptors;
 *  - push: write the used element, then release-store used->idx;
 *  - notification decisions: a full fence between our store (used->idx, avail_event or
 *    the NO_NOTIFY flag) and our load of what the guest wrote (used_event, NO_INTERRUPT or
 *    avail->idx), pairing with the guest's own full barrier.
 * virtio 1.x rings are little-endian, as is x86_64, the only host we support. */
#include "devices/virtio/virtqueue.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio rings are little-endian");

/* A descriptor as it sits in guest memory. Indirect tables need not be 16-byte aligned,
 * so it is read through a packed type. */
struct guest_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static void read_desc(const void *table, unsigned idx, struct desc *d)
{
	const volatile struct guest_desc *g = (const volatile struct guest_desc *)table + idx;
	d->addr = g->addr;
	d->len = g->len;
	d->flags = g->flags;
	d->next = g->next;
}

static inline uint16_t load16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static inline void store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

/* used_event sits after the avail ring, avail_event after the used ring. */
static uint16_t *used_event(struct virtqueue *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event(struct virtqueue *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

void virtqueue_init(struct virtqueue *vq, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	pthread_mutex_init(&vq->lock, NULL);
	vq->max_size = max_size;
	vq->size = max_size;
}

/* The ring's run state starts over, on a reset and on each activation. */
static void restart(struct virtqueue *vq)
{
	vq->broken = false;
	vq->last_avail_idx = vq->used_idx = vq->signalled_used = 0;
	vq->signalled_used_valid = false;
}

void virtqueue_reset(struct virtqueue *vq)
{
	pthread_mutex_lock(&vq->lock);
	vq->size = vq->max_size;
	vq->ready = false;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->mem = NULL;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->event_idx = false;
	restart(vq);
	pthread_mutex_unlock(&vq->lock);
}

/* Host pointer for a ring part of `len` bytes at gpa, aligned as the spec requires. */
static void *ring_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len, unsigned align)
{
	if (gpa % align)
		return NULL;
	void *p = guest_mem_ptr(mem, gpa, len);
	if (p && (uintptr_t)p % align)
		return NULL;
	return p;
}

int virtqueue_activate(struct virtqueue *vq, const struct guest_mem *mem, bool event_idx)
{
	int ret = -EINVAL;

	pthread_mutex_lock(&vq->lock);
	uint64_t n = vq->size, extra = event_idx ? 2 : 0;
	if (n == 0 || n > vq->max_size || n > VIRTQUEUE_MAX_SIZE || (n & (n - 1)))
		goto out;
	void *desc = ring_ptr(mem, vq->desc_gpa, 16 * n, 16);
	void *avail = ring_ptr(mem, vq->avail_gpa, 4 + 2 * n + extra, 2);
	void *used = ring_ptr(mem, vq->used_gpa, 4 + 8 * n + extra, 4);
	if (!desc || !avail || !used)
		goto out;
	vq->mem = mem;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = event_idx;
	restart(vq);
	ret = 0;
out:
	pthread_mutex_unlock(&vq->lock);
	return ret;
}

static void chain_start(struct vq_chain *c, uint16_t head)
{
	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	c->out = c->iov;
	c->in = c->iov;
}

/* Appends one direct descriptor to the chain. */
static int chain_add(const struct virtqueue *vq, struct vq_chain *c, const struct desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;

	if (c->nout + c->nin >= VIRTQUEUE_MAX_SEGS)
		return -EINVAL;
	if (!writable && c->nin)
		return -EINVAL; /* readable segments must all come first */
	if ((uint64_t)c->out_len + c->in_len + d->len > UINT32_MAX)
		return -EINVAL;
	void *p = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!p)
		return -EINVAL;
	c->iov[c->nout + c->nin] = (struct iovec){ .iov_base = p, .iov_len = d->len };
	if (writable) {
		c->nin++;
		c->in_len += d->len;
	} else {
		c->nout++;
		c->out_len += d->len;
	}
	c->in = c->iov + c->nout;
	return 0;
}

/* Switches the walk to the indirect table described by d, the chain's only descriptor. */
static int enter_indirect(const struct virtqueue *vq, const struct desc *d, const void **table,
			  unsigned *table_size)
{
	if (d->flags & VRING_DESC_F_NEXT)
		return -EINVAL;
	if (d->len == 0 || d->len % sizeof(struct guest_desc) ||
	    d->len / sizeof(struct guest_desc) > VIRTQUEUE_MAX_SEGS)
		return -EINVAL;
	*table = guest_mem_ptr(vq->mem, d->addr, d->len);
	*table_size = d->len / sizeof(struct guest_desc);
	return *table ? 0 : -EINVAL;
}

/* Walks the chain starting at head. Every step visits a new descriptor of the current
 * table or the walk fails, so a loop is caught after at most table_size steps. */
static int walk_chain(const struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	const void *table = vq->desc;
	unsigned table_size = vq->size, steps = 0, idx = head;
	bool indirect = false;
	struct desc d;

	chain_start(c, head);
	for (;;) {
		if (idx >= table_size || ++steps > table_size)
			return -EINVAL;
		read_desc(table, idx, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || steps != 1)
				return -EINVAL; /* nested, or not alone in the chain */
			if (enter_indirect(vq, &d, &table, &table_size) < 0)
				return -EINVAL;
			indirect = true;
			idx = 0;
			steps = 0;
			continue;
		}
		if (chain_add(vq, c, &d) < 0)
			return -EINVAL;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

static int pop_locked(struct virtqueue *vq, struct vq_chain *chain)
{
	if (vq->broken)
		return -EINVAL;
	if (!vq->desc)
		return 0;

	uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail_idx && vq->event_idx) {
		/* Our last avail_event store must be visible before we conclude the ring is
		 * empty, or the guest could skip the kick for its next buffer. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	}
	uint16_t pending = avail_idx - vq->last_avail_idx;
	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return -EINVAL;

	uint16_t head = load16(&vq->avail->ring[vq->last_avail_idx & (vq->size - 1)]);
	if (walk_chain(vq, head, chain) < 0)
		return -EINVAL;
	vq->last_avail_idx++;
	if (vq->event_idx)
		store16(avail_event(vq), vq->last_avail_idx);
	return 1;
}

int virtqueue_pop(struct virtqueue *vq, struct vq_chain *chain)
{
	pthread_mutex_lock(&vq->lock);
	int ret = pop_locked(vq, chain);
	if (ret < 0)
		vq->broken = true;
	pthread_mutex_unlock(&vq->lock);
	return ret;
}

void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	pthread_mutex_lock(&vq->lock);
	if (vq->used && !vq->broken && head < vq->size) {
		volatile struct vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
		e->id = head;
		e->len = written;
		vq->used_idx++;
		__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vq->lock);
}

static bool should_signal_locked(struct virtqueue *vq)
{
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	bool valid = vq->signalled_used_valid;

	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (valid && old == new)
		return false; /* nothing pushed since the last decision */

	/* Pairs with the guest's barrier between writing used_event (or the flag) and
	 * reading used->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	return !valid || vring_need_event(load16(used_event(vq)), new, old);
}

bool virtqueue_should_signal(struct virtqueue *vq)
{
	pthread_mutex_lock(&vq->lock);
	bool ret = vq->used && !vq->broken && should_signal_locked(vq);
	pthread_mutex_unlock(&vq->lock);
	return ret;
}

bool virtqueue_enable_notify(struct virtqueue *vq)
{
	bool more = false;

	pthread_mutex_lock(&vq->lock);
	if (vq->used && !vq->broken) {
		if (vq->event_idx)
			store16(avail_event(vq), vq->last_avail_idx);
		else
			store16(&vq->used->flags, 0);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		more = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail_idx;
	}
	pthread_mutex_unlock(&vq->lock);
	return more;
}

/* Copies between a flat buffer and the segments, after skipping offset bytes of them. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t offset, char *buf, size_t len,
		       bool into_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - offset;
		if (chunk > len - done)
			chunk = len - done;
		char *seg = (char *)iov[i].iov_base + offset;
		if (into_iov)
			memcpy(seg, buf + done, chunk);
		else
			memcpy(buf + done, seg, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len)
{
	return iov_copy(iov, n, offset, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t offset, const void *buf, size_t len)
{
	return iov_copy(iov, n, offset, (char *)buf, len, true);
}
