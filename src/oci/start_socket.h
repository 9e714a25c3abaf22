/* How `krun start` lets a created container boot: the container process listens on
 * <state dir>/start.sock; start connects, removes the socket file (so a second start fails
 * and the state says running), sends one byte, and waits for the reply the container sends
 * once its startContainer hooks ran: empty for success, else the error text. So poststart
 * hooks run after startContainer ones, and a failing startContainer hook fails `start`. */
#ifndef KRUN_OCI_START_SOCKET_H
#define KRUN_OCI_START_SOCKET_H

#include "util/error.h"

#define START_SOCKET "start.sock"

/* Container side. Returns the listening socket. */
int start_socket_listen(const char *dir, krun_error_t *err);
/* Blocks until `start` connects and sends its byte; returns the connection. */
int start_socket_accept(int listener, krun_error_t *err);
/* error: NULL when the container goes on to boot. */
void start_socket_reply(int conn, const char *error);

/* The `start` side. -ESRCH when no container process is listening. */
int start_socket_trigger(const char *dir, const char *id, krun_error_t *err);

#endif
