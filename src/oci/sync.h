/* The handshake between `krun create` and the container process it clones, over a
 * SOCK_SEQPACKET socket pair: each step waits for the other side's message, and a failure
 * on the child's side arrives as its message text. */
#ifndef KRUN_OCI_SYNC_H
#define KRUN_OCI_SYNC_H

#include <stddef.h>
#include "util/error.h"

enum sync_type {
	SYNC_GO = 1,  /* parent -> child: carry on */
	SYNC_MOUNTED, /* child: namespaces, mounts and console are ready */
	SYNC_READY,   /* child: hooks done, waiting for `start` */
	SYNC_ERROR,   /* child: failed, the text says why */
	SYNC_USERNS,  /* child: its user namespace awaits the id maps */
};

/* Sends a message (msg may be NULL). A failure fills *err naming the other side, which
 * SYNC_GO tells apart: the runtime sends it, the container process all the others. */
int sync_send(int fd, enum sync_type type, const char *msg, krun_error_t *err);
/* Waits for `expected`. A SYNC_ERROR becomes *err with the child's text; end of file means
 * the other side is gone. */
int sync_wait(int fd, enum sync_type expected, krun_error_t *err);
/* The same, also returning the message's text (truncated to size - 1 bytes). */
int sync_wait_text(int fd, enum sync_type expected, char *text, size_t size, krun_error_t *err);

#endif
