/* In the forked child: one function per aspect of the OCI process, applied in an order
 * that keeps each possible (limits and the working directory need root, so they come
 * before the user switch). Capabilities and seccomp will slot in after the user switch. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "env.h"
#include "path.h"
#include "rlimit.h"
#include "status.h"
#include "workload.h"

#define DEFAULT_UMASK 022

static int apply_rlimits(const struct init_process *p, struct init_error *err)
{
	for (size_t i = 0; i < p->num_rlimits; i++) {
		const struct init_rlimit *r = &p->rlimits[i];
		struct rlimit lim = { .rlim_cur = r->soft, .rlim_max = r->hard };
		if (setrlimit(r->resource, &lim) < 0)
			return init_fail(err, errno, "set %s", rlimit_name(r->resource));
	}
	return 0;
}

static int apply_oom_score_adj(const struct init_process *p, struct init_error *err)
{
	if (!p->has_oom_score_adj)
		return 0;
	cleanup_close int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);
	if (fd < 0 || write_all(fd, buf, len) < 0)
		return init_fail(err, errno, "set oom_score_adj to %d", p->oom_score_adj);
	return 0;
}

static int apply_cwd(const struct init_process *p, struct init_error *err)
{
	if (chdir(p->cwd) < 0)
		return init_fail(err, errno, "cannot change to the working directory `%s`", p->cwd);
	return 0;
}

static int apply_user(const struct init_user *u, struct init_error *err)
{
	gid_t *gids = (gid_t *)u->additional_gids; /* gid_t is uint32_t on Linux */

	if (setgroups(u->num_additional_gids, gids) < 0)
		return init_fail(err, errno, "set the additional groups");
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		return init_fail(err, errno, "set gid %u", u->gid);
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		return init_fail(err, errno, "set uid %u", u->uid);
	umask(u->has_umask ? u->umask : DEFAULT_UMASK);
	return 0;
}

static int apply_no_new_privileges(const struct init_process *p, struct init_error *err)
{
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return init_fail(err, errno, "set no_new_privs");
	return 0;
}

/* Returns only on failure, with the status that failure maps to. */
static int exec_program(const struct workload *w, struct init_error *err)
{
	const char *name = w->process->args[0];
	cleanup_free char *path = NULL;
	int ret = path_lookup(name, env_lookup(w->env, "PATH"), &path);

	if (ret == 0) {
		execve(path, w->process->args, w->env);
		ret = -errno;
	}
	init_fail(err, 0, "cannot execute `%s`: %s", name, strerror(-ret));
	return status_from_exec_errno(-ret);
}

_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");

/* The workload starts with every signal unblocked and at its default action, whatever
 * init blocked for its signalfd. */
static void reset_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP and glibc's own */
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void workload_child(const struct workload *w, struct child_failure *f)
{
	const struct init_process *p = w->process;
	struct init_error err = { 0 };

	reset_signals();
	if (stdio_child_setup(w->stdio, &err) < 0 || apply_rlimits(p, &err) < 0 ||
	    apply_oom_score_adj(p, &err) < 0 || apply_cwd(p, &err) < 0 ||
	    apply_user(&p->user, &err) < 0 || apply_no_new_privileges(p, &err) < 0)
		f->status = STATUS_INIT_FAILED;
	else
		f->status = exec_program(w, &err);
	snprintf(f->msg, sizeof(f->msg), "%s", err.msg);
}
