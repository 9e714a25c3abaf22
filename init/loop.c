/* A small epoll loop for PID 1: its children, its signals and the host's. */
#include <errno.h>
#include <sys/epoll.h>
#include "loop.h"

int loop_open(struct loop *l, struct init_error *err)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return init_fail(err, errno, "epoll_create1");
	return 0;
}

void loop_close(struct loop *l)
{
	close_and_reset(&l->epfd);
}

int loop_add_events(struct loop *l, struct loop_watch *w, uint32_t events, struct init_error *err)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
		return init_fail(err, errno, "watch fd %d", w->fd);
	return 0;
}

int loop_add(struct loop *l, struct loop_watch *w, struct init_error *err)
{
	return loop_add_events(l, w, EPOLLIN, err);
}

void loop_remove(struct loop *l, struct loop_watch *w)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

/* One event per call: a callback may then free any watch (an exec connection ending takes
 * its process' fds with it) without a later event of the same batch pointing at it. */
int loop_dispatch(struct loop *l, int timeout_ms, struct init_error *err)
{
	struct epoll_event ev;
	int n = epoll_wait(l->epfd, &ev, 1, timeout_ms);

	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0)
		return init_fail(err, errno, "epoll_wait");
	if (n == 1) {
		struct loop_watch *w = ev.data.ptr;
		w->ready(w, ev.events);
	}
	return 0;
}

int loop_set_events(struct loop *l, struct loop_watch *w, uint32_t events, struct init_error *err)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return init_fail(err, errno, "watch fd %d", w->fd);
	return 0;
}
