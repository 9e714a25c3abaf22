/* The exec agent (docs/exec.md): PID 1 listens on a vsock port for the host, and runs one
 * process per connection in the workload's place, relaying its stdio (or a terminal),
 * signals and exit status as records (src/agent/proto.h). Everything runs in init's event
 * loop on non-blocking fds: a process that does not read its stdin, or a host that does
 * not read the output, slows that one connection and never stops PID 1. */
#ifndef KRUN_INIT_AGENT_H
#define KRUN_INIT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common.h"
#include "loop.h"

/* Each connection holds about 160 KiB of buffers in the guest. */
#define AGENT_MAX_CONNS 64

struct agent_conn;

struct agent {
	struct loop *loop;
	struct loop_watch listener; /* fd -1 when not listening */
	struct agent_conn *conns;   /* a list */
	unsigned nconns;
};

/* An agent in loop that listens nowhere yet (agent_adopt serves connections). */
void agent_init(struct agent *a, struct loop *loop);
/* agent_init, listening on the vsock port. */
int agent_open(struct agent *a, struct loop *loop, struct init_error *err);
/* Serves a connection already accepted from the host (fd is taken over). */
int agent_adopt(struct agent *a, int fd, struct init_error *err);
/* A child of init was reaped: returns whether it was an exec'd process (its status then
 * goes to its connection once its output is drained). */
bool agent_reaped(struct agent *a, pid_t pid, int wstatus);
/* Kills every exec'd process and ends every connection without an exit record (the
 * workload has exited, the VM goes down). */
void agent_close(struct agent *a);

#endif
