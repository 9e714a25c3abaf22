/* The VMM's side of the exec channel (docs/exec.md): the container's agent.sock, made
 * before the VMM confines itself, and a bridge that hands each accepted connection to the
 * vsock device as a connection to the guest's agent. The VMM never reads the stream. */
#ifndef KRUN_AGENT_BRIDGE_H
#define KRUN_AGENT_BRIDGE_H

#include <sys/types.h>
#include "util/error.h"

/* Host ports of the bridged connections: apart from TSI's (1024-1026, >= 0x40000000). */
#define AGENT_HOST_PORT_BASE 0x20000000u
#define AGENT_HOST_PORTS     4096u

struct event_loop;
struct virtio_device;
struct agent_bridge;

/* A listening socket at path, mode 0600, non-blocking; an old socket there is replaced. */
int agent_socket_listen(const char *path, krun_error_t *err);

/* Serves listen_fd (taken over) on loop: peers whose uid is not `owner` or 0 are closed;
 * the others are connected to the guest agent through vsock. */
int agent_bridge_new(struct event_loop *loop, struct virtio_device *vsock, int listen_fd,
		     uid_t owner, struct agent_bridge **out, krun_error_t *err);
/* Loop thread (or once the loop has stopped). */
void agent_bridge_free(struct agent_bridge *b);

#endif
