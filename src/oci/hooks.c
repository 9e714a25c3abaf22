/* OCI hooks: the config.json "hooks" object, and running one phase's list on the host. */
#include "oci/hooks.h"
#include "oci/config.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct hook_list {
	const char *key;
	struct oci_hook **list;
	size_t *n;
};

#define N_PHASES 6

static void hook_lists(struct oci_hooks *h, struct hook_list out[N_PHASES])
{
	out[0] = (struct hook_list){ "prestart", &h->prestart, &h->n_prestart };
	out[1] = (struct hook_list){ "createRuntime", &h->create_runtime, &h->n_create_runtime };
	out[2] =
	    (struct hook_list){ "createContainer", &h->create_container, &h->n_create_container };
	out[3] = (struct hook_list){ "startContainer", &h->start_container, &h->n_start_container };
	out[4] = (struct hook_list){ "poststart", &h->poststart, &h->n_poststart };
	out[5] = (struct hook_list){ "poststop", &h->poststop, &h->n_poststop };
}

static int parse_hook(yajl_val v, const char *path, struct oci_hook *hook, krun_error_t *err)
{
	cleanup_free char *path_key = json_path(path, "path");
	cleanup_free char *args_key = json_path(path, "args");
	cleanup_free char *env_key = json_path(path, "env");
	cleanup_free char *timeout_key = json_path(path, "timeout");
	yajl_val timeout;
	int64_t t = 0;
	int ret;

	ret = json_expect_object(OCI_DOC, path, v, err);
	if (ret < 0)
		return ret;
	ret = json_require(OCI_DOC, path_key, json_get(v, "path"), err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, path_key, json_get(v, "path"), &hook->path, err);
	if (ret < 0)
		return ret;
	if (hook->path[0] != '/')
		return krun_make_error(err, 0, "%s: %s must be an absolute path", OCI_DOC,
				       path_key);
	ret = json_read_strv(OCI_DOC, args_key, json_get(v, "args"), &hook->args, err);
	if (ret < 0)
		return ret;
	ret = json_read_strv(OCI_DOC, env_key, json_get(v, "env"), &hook->env, err);
	if (ret < 0)
		return ret;
	timeout = json_get(v, "timeout");
	ret = json_read_int(OCI_DOC, timeout_key, timeout, 1, INT_MAX, &t, err);
	if (ret < 0)
		return ret;
	hook->has_timeout = timeout != NULL;
	hook->timeout = t;
	return 0;
}

