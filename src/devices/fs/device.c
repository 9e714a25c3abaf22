/* The virtio-fs device (VIRTIO_ID_FS): queue 0 is hiprio (FORGET), queue 1 carries the
 * requests. A pool of workers serves the request queue: the kick thread turns the
 * queue's eventfd into a wake-up token, a worker that pops a chain passes a token on so
 * that the next chain is served in parallel, and a worker that finds the ring empty
 * re-arms the guest's notifications and checks once more before it sleeps. Requests that
 * wait for a lock are deferred by the server and completed later (fs_complete_fn).
 *
 * Stopping is bounded in time: a thread that does not finish within its grace (stuck in
 * a host file system that stopped answering, say) is abandoned. It belongs to an old
 * epoch: it may finish its request, but it never pushes a reply nor pops another chain,
 * and the device's memory is then never freed, since it may still use it. */
#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "devices/fs/fs.h"
#include "devices/virtio/virtqueue.h"
#include "util/util.h"
#include "devices/fs/server.h"

#define Q_HIPRIO	0
#define Q_REQUEST	1
#define QUEUE_SIZE	1024
#define DEFAULT_WORKERS 4
#define MAX_WORKERS	64
#define TAG_LEN		36
/* A reset (the guest's, on a vCPU thread) waits for requests in progress; the VMM's exit
 * also lets the workers serve what the guest queued before it powered off. */
#define RESET_GRACE_S 2
#define DRAIN_GRACE_S 10

struct virtio_fs_config_space {
	uint8_t tag[TAG_LEN];
	uint32_t num_request_queues; /* little endian */
} __attribute__((packed));

struct virtio_fs {
	struct virtio_device dev;
	struct fs_server *srv;
	struct virtio_fs_config_space config;
	unsigned nworkers;
	pthread_t *workers;
	pthread_t kick_thread;
	int stop_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned tokens;	/* wake-ups owed to idle workers */
	unsigned started;	/* threads that finished their setup */
	krun_error_t setup_err; /* the first that failed */
	bool stopping;
	bool draining; /* serve what is queued before stopping */
	bool running;
	/* Bumped, under the write lock, when threads stop; a thread touches the queues only
	 * under the read lock and while the epoch is the one it started in. */
	pthread_rwlock_t epoch_lock;
	atomic_uint epoch;
	unsigned abandoned; /* threads given up on: the device is never freed */
};

static struct virtio_fs *to_fs(struct virtio_device *dev)
{
	return container_of(dev, struct virtio_fs, dev);
}

static void give_token(struct virtio_fs *fs)
{
	pthread_mutex_lock(&fs->mu);
	if (fs->tokens < fs->nworkers)
		fs->tokens++;
	pthread_cond_signal(&fs->cv);
	pthread_mutex_unlock(&fs->mu);
}

/* A deferred request's cookie names its queue and chain. */
static void *cookie(unsigned q, uint16_t head)
{
	return (void *)(((uintptr_t)q << 16) | head);
}

/* Pops the next chain unless the thread's epoch is over (1 on a chain, 0 when empty or
 * over, negative when the guest broke the ring). */
static int pop_current(struct virtio_fs *fs, unsigned epoch, unsigned q, struct vq_chain *c)
{
	int ret = 0;

	pthread_rwlock_rdlock(&fs->epoch_lock);
	if (atomic_load(&fs->epoch) == epoch)
		ret = virtqueue_pop(&fs->dev.vq[q], c);
	pthread_rwlock_unlock(&fs->epoch_lock);
	return ret;
}

static void push_current(struct virtio_fs *fs, unsigned epoch, unsigned q, uint16_t head,
			 uint32_t len)
{
	pthread_rwlock_rdlock(&fs->epoch_lock);
	if (atomic_load(&fs->epoch) == epoch) {
		virtqueue_push(&fs->dev.vq[q], head, len);
		virtio_signal_used(&fs->dev, q);
	}
	pthread_rwlock_unlock(&fs->epoch_lock);
}

static void serve_chain(struct virtio_fs *fs, unsigned epoch, unsigned q, struct vq_chain *c)
{
	struct fs_msg req = { c->out, c->nout, c->out_len };
	struct fs_msg rsp = { c->in, c->nin, c->in_len };
	long n = q == Q_HIPRIO ? fs_server_handle_hiprio(fs->srv, &req, &rsp)
			       : fs_server_handle(fs->srv, &req, &rsp, cookie(q, c->head));

	if (n != FS_DEFERRED)
		push_current(fs, epoch, q, c->head, (uint32_t)n);
}

/* Serves queue q until it is empty with notifications re-armed. `parallel` hands a token
 * to another worker for every chain taken. */
static void serve_queue(struct virtio_fs *fs, unsigned epoch, unsigned q, struct vq_chain *c,
			bool parallel)
{
	struct virtqueue *vq = &fs->dev.vq[q];

	for (;;) {
		int ret = pop_current(fs, epoch, q, c);
		if (ret < 0)
			return; /* the guest broke the ring; nothing more will come from it */
		if (ret == 0) {
			if (atomic_load(&fs->epoch) == epoch && virtqueue_enable_notify(vq))
				continue;
			return;
		}
		if (parallel)
			give_token(fs);
		serve_chain(fs, epoch, q, c);
	}
}

