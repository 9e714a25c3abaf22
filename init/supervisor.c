/* PID 1's watch over the workload: reaps every child, forwards signals, ends with the workload. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include "host_signals.h"
#include "log.h"
#include "status.h"
#include "supervisor.h"

static const int forwarded_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void reap_children(struct supervisor *s)
{
	for (;;) {
		int wstatus;
		pid_t pid = waitpid(-1, &wstatus, WNOHANG);
		if (pid <= 0)
			return; /* none left that exited (0), or no children at all (ECHILD) */
		if (pid == s->workload) {
			s->status = status_from_wait(wstatus);
			s->workload = 0;
			s->done = true;
		} else if (s->agent) {
			agent_reaped(s->agent, pid, wstatus);
		}
	}
}

static void forward_signal(struct supervisor *s, int signo)
{
	if (s->workload > 0 && kill(s->workload, signo) < 0 && errno != ESRCH)
		log_msg("warning: forwarding signal %d to the workload: %s", signo,
			strerror(errno));
}

static void on_signals(struct loop_watch *w, uint32_t events)
{
	struct supervisor *s = container_of(w, struct supervisor, signals);
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t n = read(w->fd, &si, sizeof(si));
		if (n != sizeof(si))
			return; /* EAGAIN: drained */
		if (si.ssi_signo == SIGCHLD)
			reap_children(s);
		else
			forward_signal(s, si.ssi_signo);
	}
}

static void stop_watching_host(struct supervisor *s)
{
	if (s->host.fd < 0)
		return;
	loop_remove(&s->loop, &s->host);
	close_and_reset(&s->host.fd);
}

/* Edge-triggered: read until the port is empty. A port the host has not opened (or has
 * closed) reads 0 and stays readable; the watch stays, since the host may open it
 * again, and the next edge comes with the next data. */
static void on_host_signals(struct loop_watch *w, uint32_t events)
{
	struct supervisor *s = container_of(w, struct supervisor, host);
	unsigned char buf[64];
	int signals[sizeof(buf)];

	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == EAGAIN))
			return;
		if (n < 0) {
			log_msg("warning: reading the host's signals: %s", strerror(errno));
			stop_watching_host(s);
			return;
		}
		size_t count = host_signals_decode(buf, (size_t)n, signals);
		for (size_t i = 0; i < count; i++)
			forward_signal(s, signals[i]);
	}
}

int supervisor_watch_host(struct supervisor *s, int fd, struct init_error *err)
{
	s->host.fd = fd;
	int ret = loop_add_events(&s->loop, &s->host, EPOLLIN | EPOLLET, err);
	if (ret < 0)
		close_and_reset(&s->host.fd);
	return ret;
}

int supervisor_open(struct supervisor *s, struct init_error *err)
{
	memset(s, 0, sizeof(*s));
	s->loop.epfd = -1;
	s->signals.fd = -1;
	s->signals.ready = on_signals;
	s->host.fd = -1;
	s->host.ready = on_host_signals;
	sigemptyset(&s->handled);
	sigaddset(&s->handled, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++)
		sigaddset(&s->handled, forwarded_signals[i]);
	if (sigprocmask(SIG_BLOCK, &s->handled, NULL) < 0)
		return init_fail(err, errno, "block signals");
	s->signals.fd = signalfd(-1, &s->handled, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->signals.fd < 0)
		return init_fail(err, errno, "signalfd");
	int ret = loop_open(&s->loop, err);
	if (ret < 0)
		return ret;
	return loop_add(&s->loop, &s->signals, err);
}

void supervisor_close(struct supervisor *s)
{
	stop_watching_host(s);
	loop_close(&s->loop);
	close_and_reset(&s->signals.fd);
	sigprocmask(SIG_UNBLOCK, &s->handled, NULL);
}

int supervisor_run(struct supervisor *s, pid_t pid, int *status, struct init_error *err)
{
	s->workload = pid;
	s->done = false;
	/* The workload may have exited before the loop started: its SIGCHLD is pending. */
	while (!s->done) {
		int ret = loop_dispatch(&s->loop, -1, err);
		if (ret < 0)
			return ret;
	}
	*status = s->status;
	return 0;
}
