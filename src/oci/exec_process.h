/* The process `krun exec` asks the guest agent for (docs/exec.md): the container's own
 * process (config.json as it was at create) or --process FILE, with the command line's
 * changes applied as crun applies them, written as the agent's EXEC document. */
#ifndef KRUN_OCI_EXEC_PROCESS_H
#define KRUN_OCI_EXEC_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "oci/config.h"

struct exec_changes {
	char *const *args; /* CMD ARGS: replace process.args when n_args > 0 */
	size_t n_args;
	char *const *env; /* -e KEY=VALUE: replaces KEY, or is added */
	size_t n_env;
	const char *cwd; /* --cwd, or NULL */
	bool has_user;	 /* -u UID[:GID] */
	uint32_t uid, gid;
	const uint32_t *gids; /* --additional-gids, when n_gids > 0 */
	size_t n_gids;
	int terminal; /* -t: 1, absent: -1 (the base's) */
	bool no_new_privs;
	char *const *caps; /* -c CAP: added to every set but ambient */
	size_t n_caps;
};

/* Applies c to p (which it changes) and writes {"process": p}. Fails, naming the field, on
 * a change that cannot be applied (a relative --cwd, an env entry without `=`). */
int exec_process_json(struct oci_process *p, const struct exec_changes *c, char **json,
		      krun_error_t *err);

#endif
