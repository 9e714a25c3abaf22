/* A small epoll loop. PID 1 waits in it for its children, its signals and the host's
 * (the krun-signal port); later steps add their own fds (a vsock listener for exec). */
#ifndef KRUN_INIT_LOOP_H
#define KRUN_INIT_LOOP_H

#include <stdint.h>
#include "common.h"

struct loop_watch {
	int fd;
	/* Called with the epoll events of fd; embed the watch to reach the owner. */
	void (*ready)(struct loop_watch *w, uint32_t events);
};

struct loop {
	int epfd;
};

int loop_open(struct loop *l, struct init_error *err);
void loop_close(struct loop *l);
/* Watches w->fd for input. w must stay valid while it is watched. */
int loop_add(struct loop *l, struct loop_watch *w, struct init_error *err);
/* The same with these epoll events (EPOLLIN | EPOLLET, say). */
int loop_add_events(struct loop *l, struct loop_watch *w, uint32_t events, struct init_error *err);
/* Changes the events watched on w->fd. */
int loop_set_events(struct loop *l, struct loop_watch *w, uint32_t events, struct init_error *err);
/* Stops watching w->fd; call before closing it. */
void loop_remove(struct loop *l, struct loop_watch *w);
/* Waits for a ready fd (up to timeout_ms, -1 for ever) and calls its watch. One at a time,
 * so a watch may free any other. */
int loop_dispatch(struct loop *l, int timeout_ms, struct init_error *err);

#endif
