/* Creating a container: the state directory, the container process (which becomes the
 * VMM once started) in its namespaces, cgroup and mounts, the console, the createRuntime /
 * prestart / createContainer hooks, and the pid file. Afterwards the container process waits
 * for `krun start`. Shared by `create` and `run`. */
#ifndef KRUN_OCI_LAUNCH_H
#define KRUN_OCI_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>
#include "oci/bundle.h"
#include "oci/cli.h"
#include "oci/container_opts.h"
#include "oci/status.h"

struct launch {
	const struct cli_globals *g;
	const struct container_opts *opts;
	struct bundle *bundle;
	/* `run` in the foreground: a terminal may be krun's own, and the caller reaps. */
	bool foreground;
};

/* On success *state describes the created container (status `created`). On failure
 * nothing is left behind: no process, no cgroup, no state directory. */
int launch_container(const struct launch *l, struct container_state **state, krun_error_t *err);

/* Lets the created container boot (what `krun start` does; st: its current status), once
 * its startContainer hooks ran. */
int launch_start(const struct container_state *s, enum container_status st, krun_error_t *err);

/* Runs the poststart hooks of a started container; if one fails, the container is killed
 * and removed, and the error returned. */
int launch_poststart(const struct container_state *s, krun_error_t *err);

/* Kills the container's process with SIGKILL (every process of its cgroup with all) and
 * waits until it is gone; a paused container is thawed so that it can die. */
int launch_kill_and_wait(const struct container_state *s, krun_error_t *err);

/* Writes pid to path (--pid-file) without ever writing through what is at path: a new
 * file, 0644 less the umask, replaces it. */
int launch_write_pid_file(const char *path, pid_t pid, krun_error_t *err);

struct cgroup;
/* The cgroup recorded in the state (s->cgroup_path must be set). */
int launch_open_cgroup(const struct container_state *s, struct cgroup **cg, krun_error_t *err);

/* Removes what a stopped container leaves on the host: poststop hooks (failures are
 * warnings), its cgroup, its state directory. */
int launch_cleanup(const struct container_state *s, krun_error_t *err);

#endif
