/* The state store: one directory per container under the state root (--root, else
 * $XDG_RUNTIME_DIR/krun unless krun runs as real root, else /run/krun) holding `status` (what the
 * verbs need to find the container again), `config.json` (the bundle's config as it was at create)
 * and, between create and start, the container's start socket (start_socket.h). */
#ifndef KRUN_OCI_STATUS_H
#define KRUN_OCI_STATUS_H

#include <stdbool.h>
#include <sys/types.h>
#include "oci/cli.h"

struct oci_config;

enum container_status {
	CONTAINER_CREATED,
	CONTAINER_RUNNING,
	CONTAINER_PAUSED,
	CONTAINER_STOPPED,
};

struct container_state {
	char *id;
	char *dir; /* <root>/<id> */
	pid_t pid;
	unsigned long long start_time; /* field 22 of /proc/<pid>/stat: tells pid reuse */
	char *bundle;
	char *rootfs;  /* root.path as written in config.json */
	char *created; /* RFC 3339 UTC */
	char *owner;
	enum cli_cgroup_manager cgroup_manager;
	char *cgroup_path; /* NULL when the container has no cgroup */
	bool detached;
};

/* Whether krun runs as root of the host: euid 0 in the initial user namespace (its
 * uid_map is the identity over every uid). Real root ignores $XDG_RUNTIME_DIR, which any
 * user may point at a directory of theirs holding "containers" that name root's
 * processes; root of a user namespace does not: rootless podman runs the runtime as uid 0
 * of its namespace with XDG_RUNTIME_DIR naming the user's runtime directory. */
bool status_real_root(void);
/* The state root for these global options. Caller frees. */
char *status_root(const struct cli_globals *g);
/* Refuses a state root that is not a directory, is owned by another uid than krun's
 * euid, or is writable by its group or others: -ENOENT when it does not exist. */
int status_root_check(const char *root, krun_error_t *err);

/* Creates <root>/<id> (and root itself and its parents, 0700), checks the root
 * (status_root_check); fails if the container exists. */
int status_dir_create(const char *root, const char *id, char **dir, krun_error_t *err);
/* Removes <root>/<id> and everything in it; a missing directory is not an error. */
int status_dir_remove(const char *dir, krun_error_t *err);

/* Writes <dir>/status atomically. */
int status_write(const struct container_state *s, krun_error_t *err);
/* Reads <root>/<id>/status: "container `id` does not exist" when there is none. The root
 * and <root>/<id> are checked as status_root_check says (-EPERM, -ELOOP, -ENOTDIR). */
int status_load(const char *root, const char *id, struct container_state **out, krun_error_t *err);
void container_state_free(struct container_state *s);

/* The process start time of pid, 0 when it does not exist or is a zombie. */
unsigned long long status_process_start_time(pid_t pid);
/* Whether the recorded process is still the container's (alive, not a zombie, not a new
 * process that reused the pid). */
bool status_process_alive(const struct container_state *s);
/* Derives the status: stopped, created (start socket still there), paused (frozen cgroup) or
 * running. */
int status_get(const struct container_state *s, enum container_status *st, krun_error_t *err);
const char *status_name(enum container_status st);

/* The OCI state document: `krun state` prints it (with rootfs, created, owner), hooks read
 * it on stdin (for_hook: ociVersion 1.0.2 and the fields the runtime spec defines). The
 * annotations come from the saved config.json. Caller frees. */
char *status_state_json(const struct container_state *s, enum container_status st, bool for_hook,
			size_t *len);
/* The hooks' document from what the container process has (id, pid, bundle) and the
 * annotations of cfg: it cannot read the state directory once in a user namespace. */
char *status_hook_json(const struct container_state *s, const struct oci_config *cfg,
		       enum container_status st, size_t *len);

static inline void cleanup_container_statep(struct container_state **s)
{
	container_state_free(*s);
}
#define cleanup_container_state __attribute__((cleanup(cleanup_container_statep)))

#endif
