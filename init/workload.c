/* Starting the workload: fork, apply the OCI process in the child, exec, and learn why it
 * failed when it did. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/wait.h>
#include "log.h"
#include "status.h"
#include "workload.h"

/* Reads the child's failure report: 1 when one arrived, 0 at end of file (the exec
 * closed the pipe), -errno on a read error. The report is written at once and is below
 * PIPE_BUF, so it arrives whole or not at all (a child killed before writing it is then
 * reaped by the supervisor like any workload). */
_Static_assert(sizeof(struct child_failure) <= PIPE_BUF, "one atomic pipe write");

static int read_failure(int fd, struct child_failure *f)
{
	ssize_t n;

	do
		n = read(fd, f, sizeof(*f));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	f->msg[sizeof(f->msg) - 1] = '\0';
	return n == sizeof(*f);
}

static void reap_failed_child(const struct workload *w, pid_t pid, const struct child_failure *f,
			      int *status)
{
	pid_t r;

	do
		r = waitpid(pid, NULL, 0);
	while (r < 0 && errno == EINTR);
	*status = f->status;
	if (w->failure)
		*w->failure = *f;
	else
		log_msg("%s", f->msg);
}

int workload_start(const struct workload *w, pid_t *pid, int *status, struct init_error *err)
{
	int pipefd[2];
	struct child_failure f;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return init_fail(err, errno, "create the exec status pipe");
	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return init_fail(err, e, "fork the workload");
	}
	if (child == 0) {
		close(pipefd[0]);
		memset(&f, 0, sizeof(f));
		workload_child(w, &f);
		write_all(pipefd[1], &f, sizeof(f));
		_exit(f.status);
	}
	close(pipefd[1]);
	int ret = read_failure(pipefd[0], &f);
	close(pipefd[0]);
	if (ret < 0)
		log_msg("warning: reading the workload's exec status: %s", strerror(-ret));
	*pid = ret == 1 ? 0 : child;
	if (ret == 1)
		reap_failed_child(w, child, &f, status);
	return 0;
}
