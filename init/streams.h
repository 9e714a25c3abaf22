/* The workload's stdin, stdout and stderr. With a terminal, all three are the console
 * (/dev/hvc0), which becomes the workload's controlling terminal. Without one, the VMM
 * carries each stream on its own virtio-console port, found by name in sysfs. init opens
 * them (a port can be open only once at a time) and the child inherits them. */
#ifndef KRUN_INIT_STREAMS_H
#define KRUN_INIT_STREAMS_H

#include <stdbool.h>
#include <stddef.h>
#include "common.h"

#define PORTS_DIR	 "/sys/class/virtio-ports"
#define PORTS_WAIT_MS	 2000 /* the host names ports shortly after boot */
#define PORTS_POLL_MS	 5
#define PORT_NAME_STDIN	 "krun-stdin"
#define PORT_NAME_STDOUT "krun-stdout"
#define PORT_NAME_STDERR "krun-stderr"

struct stdio_fds {
	int fd[3]; /* for 0, 1 and 2; with a terminal, one fd in all three */
	bool terminal;
};

/* Looks up the port called `name` in ports_dir (entries vportNpM, each with a `name`
 * file). On success dev holds the entry's name, which is also its node in /dev. */
int port_find(const char *ports_dir, const char *name, char *dev, size_t dev_size);

/* Waits up to timeout_ms for the n named ports. Returns a bit mask of those found;
 * devs[i] holds the device name of port i when bit i is set. */
unsigned ports_wait(const char *ports_dir, const char *const *names, size_t n, char (*devs)[64],
		    int timeout_ms);

/* Opens the workload's streams in init. A missing port falls back to /dev/null (stdin)
 * or the console (output), said on the console when `announce`. */
int stdio_open(bool terminal, bool announce, struct stdio_fds *s, struct init_error *err);

/* In the child: a new session, the terminal as controlling tty, the fds on 0, 1, 2. */
int stdio_child_setup(const struct stdio_fds *s, struct init_error *err);

#endif
