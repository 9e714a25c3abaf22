/* krun run: create and start in one go. In the foreground krun waits for the container,
 * forwards the signals it receives to it, returns the workload's exit status and removes
 * the container (unless --keep); with --detach it returns once the container started. */
#include "oci/verbs.h"
#include "oci/launch.h"
#include "oci/log.h"
#include "util/util.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

/* Every signal a runtime passes on; SIGCHLD tells that the container ended. */
static void forwarded_signals(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, SIGKILL);
	sigdelset(set, SIGSTOP);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGTRAP);
	sigdelset(set, SIGSYS);
	sigdelset(set, SIGABRT);
	/* krun's terminal is the container's: it gets the resize itself. */
	sigdelset(set, SIGWINCH);
	sigdelset(set, SIGPIPE);
	sigdelset(set, SIGTTIN);
	sigdelset(set, SIGTTOU);
}

static int wait_forwarding(pid_t pid, const sigset_t *set)
{
	for (;;) {
		siginfo_t info;
		int status, sig = sigwaitinfo(set, &info);
		pid_t done;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(pid, sig);
			continue;
		}
		while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
			if (done != pid)
				continue;
			if (WIFSIGNALED(status))
				return 128 + WTERMSIG(status);
			return WEXITSTATUS(status);
		}
	}
}

static int run_container(const struct cli_globals *g, const struct container_opts *opts,
			 struct bundle *b, const sigset_t *signals, krun_error_t *err)
{
	struct launch l = { .g = g, .opts = opts, .bundle = b, .foreground = !opts->detach };
	cleanup_container_state struct container_state *s = NULL;
	int ret, status;

	ret = launch_container(&l, &s, err);
	if (ret < 0)
		return ret;
	ret = launch_start(s, CONTAINER_CREATED, err);
	if (ret < 0) {
		krun_error_t undo_err = NULL;

		if (launch_kill_and_wait(s, &undo_err) < 0 || launch_cleanup(s, &undo_err) < 0)
			log_warning("%s", undo_err->msg);
		krun_error_release(&undo_err);
		return ret;
	}
	ret = launch_poststart(s, err); /* removes the container when it fails */
	if (ret < 0 && !opts->detach)
		waitpid(s->pid, NULL, 0);
	if (ret < 0 || opts->detach)
		return ret;
	status = wait_forwarding(s->pid, signals);
	if (!opts->keep && launch_cleanup(s, err) < 0) {
		log_error((*err)->msg);
		krun_error_release(err);
	}
	return status;
}

int krun_cmd_run(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_bundle struct bundle b = { .kernel_fd = -1 };
	struct container_opts opts;
	sigset_t signals, old;
	int ret;

	ret = container_opts_parse(argc, argv, true, &opts, err);
	if (ret < 0)
		return ret;
	ret = bundle_load(opts.bundle, &b, err);
	if (ret < 0)
		return ret;
	/* Blocked before the clone so that none is lost; the container unblocks its own. */
	forwarded_signals(&signals);
	sigprocmask(SIG_BLOCK, &signals, &old);
	ret = run_container(g, &opts, &b, &signals, err);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}
