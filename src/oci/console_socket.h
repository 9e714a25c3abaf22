/* process.terminal: a host pty whose master goes to the caller (conmon, containerd's shim)
 * through `--console-socket`, and whose slave becomes the VMM's stdio and controlling
 * terminal. */
#ifndef KRUN_OCI_CONSOLE_SOCKET_H
#define KRUN_OCI_CONSOLE_SOCKET_H

#include "util/error.h"

/* Opens a new pty pair on the host (/dev/ptmx): *master and *slave, both O_CLOEXEC, the
 * slave O_NOCTTY. Sets the window size when rows or cols is non-zero. */
int pty_open(int *master, int *slave, unsigned rows, unsigned cols, krun_error_t *err);

/* Makes slave the controlling terminal of the calling process, in a new session (setsid:
 * the caller must not be a process group leader, e.g. call it in a fresh child), and its
 * stdin, stdout and stderr. slave itself stays open. */
int pty_become_controlling(int slave, krun_error_t *err);

/* Connects to the AF_UNIX SOCK_STREAM socket at path; paths longer than sun_path go through
 * an O_PATH descriptor and /proc/self/fd/N. *out: the connected socket, O_CLOEXEC. */
int console_socket_connect(const char *path, int *out, krun_error_t *err);

/* Sends fd over sock with SCM_RIGHTS in one sendmsg; the payload is name (the pty's name)
 * or, when name is NULL or empty, a single space. */
int console_socket_send_fd(int sock, int fd, const char *name, krun_error_t *err);

#endif
