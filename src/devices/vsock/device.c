/* virtio-vsock: the transport glue. Queue kicks and host-fd events run on the event loop
 * under vs.lock; the event queue is never used (we send no transport events), so its
 * buffers simply stay with us. */
#include "devices/vsock/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ids.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Connections released per turn of the loop after a reset: closing 12288 sockets would
 * hold it for tens of milliseconds. */
#define RESET_BUDGET 256

bool vsock_enter(struct vsock *vs)
{
	if (vs->reset_pending) {
		/* The guest forgot every connection: drop them without telling it, a batch per
		 * turn; the device serves again once none is left. */
		if (!conn_release_some(vs, RESET_BUDGET)) {
			vsock_kick_again(vs, VSOCK_TXQ);
			return false;
		}
		vs->reset_pending = false;
	}
	return vs->active;
}

static void on_kick(struct vsock *vs, unsigned q)
{
	uint64_t count;

	if (read(vs->dev.kick_fd[q], &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&vs->lock);
	if (vsock_enter(vs)) {
		if (q == VSOCK_TXQ)
			vsock_tx_service(vs);
		else
			vsock_rx_service(vs);
	}
	pthread_mutex_unlock(&vs->lock);
}

static void on_rx_kick(void *opaque, uint32_t events)
{
	on_kick(opaque, VSOCK_RXQ);
}

static void on_tx_kick(void *opaque, uint32_t events)
{
	on_kick(opaque, VSOCK_TXQ);
}

static void config_read(struct virtio_device *dev, uint32_t offset, void *data, uint32_t len)
{
	struct virtio_vsock_config cfg = { .guest_cid = VSOCK_GUEST_CID };

	memcpy(data, (const uint8_t *)&cfg + offset, len);
}

static int watch_kicks(struct vsock *vs, krun_error_t *err)
{
	struct virtio_device *dev = &vs->dev;
	int ret;

	if (vs->kicks_watched)
		return 0;
	ret = event_loop_add(dev->loop, dev->kick_fd[VSOCK_RXQ], EPOLLIN, on_rx_kick, vs, err);
	if (ret < 0)
		return ret;
	ret = event_loop_add(dev->loop, dev->kick_fd[VSOCK_TXQ], EPOLLIN, on_tx_kick, vs, err);
	if (ret < 0) {
		event_loop_remove(dev->loop, dev->kick_fd[VSOCK_RXQ]);
		return ret;
	}
	vs->kicks_watched = true;
	return 0;
}

static int vsock_activate(struct virtio_device *dev, krun_error_t *err)
{
	struct vsock *vs = to_vsock(dev);

	pthread_mutex_lock(&vs->lock);
	int ret = watch_kicks(vs, err);
	vs->active = ret == 0;
	vs->seqpacket = dev->driver_features & (1ULL << VIRTIO_VSOCK_F_SEQPACKET);
	pthread_mutex_unlock(&vs->lock);
	if (ret < 0)
		return krun_error_wrap(err, "virtio-vsock: watch queues");
	/* The guest may have queued packets before DRIVER_OK. */
	vsock_kick_again(vs, VSOCK_TXQ);
	return 0;
}

static void vsock_reset(struct virtio_device *dev)
{
	struct vsock *vs = to_vsock(dev);

	pthread_mutex_lock(&vs->lock);
	vs->active = false;
	vs->reset_pending = true;
	vs->rx_held = false; /* the transport is about to forget the rings */
	bool wake = vs->kicks_watched;
	pthread_mutex_unlock(&vs->lock);
	if (wake) /* the loop thread releases the connections */
		vsock_kick_again(vs, VSOCK_TXQ);
}

static void vsock_destroy(struct virtio_device *dev)
{
	struct vsock *vs = to_vsock(dev);

	if (vs->kicks_watched) {
		event_loop_remove(dev->loop, dev->kick_fd[VSOCK_RXQ]);
		event_loop_remove(dev->loop, dev->kick_fd[VSOCK_TXQ]);
	}
	conn_release_all(vs);
	if (vs->backend)
		vs->backend->ops->destroy(vs->backend);
	pthread_mutex_destroy(&vs->lock);
	free(vs->rx_chain);
	free(vs->tx_chain);
	free(vs->rst);
	free(vs);
}

static const struct virtio_device_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = VSOCK_NUM_QUEUES,
	.queue_max_size = VSOCK_QUEUE_SIZE,
	.features = 1ULL << VIRTIO_VSOCK_F_SEQPACKET,
	.config_size = sizeof(struct virtio_vsock_config),
	.config_read = config_read,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.destroy = vsock_destroy,
};

