/* The epoll loop. Handlers live in a list protected by a mutex, because devices add fds
 * from vCPU threads (on activation) while the loop runs. A removed handler is only freed
 * once the current batch of events is done, since that batch may still name it. */
#include "vm/event_loop.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#define EVENT_BATCH 32

struct handler {
	int fd;
	bool removed;
	event_handler_fn fn;
	void *opaque;
	struct handler *next;
};

struct event_loop {
	int epfd;
	int stop_fd; /* eventfd that wakes epoll_wait when a stop is requested */
	atomic_bool stopping;
	pthread_mutex_t lock; /* protects handlers */
	struct handler *handlers;
	struct handler *removed; /* freed after the batch that may still reference them */
};

int event_loop_new(struct event_loop **out, krun_error_t *err)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct event_loop *loop = xzalloc(sizeof(*loop));

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&loop->lock, NULL);
	if (loop->epfd < 0 || loop->stop_fd < 0 ||
	    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stop_fd, &ev) < 0) {
		int ret = krun_make_error(err, errno, "create the event loop");
		event_loop_free(loop);
		return ret;
	}
	*out = loop;
	return 0;
}

static void free_list(struct handler *h)
{
	while (h) {
		struct handler *next = h->next;
		free(h);
		h = next;
	}
}

void event_loop_free(struct event_loop *loop)
{
	if (!loop)
		return;
	free_list(loop->handlers);
	free_list(loop->removed);
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->stop_fd >= 0)
		close(loop->stop_fd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler_fn fn,
		   void *opaque, krun_error_t *err)
{
	struct handler *h = xzalloc(sizeof(*h));
	struct epoll_event ev = { .events = events, .data.ptr = h };

	h->fd = fd;
	h->fn = fn;
	h->opaque = opaque;
	pthread_mutex_lock(&loop->lock);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		pthread_mutex_unlock(&loop->lock);
		free(h);
		return krun_make_error(err, errno, "add fd %d to the event loop", fd);
	}
	h->next = loop->handlers;
	loop->handlers = h;
	pthread_mutex_unlock(&loop->lock);
	return 0;
}

static struct handler *find_locked(struct event_loop *loop, int fd)
{
	for (struct handler *h = loop->handlers; h; h = h->next)
		if (h->fd == fd)
			return h;
	return NULL;
}

int event_loop_modify(struct event_loop *loop, int fd, uint32_t events, krun_error_t *err)
{
	struct epoll_event ev = { .events = events };
	int ret = 0;

	pthread_mutex_lock(&loop->lock);
	ev.data.ptr = find_locked(loop, fd);
	if (!ev.data.ptr)
		ret = krun_make_error(err, ENOENT, "fd %d is not in the event loop", fd);
	else if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		ret = krun_make_error(err, errno, "modify fd %d in the event loop", fd);
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int event_loop_watch(struct event_loop *loop, int fd, uint32_t *watched, uint32_t want,
		     event_handler_fn fn, void *opaque, krun_error_t *err)
{
	int ret = 0;

	if (want == *watched)
		return 0;
	if (!want)
		event_loop_remove(loop, fd);
	else if (!*watched)
		ret = event_loop_add(loop, fd, want, fn, opaque, err);
	else
		ret = event_loop_modify(loop, fd, want, err);
	if (ret < 0)
		return ret;
	*watched = want;
	return 0;
}

void event_loop_remove(struct event_loop *loop, int fd)
{
	pthread_mutex_lock(&loop->lock);
	for (struct handler **p = &loop->handlers; *p; p = &(*p)->next) {
		struct handler *h = *p;
		if (h->fd != fd)
			continue;
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		*p = h->next;
		h->removed = true;
		h->next = loop->removed;
		loop->removed = h;
		break;
	}
	pthread_mutex_unlock(&loop->lock);
}

static void dispatch(struct event_loop *loop, const struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		struct handler *h = evs[i].data.ptr;
		/* The stop eventfd carries no handler; a handler removed by an earlier
		 * callback of this batch must not run. */
		if (h && !h->removed && !atomic_load(&loop->stopping))
			h->fn(h->opaque, evs[i].events);
	}
	pthread_mutex_lock(&loop->lock);
	free_list(loop->removed);
	loop->removed = NULL;
	pthread_mutex_unlock(&loop->lock);
}

int event_loop_run(struct event_loop *loop, krun_error_t *err)
{
	struct epoll_event evs[EVENT_BATCH];

	while (!atomic_load(&loop->stopping)) {
		int n = epoll_wait(loop->epfd, evs, EVENT_BATCH, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return krun_make_error(err, errno, "epoll_wait");
		dispatch(loop, evs, n);
	}
	return 0;
}

void event_loop_stop(struct event_loop *loop)
{
	uint64_t one = 1;

	atomic_store(&loop->stopping, true);
	/* Cannot fail in a way that matters: a full counter still wakes the loop. */
	(void)!write(loop->stop_fd, &one, sizeof(one));
}
