/* The EXEC record: the process is parsed and started as the workload is (config.c,
 * workload.c), on pipes or on a pseudo-terminal of its own, and its pid or the reason it
 * did not start goes back to the host. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent_internal.h"
#include "config.h"
#include "env.h"
#include "log.h"
#include "workload.h"

/* The parent's ends, then the child's (closed in the parent once it has started). */
struct exec_fds {
	int parent[3]; /* stdin (write), stdout, stderr (read); with a terminal: master, -1 */
	struct stdio_fds child;
};

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

static int open_pipes(struct exec_fds *f, struct init_error *err)
{
	for (int i = 0; i < 3; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			return init_fail(err, errno, "exec: pipe");
		f->parent[i] = i == 0 ? p[1] : p[0];
		f->child.fd[i] = i == 0 ? p[0] : p[1];
	}
	return 0;
}

static int open_terminal(struct exec_fds *f, struct init_error *err)
{
	char name[64];
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), slave;

	if (master < 0)
		return init_fail(err, errno, "exec: open a pseudo-terminal");
	f->parent[0] = master;
	if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)))
		return init_fail(err, errno, "exec: set up the pseudo-terminal");
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return init_fail(err, errno, "exec: open `%s`", name);
	f->child.terminal = true;
	for (int i = 0; i < 3; i++)
		f->child.fd[i] = slave;
	return 0;
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0;
}

/* The conn takes the parent's ends: stdout and stderr to read, stdin to write. */
static int adopt_fds(struct agent_conn *c, struct exec_fds *f, struct init_error *err)
{
	if (c->tty) {
		f->parent[1] = fcntl(f->parent[0], F_DUPFD_CLOEXEC, 0);
		if (f->parent[1] < 0)
			return init_fail(err, errno, "exec: duplicate the terminal");
	}
	for (int i = 0; i < 3; i++)
		if (f->parent[i] >= 0 && set_nonblocking(f->parent[i]) < 0)
			return init_fail(err, errno, "exec: make the process' fds non-blocking");
	/* With a terminal, parent[0] (the master) is read as output, its duplicate written. */
	c->in.fd = c->tty ? f->parent[1] : f->parent[0];
	c->out[OUT_STDOUT].fd = c->tty ? f->parent[0] : f->parent[1];
	c->out[OUT_STDERR].fd = f->parent[2];
	for (int i = 0; i < 3; i++)
		f->parent[i] = -1;
	return 0;
}

static int start(struct agent_conn *c, const struct init_process *p, struct exec_fds *f,
		 struct child_failure *failure, struct init_error *err)
{
	cleanup_strv char **env = env_for_process(p);
	struct workload w = { .process = p, .env = env, .stdio = &f->child, .failure = failure };
	pid_t pid;
	int status, ret;

	c->tty = p->terminal;
	ret = c->tty ? open_terminal(f, err) : open_pipes(f, err);
	if (ret < 0)
		return ret;
	ret = workload_start(&w, &pid, &status, err);
	if (ret < 0)
		return ret;
	if (pid == 0)
		return 0; /* failure is filled */
	c->pid = pid;
	return adopt_fds(c, f, err);
}

void conn_exec(struct agent_conn *c, const uint8_t *payload, size_t len)
{
	struct exec_fds f = { .parent = { -1, -1, -1 }, .child.fd = { -1, -1, -1 } };
	struct child_failure failure = { .status = STATUS_INIT_FAILED };
	struct init_error err = { 0 };
	struct init_process p;
	uint32_t pid;

	c->started = true;
	if (config_parse_exec((const char *)payload, len, &p, &err) < 0)
		return conn_fail(c, STATUS_INIT_FAILED, err.msg);
	int ret = start(c, &p, &f, &failure, &err);
	config_free_process(&p);
	close_fds(f.child.fd, f.child.terminal ? 1 : 3);
	close_fds(f.parent, 3);
	if (ret < 0 && c->pid == 0)
		return conn_fail(c, STATUS_INIT_FAILED, err.msg);
	if (c->pid == 0)
		return conn_fail(c, failure.status, failure.msg);
	if (ret < 0) /* started, but its fds are not ours: it runs without stdio */
		log_msg("warning: %s", err.msg);
	pid = (uint32_t)c->pid;
	conn_queue(c, AGENT_STARTED, &pid, 4);
}