static int parse_list(yajl_val v, const struct hook_list *l, krun_error_t *err)
{
	cleanup_free char *path = json_path("hooks", l->key);
	int ret;

	ret = json_expect_array(OCI_DOC, path, v, err);
	if (ret < 0 || !v)
		return ret;
	*l->list = xzalloc(v->u.array.len * sizeof(**l->list));
	for (size_t i = 0; i < v->u.array.len; i++) {
		cleanup_free char *item = json_index_path(path, i);

		/* counted first: a half-parsed entry is still released */
		ret = parse_hook(v->u.array.values[i], item, &(*l->list)[(*l->n)++], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int oci_hooks_parse(yajl_val v, struct oci_hooks *out, krun_error_t *err)
{
	struct hook_list lists[N_PHASES];
	int ret;

	ret = json_expect_object(OCI_DOC, "hooks", v, err);
	if (ret < 0 || !v)
		return ret;
	hook_lists(out, lists);
	for (size_t i = 0; i < N_PHASES; i++) {
		ret = parse_list(json_get(v, lists[i].key), &lists[i], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void oci_hooks_release(struct oci_hooks *h)
{
	struct hook_list lists[N_PHASES];

	hook_lists(h, lists);
	for (size_t i = 0; i < N_PHASES; i++) {
		for (size_t j = 0; j < *lists[i].n; j++) {
			struct oci_hook *hook = &(*lists[i].list)[j];

			free(hook->path);
			strv_free(&hook->args);
			strv_free(&hook->env);
		}
		free(*lists[i].list);
		*lists[i].list = NULL;
		*lists[i].n = 0;
	}
}

/* What the child reports on its error pipe when it cannot reach execve's success. */
struct child_failure {
	int step; /* index in child_steps */
	int errnum;
};
static const char *const child_steps[] = { "cannot set up its stdin",
					   "cannot close the runtime's file descriptors",
					   "cannot execute" };

/* Runs in the forked child: only async-signal-safe calls (the caller may have threads). */
static void __attribute__((noreturn))
child_exec(int in_fd, int report_fd, const char *path, char *const argv[], char *const envp[])
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	struct child_failure f = { 0 };
	sigset_t none;

	/* A hook starts like any command: no blocked or ignored signal of ours. */
	for (int s = 1; s < _NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in_fd, STDIN_FILENO) < 0)
		goto fail;
	f.step++;
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		goto fail;
	f.step++;
	execve(path, argv, envp);
fail:
	f.errnum = errno;
	ssize_t unused = write(report_fd, &f, sizeof(f));
	(void)unused; /* if even this fails, the parent sees exit status 127 */
	_exit(127);
}

/* The child dup2()s the pipe onto 0: sitting on 0 already (our stdin closed), it would
 * keep FD_CLOEXEC and the hook would start without stdin. */
static int move_above_stdio(int *fd)
{
	int n;

	if (*fd > STDERR_FILENO)
		return 0;
	n = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (n < 0)
		return -errno;
	close(*fd);
	*fd = n;
	return 0;
}

struct hook_child {
	pid_t pid;
	int pidfd;
	int in_fd; /* write end of the hook's stdin, O_NONBLOCK */
};

static void hook_child_release(struct hook_child *c)
{
	close_and_reset(&c->pidfd);
	close_and_reset(&c->in_fd);
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Reads the child's report: EOF means execve succeeded (the pipe is O_CLOEXEC). */
static int check_exec(int report_fd, pid_t pid, krun_error_t *err)
{
	struct child_failure f;
	ssize_t n;

	do
		n = read(report_fd, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n != sizeof(f) || f.step < 0 || (size_t)f.step >= ARRAY_SIZE(child_steps)) {
		int e = n < 0 ? errno : 0;

		kill(pid, SIGKILL);
		reap(pid);
		return krun_make_error(err, e, "cannot start it");
	}
	reap(pid);
	return krun_make_error(err, f.errnum, "%s", child_steps[f.step]);
}

static int spawn(const struct oci_hook *h, struct hook_child *c, krun_error_t *err)
{
	char *default_argv[] = { h->path, NULL }, *empty_env[] = { NULL };
	char *const *argv = h->args.n ? h->args.v : default_argv;
	char *const *envp = h->env.n ? h->env.v : empty_env;
	cleanup_close int in_r = -1, report_r = -1, report_w = -1;
	int in[2], report[2], ret;

	if (pipe2(in, O_CLOEXEC) < 0)
		return krun_make_error(err, errno, "cannot create its stdin pipe");
	in_r = in[0];
	c->in_fd = in[1];
	if (pipe2(report, O_CLOEXEC) < 0)
		return krun_make_error(err, errno, "cannot create a pipe");
	report_r = report[0];
	report_w = report[1];
	ret = move_above_stdio(&in_r);
	if (ret < 0)
		return krun_make_error(err, -ret, "cannot set up its stdin pipe");
	if (fcntl(c->in_fd, F_SETFL, O_NONBLOCK) < 0)
		return krun_make_error(err, errno, "cannot set up its stdin pipe");
	c->pid = fork();
	if (c->pid < 0)
		return krun_make_error(err, errno, "cannot fork");
	if (c->pid == 0)
		child_exec(in_r, report_w, h->path, argv, envp);
	close_and_reset(&report_w);
	c->pidfd = syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0) {
		ret = errno;
		kill(c->pid, SIGKILL);
		reap(c->pid);
		return krun_make_error(err, ret, "cannot open a pidfd for it");
	}
	return check_exec(report_r, c->pid, err);
}

/* write() that cannot raise SIGPIPE in the calling process when the hook closed its stdin. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
	struct timespec zero = { 0 };
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t n;
	int e;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	n = write(fd, buf, len);
	e = errno;
	/* Consume the SIGPIPE this write raised, not one that was already there. */
	if (n < 0 && e == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

/* Writes what the pipe takes; closes it once all is written or the hook stopped reading. */
static void feed(int *fd, const char *buf, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t n = write_nosigpipe(*fd, buf + *off, len - *off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			break; /* EPIPE: the hook does not want the rest */
		*off += n;
	}
	close_and_reset(fd);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Feeds the state and waits for the pidfd to report the exit; -ETIMEDOUT at the deadline. */
static int wait_exit(struct hook_child *c, long long deadline, const char *buf, size_t len,
		     krun_error_t *err)
{
	size_t off = 0;

	for (;;) {
		struct pollfd p[2] = { { .fd = c->pidfd, .events = POLLIN },
				       { .fd = c->in_fd, .events = POLLOUT } };
		long long left = deadline < 0 ? -1 : deadline - now_ms();
		int r;

		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		r = poll(p, c->in_fd >= 0 ? 2 : 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return krun_make_error(err, errno, "cannot wait for it");
		if (c->in_fd >= 0 && p[1].revents)
			feed(&c->in_fd, buf, len, &off);
		if (p[0].revents)
			return 0;
	}
}

static int exit_status(pid_t pid, krun_error_t *err)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return krun_make_error(err, errno, "cannot get its exit status");
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		return krun_make_error(err, 0, "exited with status %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return krun_make_error(err, 0, "killed by signal %d", WTERMSIG(status));
	return 0;
}

static int run_one(const struct oci_hook *h, const char *state, size_t len, krun_error_t *err)
{
	__attribute__((cleanup(hook_child_release))) struct hook_child c = {
		.pid = -1,
		.pidfd = -1,
		.in_fd = -1,
	};
	long long deadline = h->has_timeout ? now_ms() + h->timeout * 1000LL : -1;
	int ret;

	ret = spawn(h, &c, err);
	if (ret < 0)
		return ret;
	ret = wait_exit(&c, deadline, state, len, err);
	if (ret == 0)
		return exit_status(c.pid, err);
	kill(c.pid, SIGKILL);
	reap(c.pid);
	if (ret == -ETIMEDOUT)
		return krun_make_error(err, 0, "timed out after %d s", h->timeout);
	return ret;
}

int hooks_run(const struct oci_hook *hooks, size_t n, const char *phase, const char *state_json,
	      size_t state_len, krun_error_t *err)
{
	for (size_t i = 0; i < n; i++) {
		int ret = run_one(&hooks[i], state_json, state_len, err);

		if (ret < 0)
			return krun_error_wrap(err, "%s hook `%s`", phase, hooks[i].path);
	}
	return 0;
}
