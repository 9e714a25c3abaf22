/* Starting the workload: fork, apply the OCI process in the child, exec. A failure in the
 * child before exec travels back to init over a close-on-exec pipe, so init knows the
 * exact status (125 setup, 126 cannot execute, 127 not found) and the reason. */
#ifndef KRUN_INIT_WORKLOAD_H
#define KRUN_INIT_WORKLOAD_H

#include <sys/types.h>
#include "common.h"
#include "config.h"
#include "streams.h"

struct child_failure;

struct workload {
	const struct init_process *process;
	char *const *env; /* the complete environment (env_build) */
	const struct stdio_fds *stdio;
	/* When set, a failure before exec is told here instead of logged (exec'd processes:
	 * the host gets the reason). */
	struct child_failure *failure;
};

/* What the child sends when it cannot exec: the status to report and why. Smaller than
 * PIPE_BUF, so that it is written atomically. */
struct child_failure {
	int status;
	char msg[1024];
};

/* Starts the workload. Returns 0 with *pid > 0 when the program is running, or with
 * *pid == 0 when the child failed before exec: then it has been reaped, the reason logged,
 * and *status holds the status to report. A negative errno when no child could be started.
 * Call with the signals init handles blocked: the child unblocks them. */
int workload_start(const struct workload *w, pid_t *pid, int *status, struct init_error *err);

/* The child's part, up to execve (child.c). Returns only on failure, with f filled. */
void workload_child(const struct workload *w, struct child_failure *f);

#endif