int virtio_vsock_new(const struct vsock_config *cfg, struct virtio_device **out, krun_error_t *err)
{
	if (!cfg->backend)
		return krun_make_error(err, EINVAL, "virtio-vsock: no backend");
	struct vsock *vs = xzalloc(sizeof(*vs));
	pthread_mutex_init(&vs->lock, NULL);
	vs->backend = cfg->backend;
	vs->backend->dev = &vs->dev;
	virtio_vsock_set_max_connections(&vs->dev, VSOCK_MAX_CONNECTIONS);
	vs->mem_max = VSOCK_MAX_QUEUED_MEM;
	vs->rx_chain = xmalloc(sizeof(*vs->rx_chain));
	vs->tx_chain = xmalloc(sizeof(*vs->tx_chain));
	vs->dev.ops = &vsock_ops;
	vs->dev.irq_fd = -1;
	*out = &vs->dev;
	return 0;
}

void virtio_vsock_set_max_connections(struct virtio_device *dev, unsigned max)
{
	struct vsock *vs = to_vsock(dev);

	vs->max_conns = max ? max : 1;
	vs->rst_cap = VSOCK_MAX_STRAY_RST + vs->max_conns;
	free(vs->rst);
	vs->rst = xmalloc(vs->rst_cap * sizeof(*vs->rst));
	vs->rst_head = vs->nrst = 0;
}

void virtio_vsock_set_queue_limit(struct virtio_device *dev, size_t bytes)
{
	struct vsock *vs = to_vsock(dev);

	pthread_mutex_lock(&vs->lock);
	vs->mem_max = bytes;
	pthread_mutex_unlock(&vs->lock);
}

bool vsock_mem_tight(const struct vsock *vs)
{
	return vs->mem > vs->mem_max / 2;
}

int virtio_vsock_connect_guest(struct virtio_device *dev, uint32_t host_port, uint32_t guest_port,
			       enum vsock_type type, int fd)
{
	struct vsock *vs = to_vsock(dev);
	int ret = 0;

	pthread_mutex_lock(&vs->lock);
	if (!vsock_enter(vs))
		ret = -ENOTCONN;
	else if (!valid_type(vs, type))
		ret = -EPROTONOSUPPORT;
	else if (vs->nconns >= vs->max_conns || vsock_mem_tight(vs) ||
		 conn_find(vs, guest_port, host_port))
		ret = -EBUSY;
	if (ret < 0) {
		pthread_mutex_unlock(&vs->lock);
		close(fd);
		return ret;
	}
	struct conn *c = conn_new(vs, guest_port, host_port, type, fd);
	c->state = CONN_CONNECTING;
	conn_set_pending(c, PEND_REQUEST);
	vsock_rx_service(vs);
	pthread_mutex_unlock(&vs->lock);
	return 0;
}

int virtio_vsock_dup_host_fd(struct virtio_device *dev, uint32_t host_port, uint32_t guest_port)
{
	struct vsock *vs = to_vsock(dev);
	int fd = -ENOENT;

	pthread_mutex_lock(&vs->lock);
	struct conn *c = vsock_enter(vs) ? conn_find(vs, guest_port, host_port) : NULL;
	if (c && c->state == CONN_CONNECTED) {
		fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			fd = -errno;
	}
	pthread_mutex_unlock(&vs->lock);
	return fd;
}
