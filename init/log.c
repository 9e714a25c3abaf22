/* init's own messages ("krun-init: ..."), on the console until the workload's stderr is open. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include "common.h"
#include "log.h"

/* A virtio-console port blocks writers until the host side opens it: never let a message
 * hang PID 1, give up on it after this long. */
#define LOG_WRITE_TIMEOUT_MS 1000

static int log_fd = -1;
static bool console_pending;
static int console_fd = -1;

void log_set_fd(int fd)
{
	log_fd = fd;
	console_pending = false;
}

void log_to_console(void)
{
	if (console_fd >= 0)
		log_fd = console_fd;
	else
		console_pending = true;
}

static void open_console(void)
{
	console_fd = open(CONSOLE_PATH, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (console_fd >= 0) {
		log_fd = console_fd;
		console_pending = false;
	}
}

void log_msg(const char *fmt, ...)
{
	char buf[2048];
	size_t prefix = snprintf(buf, sizeof(buf), "krun-init: ");
	va_list ap;

	if (console_pending)
		open_console();
	if (log_fd < 0)
		return;
	va_start(ap, fmt);
	size_t room = sizeof(buf) - prefix - 1; /* one byte kept for the newline */
	int n = vsnprintf(buf + prefix, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = prefix + ((size_t)n < room ? (size_t)n : room - 1);
	buf[len++] = '\n';

	struct pollfd pfd = { .fd = log_fd, .events = POLLOUT };
	int ready;
	do
		ready = poll(&pfd, 1, LOG_WRITE_TIMEOUT_MS);
	while (ready < 0 && errno == EINTR);
	if (ready == 1 && (pfd.revents & POLLOUT))
		write_all(log_fd, buf, len);
}
