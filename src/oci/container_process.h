/* The container process between clone and power-off: it enters its namespaces, makes the
 * host binds, takes the console, runs createContainer hooks, waits for `start`,
 * runs startContainer hooks, then becomes the VMM. Its exit status is the workload's. */
#ifndef KRUN_OCI_CONTAINER_PROCESS_H
#define KRUN_OCI_CONTAINER_PROCESS_H

#include <stdbool.h>
#include "oci/bundle.h"
#include "oci/cli.h"
#include "oci/namespaces.h"

struct container_child {
	const struct cli_globals *g;
	const struct bundle *bundle;
	const struct ns_plan *ns;
	const char *id;
	int sync_fd;
	int start_listener; /* made by the parent: the state directory may be out of reach */
	int agent_listener; /* the exec channel's agent.sock, made by the parent too */
	int console_sock;   /* connected --console-socket, or -1 */
	bool own_terminal;  /* process.terminal on krun's own terminal (foreground run) */
};

__attribute__((noreturn)) void container_process_main(const struct container_child *c);

#endif