/* Each thread reports whether it could set itself up; the first failure is kept for
 * activate to return. */
static int thread_setup(struct virtio_fs *fs, unsigned *epoch)
{
	krun_error_t err = NULL;
	int ret = fs_server_thread_init(fs->srv, &err);

	pthread_mutex_lock(&fs->mu);
	*epoch = atomic_load(&fs->epoch);
	fs->started++;
	if (ret < 0 && !fs->setup_err)
		fs->setup_err = steal_ptr(&err);
	pthread_cond_broadcast(&fs->cv);
	pthread_mutex_unlock(&fs->mu);
	krun_error_release(&err);
	return ret;
}

/* Waits for a token. False when the worker should exit. */
static bool wait_for_work(struct virtio_fs *fs, unsigned epoch, bool *last)
{
	pthread_mutex_lock(&fs->mu);
	while (!fs->tokens && !fs->stopping)
		pthread_cond_wait(&fs->cv, &fs->mu);
	bool go = atomic_load(&fs->epoch) == epoch && (!fs->stopping || fs->draining);
	if (fs->tokens)
		fs->tokens--;
	*last = fs->stopping;
	pthread_mutex_unlock(&fs->mu);
	return go;
}

static void *worker_main(void *arg)
{
	struct virtio_fs *fs = arg;
	struct vq_chain *c = xmalloc(sizeof(*c));
	bool last = false;
	unsigned epoch;

	if (thread_setup(fs, &epoch) == 0)
		while (!last && wait_for_work(fs, epoch, &last))
			serve_queue(fs, epoch, Q_REQUEST, c, true);
	free(c);
	return NULL;
}

/* Turns kicks of the request queue into tokens and serves hiprio (FORGETs, which never
 * block) itself. */
static void *kick_main(void *arg)
{
	struct virtio_fs *fs = arg;
	struct vq_chain *c = xmalloc(sizeof(*c));
	struct pollfd pfd[3] = {
		{ .fd = fs->dev.kick_fd[Q_HIPRIO], .events = POLLIN },
		{ .fd = fs->dev.kick_fd[Q_REQUEST], .events = POLLIN },
		{ .fd = fs->stop_fd, .events = POLLIN },
	};
	eventfd_t v;
	unsigned epoch;

	if (thread_setup(fs, &epoch) == 0) {
		while (poll(pfd, 3, -1) >= 0 || errno == EINTR) {
			if (pfd[2].revents || atomic_load(&fs->epoch) != epoch)
				break;
			if (pfd[0].revents && eventfd_read(pfd[0].fd, &v) == 0)
				serve_queue(fs, epoch, Q_HIPRIO, c, false);
			if (pfd[1].revents && eventfd_read(pfd[1].fd, &v) == 0)
				give_token(fs);
		}
	}
	free(c);
	return NULL;
}

static void halt(struct virtio_fs *fs, bool drain)
{
	pthread_mutex_lock(&fs->mu);
	fs->stopping = true;
	fs->draining = drain;
	pthread_cond_broadcast(&fs->cv);
	pthread_mutex_unlock(&fs->mu);
	eventfd_write(fs->stop_fd, 1);
}

/* Joins t by `deadline`, else abandons it. */
static void join_by(struct virtio_fs *fs, pthread_t t, const struct timespec *deadline)
{
	if (pthread_timedjoin_np(t, NULL, deadline) == 0)
		return;
	pthread_detach(t);
	fs->abandoned++;
}

/* Stops and joins the first n workers and, if it runs, the kick thread, giving them
 * RESET_GRACE_S in all (DRAIN_GRACE_S when draining); then their epoch is over. */
static void join_threads(struct virtio_fs *fs, unsigned n, bool kick_thread, bool drain)
{
	struct timespec deadline;
	eventfd_t v;

	halt(fs, drain);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += drain ? DRAIN_GRACE_S : RESET_GRACE_S;
	for (unsigned i = 0; i < n; i++)
		join_by(fs, fs->workers[i], &deadline);
	if (kick_thread)
		join_by(fs, fs->kick_thread, &deadline);
	pthread_rwlock_wrlock(&fs->epoch_lock);
	atomic_fetch_add(&fs->epoch, 1);
	pthread_rwlock_unlock(&fs->epoch_lock);
	eventfd_read(fs->stop_fd, &v);
}

/* Stops every thread; with `drain` the workers first serve what the guest queued. Then
 * the FUSE session ends (pending lock waits are dropped). */
static void stop_threads(struct virtio_fs *fs, bool drain)
{
	if (!fs->running)
		return;
	join_threads(fs, fs->nworkers, true, drain);
	fs_server_reset(fs->srv);
	fs->running = false;
}

/* The workers, then the kick thread; *n counts the workers started. */
static int spawn_threads(struct virtio_fs *fs, unsigned *n)
{
	int ret;

	for (*n = 0; *n < fs->nworkers; (*n)++) {
		ret = fs_thread_start(&fs->workers[*n], worker_main, fs);
		if (ret < 0)
			return ret;
	}
	return fs_thread_start(&fs->kick_thread, kick_main, fs);
}

