/* virtio-rng: every writable buffer the guest queues is filled from the kernel's
 * getrandom(), on the event loop thread. A chain may be as large as 4 GiB: it is filled a
 * slice per turn of the loop, and held (popped, not yet used) in between, so that no
 * request keeps the loop from the console and TSI for longer than a slice takes. */
#include "devices/rng/rng.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/util.h"

#define RNG_QUEUE_SIZE 256
/* Requests served per callback before yielding to the rest of the event loop. */
#define RNG_BUDGET 64
/* Bytes filled per callback: about a tenth of a millisecond of getrandom here. */
#define RNG_SLICE (128 * 1024)

struct rng {
	struct virtio_device dev;
	pthread_mutex_t lock;
	bool active;
	bool kick_watched;
	bool held;   /* chain is popped and partly filled */
	size_t done; /* bytes of chain filled so far */
	struct vq_chain chain;
};

/* Fills at most max bytes of the chain's writable segments from offset off; returns the
 * bytes written, short only when getrandom fails. */
static size_t fill_random(const struct vq_chain *chain, size_t off, size_t max)
{
	size_t total = 0;

	for (unsigned i = 0; i < chain->nin && total < max; i++) {
		if (off >= chain->in[i].iov_len) {
			off -= chain->in[i].iov_len;
			continue;
		}
		char *p = (char *)chain->in[i].iov_base + off;
		size_t left = chain->in[i].iov_len - off;
		off = 0;
		if (left > max - total)
			left = max - total;
		while (left) {
			ssize_t n = getrandom(p, left, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return total;
			p += n;
			left -= n;
			total += n;
		}
	}
	return total;
}

static void kick_again(struct rng *r)
{
	uint64_t one = 1; /* more to do: come back after the other fds */

	while (write(r->dev.kick_fd[0], &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Fills chains for at most RNG_SLICE bytes and RNG_BUDGET chains; a chain not finished
 * stays held for the next turn. */
static void rng_serve(struct rng *r)
{
	struct virtqueue *vq = &r->dev.vq[0];
	size_t budget = RNG_SLICE;
	bool pushed = false;
	unsigned n;

	for (n = 0; n < RNG_BUDGET && budget; n++) {
		if (!r->held && virtqueue_pop(vq, &r->chain) <= 0)
			break;
		if (!r->held) {
			r->held = true;
			r->done = 0;
		}
		size_t want = r->chain.in_len - r->done;
		size_t ask = want < budget ? want : budget;
		size_t got = fill_random(&r->chain, r->done, ask);
		r->done += got;
		budget -= got;
		if (got == ask && r->done < r->chain.in_len)
			break; /* the slice is spent: the rest of this chain waits */
		/* in_len fits in 32 bits: the virtqueue refuses longer chains */
		virtqueue_push(vq, r->chain.head, (uint32_t)r->done);
		r->held = false;
		pushed = true;
	}
	if (pushed)
		virtio_signal_used(&r->dev, 0);
	if (n == RNG_BUDGET || !budget || r->held)
		kick_again(r);
}

static void on_kick(void *opaque, uint32_t events)
{
	struct rng *r = opaque;
	uint64_t count;

	if (read(r->dev.kick_fd[0], &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->active)
		rng_serve(r);
	pthread_mutex_unlock(&r->lock);
}

static int rng_activate(struct virtio_device *dev, krun_error_t *err)
{
	struct rng *r = container_of(dev, struct rng, dev);
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	if (!r->kick_watched)
		ret = event_loop_add(dev->loop, dev->kick_fd[0], EPOLLIN, on_kick, r, err);
	r->kick_watched = ret == 0;
	r->active = ret == 0;
	pthread_mutex_unlock(&r->lock);
	return ret < 0 ? krun_error_wrap(err, "virtio-rng: watch queue") : 0;
}

static void rng_reset(struct virtio_device *dev)
{
	struct rng *r = container_of(dev, struct rng, dev);

	pthread_mutex_lock(&r->lock);
	r->active = false;
	r->held = false; /* the transport is about to forget the ring */
	pthread_mutex_unlock(&r->lock);
}

static void rng_destroy(struct virtio_device *dev)
{
	struct rng *r = container_of(dev, struct rng, dev);

	if (r->kick_watched)
		event_loop_remove(dev->loop, dev->kick_fd[0]);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct virtio_device_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_max_size = RNG_QUEUE_SIZE,
	.activate = rng_activate,
	.reset = rng_reset,
	.destroy = rng_destroy,
};

int virtio_rng_new(struct virtio_device **out, krun_error_t *err)
{
	struct rng *r = xzalloc(sizeof(*r));

	pthread_mutex_init(&r->lock, NULL);
	r->dev.ops = &rng_ops;
	r->dev.irq_fd = -1;
	*out = &r->dev;
	return 0;
}
