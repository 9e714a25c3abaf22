/* PID 1's watch over the workload: reaps every child (orphans included), forwards the
 * usual termination signals to the workload, and the signals the host sends on the
 * krun-signal port (host_signals.h), and ends when the workload exits. Both arrive in
 * the event loop (a signalfd, the port), so other event sources can join later. */
#ifndef KRUN_INIT_SUPERVISOR_H
#define KRUN_INIT_SUPERVISOR_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include "common.h"
#include "agent.h"
#include "loop.h"

struct supervisor {
	struct loop loop;
	struct loop_watch signals; /* the signalfd */
	struct loop_watch host;	   /* the krun-signal port; fd -1 when none */
	sigset_t handled;
	struct agent *agent; /* exec'd processes, when the agent runs */
	pid_t workload;	     /* 0 until started, and again once reaped */
	bool done;
	int status;
};

/* Blocks the handled signals (SIGCHLD and the forwarded ones) and starts watching them.
 * Call before forking the workload so that no SIGCHLD is lost; the child unblocks. */
int supervisor_open(struct supervisor *s, struct init_error *err);
void supervisor_close(struct supervisor *s);

/* Forwards the signals the host sends on fd (the krun-signal port, non-blocking) to the
 * workload. Takes fd over, also on failure. */
int supervisor_watch_host(struct supervisor *s, int fd, struct init_error *err);

/* Runs the loop until the workload (already started, pid) exits; *status is its status. */
int supervisor_run(struct supervisor *s, pid_t pid, int *status, struct init_error *err);

#endif
