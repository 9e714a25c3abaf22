/* The container's process seen from the verbs that run later (kill, delete, start): found
 * through a pidfd that is checked against the recorded start time, so a recycled pid is
 * never signalled. */
#ifndef KRUN_OCI_PROCESS_H
#define KRUN_OCI_PROCESS_H

#include "oci/status.h"

/* -ESRCH ("container `id` is not running: No such process") when it is gone. */
int process_open(const struct container_state *s, int *pidfd, krun_error_t *err);
int process_signal(int pidfd, int sig, const char *id, krun_error_t *err);
/* Waits up to timeout_ms for the process to exit; -ETIMEDOUT if it did not. */
int process_wait_exit(int pidfd, int timeout_ms);

#endif
