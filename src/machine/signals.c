/* The workload's signals while the VM runs. The VMM stands for the workload, so what a
 * runtime or a user sends to it (podman stop, podman kill, ^C without a terminal) goes to
 * the guest: the event loop reads them from a signalfd and queues each on the console's
 * krun-signal port, where the guest init reads it and signals the workload. Until the
 * init holds that port open the workload has not started, and a SIGTERM, SIGINT, SIGHUP
 * or SIGQUIT then stops the VM at once with status 128+signal (what the workload would
 * have done by default), so that stopping a container never waits for a guest that is
 * slow to boot or never comes up; other signals wait in the port's queue. SIGWINCH is not
 * forwarded: with a terminal it resizes hvc0, whose line discipline signals the guest's
 * foreground. The signals stay blocked on every thread (vCPU and worker threads block
 * everything), which also keeps them from being dropped when the VMM is PID 1 of a pid
 * namespace. */
#include "machine/internal.h"
#include "devices/console/console.h"
#include "util/util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>

/* Synchronous faults belong to the VMM itself; SIGCHLD and SIGPIPE are about the VMM's
 * own children and pipes; SIGRTMIN kicks vCPUs. glibc refuses to block its two internal
 * signals (32, 33), so sigaddset skips them. */
static bool forwarded(int signo)
{
	switch (signo) {
	case SIGKILL:
	case SIGSTOP:
	case SIGSEGV:
	case SIGBUS:
	case SIGILL:
	case SIGFPE:
	case SIGTRAP:
	case SIGSYS:
	case SIGCHLD:
	case SIGPIPE:
	case SIGWINCH:
		return false;
	default:
		return signo != SIGRTMIN;
	}
}

void machine_signal_set(sigset_t *set, bool terminal)
{
	sigemptyset(set);
	for (int signo = 1; signo <= SIGRTMAX; signo++)
		if (forwarded(signo))
			sigaddset(set, signo);
	if (terminal)
		sigaddset(set, SIGWINCH);
}

/* Before the guest init holds the signal port open, nothing in the guest could act on
 * these: they stop the VM instead of waiting. */
static bool stops_early(int signo)
{
	return signo == SIGTERM || signo == SIGINT || signo == SIGHUP || signo == SIGQUIT;
}

static void stop_on_signal(struct machine *m, int signo)
{
	int unset = STATUS_UNSET;

	machine_log(m, MACHINE_LOG_DEBUG, "signal %d before the guest init was up: stopping the VM",
		    signo);
	/* A status the guest reported first stays. */
	atomic_compare_exchange_strong(&m->exit_status, &unset, 128 + signo);
	vm_request_stop(m->vm);
}

static void resize_terminal(struct machine *m)
{
	struct winsize ws;

	if (ioctl(m->cfg->stdin_fd, TIOCGWINSZ, &ws) == 0 ||
	    ioctl(m->cfg->stdout_fd, TIOCGWINSZ, &ws) == 0)
		virtio_console_resize(m->console, ws.ws_col, ws.ws_row);
}

static void handle_signal(struct machine *m, int signo)
{
	if (signo == SIGWINCH) {
		resize_terminal(m);
		return;
	}
	if (stops_early(signo) && !virtio_console_signal_port_open(m->console)) {
		stop_on_signal(m, signo);
		return;
	}
	if (virtio_console_send_signal(m->console, signo) == -EAGAIN)
		machine_log(m, MACHINE_LOG_WARNING,
			    "the guest is not reading signals: signal %d dropped", signo);
}

static void on_signals(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	struct signalfd_siginfo si;

	while (read(m->signal_fd, &si, sizeof(si)) == sizeof(si))
		handle_signal(m, (int)si.ssi_signo);
}

int machine_watch_signals(struct machine *m, krun_error_t *err)
{
	machine_signal_set(&m->signals, m->cfg->terminal);
	pthread_sigmask(SIG_BLOCK, &m->signals, &m->saved_mask);
	m->signals_blocked = true;
	m->signal_fd = signalfd(-1, &m->signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->signal_fd < 0)
		return krun_make_error(err, errno, "create a signalfd for the workload's signals");
	return event_loop_add(vm_event_loop(m->vm), m->signal_fd, EPOLLIN, on_signals, m, err);
}

/* The VM is gone: signals still pending would have been for the workload, so they are
 * dropped rather than delivered to the VMM when the caller's mask comes back. */
void machine_unwatch_signals(struct machine *m)
{
	struct signalfd_siginfo si;

	if (m->signal_fd >= 0) {
		event_loop_remove(vm_event_loop(m->vm), m->signal_fd);
		while (read(m->signal_fd, &si, sizeof(si)) == sizeof(si))
			;
		close_and_reset(&m->signal_fd);
	}
	if (m->signals_blocked)
		pthread_sigmask(SIG_SETMASK, &m->saved_mask, NULL);
	m->signals_blocked = false;
}