static int start_threads(struct virtio_fs *fs, krun_error_t *err)
{
	unsigned n;
	int ret;

	fs->stopping = fs->draining = false;
	fs->tokens = fs->started = 0;
	krun_error_release(&fs->setup_err);
	ret = spawn_threads(fs, &n);
	if (ret < 0) {
		join_threads(fs, n, false, false);
		return krun_make_error(err, -ret, "virtio-fs: start a worker thread");
	}
	pthread_mutex_lock(&fs->mu);
	while (fs->started < fs->nworkers + 1)
		pthread_cond_wait(&fs->cv, &fs->mu);
	krun_error_t setup_err = steal_ptr(&fs->setup_err);
	pthread_mutex_unlock(&fs->mu);
	fs->running = true;
	if (!setup_err)
		return 0;
	stop_threads(fs, false);
	ret = -setup_err->status;
	if (err && !*err)
		*err = steal_ptr(&setup_err);
	krun_error_release(&setup_err);
	return ret < 0 ? ret : -EINVAL;
}

/* ---- device ops ---- */

static void fs_config_read(struct virtio_device *dev, uint32_t offset, void *data, uint32_t len)
{
	memcpy(data, (const uint8_t *)&to_fs(dev)->config + offset, len);
}

static int fs_activate(struct virtio_device *dev, krun_error_t *err)
{
	struct virtio_fs *fs = to_fs(dev);

	if (fs->running)
		return krun_make_error(err, EBUSY, "virtio-fs: activated twice");
	int ret = start_threads(fs, err);
	if (ret < 0)
		return ret;
	give_token(fs); /* chains queued before activation */
	return 0;
}

static void fs_reset(struct virtio_device *dev)
{
	stop_threads(to_fs(dev), false);
}

static void fs_drain(struct virtio_device *dev)
{
	stop_threads(to_fs(dev), true);
}

static void fs_destroy(struct virtio_device *dev)
{
	struct virtio_fs *fs = to_fs(dev);

	stop_threads(fs, false);
	if (fs->abandoned)
		return; /* an abandoned thread may still use all of it */
	fs_server_free(fs->srv);
	close(fs->stop_fd);
	pthread_rwlock_destroy(&fs->epoch_lock);
	pthread_cond_destroy(&fs->cv);
	pthread_mutex_destroy(&fs->mu);
	free(fs->workers);
	free(fs);
}

static const struct virtio_device_ops virtio_fs_ops = {
	.name = "fs",
	.device_id = VIRTIO_ID_FS,
	.num_queues = 2,
	.queue_max_size = QUEUE_SIZE,
	.features = 0,
	.config_size = sizeof(struct virtio_fs_config_space),
	.config_read = fs_config_read,
	.activate = fs_activate,
	.reset = fs_reset,
	.drain = fs_drain,
	.destroy = fs_destroy,
};

/* A deferred request (a lock wait) finished: its chain goes back to the guest. Dropped
 * ones (len 0, the session is ending) are not pushed: the ring is being reset. */
static void complete_deferred(void *opaque, void *c, size_t len)
{
	struct virtio_fs *fs = opaque;
	unsigned q = (uintptr_t)c >> 16;

	if (len == 0)
		return;
	virtqueue_push(&fs->dev.vq[q], (uint16_t)(uintptr_t)c, (uint32_t)len);
	virtio_signal_used(&fs->dev, q);
}

int virtio_fs_new(const struct virtio_fs_config *cfg, struct virtio_device **out, krun_error_t *err)
{
	size_t tag_len = cfg->tag ? strlen(cfg->tag) : 0;

	if (tag_len == 0 || tag_len > TAG_LEN)
		return krun_make_error(err, EINVAL, "virtio-fs tag `%s`: 1 to %d bytes",
				       cfg->tag ? cfg->tag : "", TAG_LEN);
	struct virtio_fs *fs = xzalloc(sizeof(*fs));
	int ret = fs_server_new(cfg, complete_deferred, fs, &fs->srv, err);
	if (ret < 0) {
		free(fs);
		return ret;
	}
	fs->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fs->stop_fd < 0) {
		ret = krun_make_error(err, errno, "virtio-fs: eventfd");
		fs_server_free(fs->srv);
		free(fs);
		return ret;
	}
	fs->dev.ops = &virtio_fs_ops;
	memcpy(fs->config.tag, cfg->tag, tag_len);
	fs->config.num_request_queues = htole32(1);
	fs->nworkers = cfg->num_workers ? cfg->num_workers : DEFAULT_WORKERS;
	if (fs->nworkers > MAX_WORKERS)
		fs->nworkers = MAX_WORKERS;
	fs->workers = xzalloc(fs->nworkers * sizeof(*fs->workers));
	pthread_mutex_init(&fs->mu, NULL);
	pthread_cond_init(&fs->cv, NULL);
	pthread_rwlock_init(&fs->epoch_lock, NULL);
	*out = &fs->dev;
	return 0;
}
