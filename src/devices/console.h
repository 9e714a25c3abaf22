/* virtio-console (multiport). Port 0 is hvc0, the guest's kernel console. When
 * `terminal` is set, port 0 carries the workload's terminal: its input is in_fd and its
 * output out_fd (both the same pty or tty). Otherwise port 0's output goes to
 * console_log_fd (or is dropped when -1) and three named ports carry the workload's
 * streams separately: "krun-stdin" (in_fd -> guest, closed by the host at EOF),
 * "krun-stdout" (guest -> out_fd) and "krun-stderr" (guest -> err_fd). */
#ifndef KRUN_DEVICES_CONSOLE_H
#define KRUN_DEVICES_CONSOLE_H

#include <stdbool.h>
#include "virtio/virtio.h"

/* The fds stay owned by the caller (the device works on its own descriptions of the same
 * files, see console.c); -1 means none: no input, or output discarded. */
struct console_config {
	int in_fd, out_fd, err_fd;
	bool terminal;
	int console_log_fd;
};

int virtio_console_new(const struct console_config *cfg, struct virtio_device **out,
		       krun_error_t *err);

/* The terminal changed size (SIGWINCH): tells the guest (RESIZE for hvc0 and the config
 * space). Any thread; ignored unless the console is a terminal. */
void virtio_console_resize(struct virtio_device *dev, unsigned cols, unsigned rows);

#endif
