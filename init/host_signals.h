/* Signals from the host for the workload (podman stop, podman kill, ^C on the host): the
 * VMM writes one byte per signal, its number, on the virtio-console port "krun-signal".
 * init holds the port open from before the workload starts, which tells the VMM that
 * the guest takes signals from then on, and the supervisor forwards each record to the
 * workload. A record that is not a signal number (0, above 64) is ignored. */
#ifndef KRUN_INIT_HOST_SIGNALS_H
#define KRUN_INIT_HOST_SIGNALS_H

#include <stddef.h>
#include "common.h"

#define PORT_NAME_SIGNAL "krun-signal"
#define HOST_SIGNAL_MAX	 64

/* Decodes n records from buf into out (room for n). Returns how many are signals. */
size_t host_signals_decode(const unsigned char *buf, size_t n, int *out);

/* Opens the port (found by name in ports_dir, its node in dev_dir), waiting up to
 * timeout_ms for the host to name it. Returns a non-blocking, close-on-exec fd. */
int host_signals_open(const char *ports_dir, const char *dev_dir, int timeout_ms,
		      struct init_error *err);

#endif
