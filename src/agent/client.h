/* The host's end of one exec (docs/exec.md): `krun exec` sends the process, then stands
 * for it, relaying the caller's stdio (or terminal) and signals until its status comes. */
#ifndef KRUN_AGENT_CLIENT_H
#define KRUN_AGENT_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include "util/error.h"

struct agent_client {
	int sock; /* connected to the agent, through the VMM's bridge */
	/* The caller's side. in: -1 for none (end of input at once). With a terminal, in and
	 * out are the terminal and err is -1. */
	int in, out, err;
	/* A terminal whose size the guest follows (at start and on SIGWINCH), or -1. */
	int winsize_from;
	struct agent_relay *relay; /* NULL at first; agent_client_release frees it */
};

/* Waits for the agent's READY, the first record of a connection: 0 once it came,
 * -ECONNRESET when the connection ended first (the guest refused it: its agent is not
 * listening yet), -ETIMEDOUT after timeout_ms, -EPROTO for another record or version. */
int agent_client_await_ready(struct agent_client *c, int timeout_ms, krun_error_t *err);

/* Sends the EXEC record (JSON {"process": ...}) and waits for the answer: 0 with *pid the
 * guest pid once the process runs; 0 with *pid 0 and *status the exit status (125, 126,
 * 127) when it could not start, the reason in *why (to free). */
int agent_client_start(struct agent_client *c, const char *request, pid_t *pid, int *status,
		       char **why, krun_error_t *err);

/* Relays until the process ends; *status is its exit status (the code, or 128 + the signal
 * that killed it, or 137 when the VM went away first). The signals in `forward` (blocked by
 * the caller) go to the process; SIGWINCH, when in it, resizes the guest's terminal. */
int agent_client_relay(struct agent_client *c, const sigset_t *forward, int *status,
		       krun_error_t *err);

void agent_client_release(struct agent_client *c);

#endif
