/* PID 1's watch over the workload: reaps every child (orphans included), forwards the
 * usual termination signals to the workload, and ends when the workload exits. Signals
 * arrive through a signalfd in the event loop, so other event sources can join later. */
#ifndef KRUN_INIT_SUPERVISOR_H
#define KRUN_INIT_SUPERVISOR_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include "common.h"
#include "loop.h"

struct supervisor {
	struct loop loop;
	struct loop_watch signals; /* the signalfd */
	sigset_t handled;
	pid_t workload; /* 0 until started, and again once reaped */
	bool done;
	int status;
};

/* Blocks the handled signals (SIGCHLD and the forwarded ones) and starts watching them.
 * Call before forking the workload so that no SIGCHLD is lost; the child unblocks. */
int supervisor_open(struct supervisor *s, struct init_error *err);
void supervisor_close(struct supervisor *s);

/* Runs the loop until the workload (already started, pid) exits; *status is its status. */
int supervisor_run(struct supervisor *s, pid_t pid, int *status, struct init_error *err);

#endif
