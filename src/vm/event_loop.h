/* One epoll loop, run by the VMM's main thread. Devices register fds with a callback;
 * callbacks run on the loop thread and must not block. */
#ifndef KRUN_VM_EVENT_LOOP_H
#define KRUN_VM_EVENT_LOOP_H

#include <stdint.h>
#include "util/error.h"

struct event_loop;
typedef void (*event_handler_fn)(void *opaque, uint32_t events);

int event_loop_new(struct event_loop **out, krun_error_t *err);
void event_loop_free(struct event_loop *loop);

/* events are EPOLLIN/EPOLLOUT/...; the callback gets the epoll events that fired.
 * Safe to call from any thread. */
int event_loop_add(struct event_loop *loop, int fd, uint32_t events, event_handler_fn fn,
		   void *opaque, krun_error_t *err);
int event_loop_modify(struct event_loop *loop, int fd, uint32_t events, krun_error_t *err);
/* After it returns the callback for fd will not be called again. Call it on the loop
 * thread (or before the loop runs). */
void event_loop_remove(struct event_loop *loop, int fd);
/* Makes fd registered for exactly `want` (0: not registered), given that it is for
 * *watched now, with add, modify or remove as needed; *watched follows on success. For
 * devices that change what they wait for as their state changes. Loop thread only. */
int event_loop_watch(struct event_loop *loop, int fd, uint32_t *watched, uint32_t want,
		     event_handler_fn fn, void *opaque, krun_error_t *err);

/* Runs until event_loop_stop is called (from any thread, including a callback). */
int event_loop_run(struct event_loop *loop, krun_error_t *err);
void event_loop_stop(struct event_loop *loop);

#endif
