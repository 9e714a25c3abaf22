/* The container's process for the later verbs: a pidfd checked against the recorded start
 * time, so that a recycled pid is never signalled. */
#include "oci/process.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int process_open(const struct container_state *s, int *pidfd, krun_error_t *err)
{
	cleanup_close int fd = -1;

	if (s->pid > 0)
		fd = syscall(SYS_pidfd_open, s->pid, 0);
	if (fd < 0 && s->pid > 0 && errno != ESRCH)
		return krun_make_error(err, errno, "container `%s`: open process %d", s->id,
				       s->pid);
	/* Checked after the pidfd pins the process: a pid reused in between is caught. */
	if (fd < 0 || !status_process_alive(s))
		return krun_make_error(err, ESRCH, "container `%s` is not running", s->id);
	*pidfd = steal_fd(&fd);
	return 0;
}

int process_signal(int pidfd, int sig, const char *id, krun_error_t *err)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0) {
		if (errno == ESRCH)
			return krun_make_error(err, ESRCH, "container `%s` is not running", id);
		return krun_make_error(err, errno, "container `%s`: send signal %d", id, sig);
	}
	return 0;
}

int process_wait_exit(int pidfd, int timeout_ms)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	int n;

	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}
