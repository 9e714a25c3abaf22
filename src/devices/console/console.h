/* virtio-console (multiport). Port 0 is hvc0, the guest's kernel console. When
 * `terminal` is set, port 0 carries the workload's terminal: its input is in_fd and its
 * output out_fd (both the same pty or tty). Otherwise port 0's output goes to
 * console_log_fd (or is dropped when -1) and three named ports carry the workload's
 * streams separately: "krun-stdin" (in_fd -> guest, closed by the host at EOF),
 * "krun-stdout" (guest -> out_fd) and "krun-stderr" (guest -> err_fd).
 *
 * With `signal_port`, one more port in either mode, "krun-signal", carries signals from
 * the host to the guest init: one byte per signal, its number (1..64). The device queues
 * them (up to CONSOLE_SIGNAL_QUEUE) until the guest reads them; what the guest writes
 * there is discarded. */
#ifndef KRUN_DEVICES_CONSOLE_H
#define KRUN_DEVICES_CONSOLE_H

#include <stdbool.h>
#include "devices/virtio/virtio.h"

/* The fds stay owned by the caller (the device works on its own descriptions of the same
 * files, see console.c); -1 means none: no input, or output discarded. */
struct console_config {
	int in_fd, out_fd, err_fd;
	bool terminal;
	int console_log_fd;
	bool signal_port;
};

#define CONSOLE_SIGNAL_PORT  "krun-signal"
#define CONSOLE_SIGNAL_MAX   64	  /* highest signal number the port carries */
#define CONSOLE_SIGNAL_QUEUE 4096 /* signals waiting for the guest; more are dropped */

int virtio_console_new(const struct console_config *cfg, struct virtio_device **out,
		       krun_error_t *err);

/* The terminal changed size (SIGWINCH): tells the guest (RESIZE for hvc0 and the config
 * space). Any thread; ignored unless the console is a terminal. */
void virtio_console_resize(struct virtio_device *dev, unsigned cols, unsigned rows);

/* Queues signal signo (1..64) for the guest on the krun-signal port. Any thread. Returns
 * 0, -EINVAL for another number, -ENOTSUP without a signal port, -EAGAIN when the queue
 * is full (the signal is dropped). */
int virtio_console_send_signal(struct virtio_device *dev, int signo);

/* Whether a guest program holds the krun-signal port open: signals queued now will be
 * read. False before the guest opened it, after it closed it and after a device reset. */
bool virtio_console_signal_port_open(struct virtio_device *dev);

#endif
