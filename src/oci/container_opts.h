/* The options of the verbs that create a container (create, run) and the container id. */
#ifndef KRUN_OCI_CONTAINER_OPTS_H
#define KRUN_OCI_CONTAINER_OPTS_H

#include <stdbool.h>
#include "util/error.h"

struct container_opts {
	const char *id;
	const char *bundle; /* NULL: the current directory */
	const char *pid_file;
	const char *console_socket;
	unsigned preserve_fds;
	bool detach, keep; /* run only */
	bool no_pivot, no_new_keyring;
};

/* Parses `VERB [options] ID` (argv[0] is the verb). is_run: accept -d/--detach, --keep.
 * Fails with CLI_EUSAGE for usage errors. */
int container_opts_parse(int argc, char **argv, bool is_run, struct container_opts *o,
			 krun_error_t *err);

/* Container ids: [A-Za-z0-9_+.-], not starting with '.', at most 255 bytes (a file name
 * in the state directory). */
int container_id_validate(const char *id, krun_error_t *err);

#endif
