/* Signals from the host for the workload, one byte each on the krun-signal port. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include "host_signals.h"
#include "streams.h"

size_t host_signals_decode(const unsigned char *buf, size_t n, int *out)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		if (buf[i] >= 1 && buf[i] <= HOST_SIGNAL_MAX)
			out[count++] = buf[i];
	return count;
}

int host_signals_open(const char *ports_dir, const char *dev_dir, int timeout_ms,
		      struct init_error *err)
{
	static const char *const names[] = { PORT_NAME_SIGNAL };
	char devs[1][64], path[256];

	if (!ports_wait(ports_dir, names, 1, devs, timeout_ms))
		return init_fail(err, ENOENT, "the port `%s` did not appear", PORT_NAME_SIGNAL);
	snprintf(path, sizeof(path), "%s/%s", dev_dir, devs[0]);
	/* O_NOCTTY: an fd of PID 1 must never become a controlling terminal. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return init_fail(err, errno, "open the signal port `%s`", path);
	return fd;
}
