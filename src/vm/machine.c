/* machine_run: one VM, its devices and its kernel command line, run to power-off. The
 * devices are opaque here: constructors, virtio_mmio_attach, and the ops table.
 *
 * Signals: the VMM stands for the workload, so what a runtime or a user sends to it
 * (podman stop, podman kill, ^C without a terminal) goes to the guest: the event loop
 * reads them from a signalfd and queues each on the console's krun-signal port, where
 * the guest init reads it and signals the workload. Until the init holds that port open
 * the workload has not started, and a SIGTERM, SIGINT, SIGHUP or SIGQUIT then stops the
 * VM at once with status 128+signal (what the workload would have done by default), so
 * that stopping a container never waits for a guest that is slow to boot or never comes
 * up; other signals wait in the port's queue. SIGWINCH is not forwarded: with a
 * terminal it resizes hvc0, whose line discipline signals the guest's foreground. The
 * signals stay blocked on every thread (vCPU and worker threads block everything), which
 * also keeps them from being dropped when the VMM is PID 1 of a pid namespace. */
#include "machine.h"
#include "vm.h"
#include "../devices/console.h"
#include "../devices/fs.h"
#include "../devices/rng.h"
#include "../devices/vsock/tsi.h"
#include "../util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#define MMIO_BASE	 0xd0000000ULL
#define MMIO_SIZE	 0x1000ULL
#define FIRST_IRQ	 5
#define MAX_DEVICES	 (15 - FIRST_IRQ + 1) /* ISA lines 5..15 */
#define STATUS_UNSET	 INT_MIN
#define STATUS_NO_REPORT 125

struct machine {
	const struct machine_config *cfg;
	struct vm *vm;
	struct virtio_device *dev[MAX_DEVICES];
	unsigned ndev;
	char *cmdline;
	int init_fd;
	_Atomic int exit_status;

	struct virtio_device *console;
	char klog[CONSOLE_KLOG_SIZE]; /* the end of the guest's kernel console, once stopped */
	size_t klog_len;
	const char *stop_reason; /* how the VM stopped, once stopped */
	int signal_fd;		 /* signalfd of `signals`; -1 until watched */
	bool signals_blocked;	 /* then saved_mask is the caller's, restored at the end */
	sigset_t signals, saved_mask;
};

static void record_exit_status(void *opaque, int status)
{
	struct machine *m = opaque;

	atomic_store(&m->exit_status, status);
}

static char *base_cmdline(const struct machine_config *cfg)
{
	char *s;

	/* The kernel strips "/dev/" from root= and mounts the rest as the root's source,
	 * which for virtiofs is the tag. Debug trades the quiet console for the kernel log
	 * on the UART at 0x3f8. */
	xasprintf(&s,
		  "reboot=k panic=-1 panic_print=0 nomodule console=hvc0 rootfstype=virtiofs "
		  "root=/dev/%s rw %s no-kvmapf init=/init.krun",
		  cfg->root_tag ? cfg->root_tag : "/dev/root",
		  cfg->debug ? "earlyprintk=serial,ttyS0,115200,keep" : "quiet");
	return s;
}

/* Takes ownership of dev and gives it the next MMIO window and IRQ line. */
static int attach(struct machine *m, struct virtio_device *dev, krun_error_t *err)
{
	unsigned i = m->ndev++;

	m->dev[i] = dev;
	return virtio_mmio_attach(m->vm, dev, MMIO_BASE + i * MMIO_SIZE, FIRST_IRQ + i, &m->cmdline,
				  err);
}

static int add_console(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct console_config cc = { .in_fd = cfg->stdin_fd,
				     .out_fd = cfg->stdout_fd,
				     .err_fd = cfg->stderr_fd,
				     .terminal = cfg->terminal,
				     .console_log_fd = -1,
				     .signal_port = true };
	struct virtio_device *dev;
	int ret = virtio_console_new(&cc, &dev, err);

	if (ret < 0)
		return ret;
	m->console = dev;
	return attach(m, dev, err);
}

static int add_root_fs(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct stat st;
	struct virtio_fs_virtual_file files[2];
	struct virtio_fs_config fc = { .tag = cfg->root_tag ? cfg->root_tag : "/dev/root",
				       .root_path = cfg->root_path,
				       .virtual_files = files,
				       .num_virtual_files = 2,
				       .exit_status_fn = record_exit_status,
				       .opaque = m };
	struct virtio_device *dev;
	int ret;

	m->init_fd = open(cfg->init_path, O_RDONLY | O_CLOEXEC);
	if (m->init_fd < 0 || fstat(m->init_fd, &st) < 0)
		return krun_make_error(err, errno, "open the guest init `%s`", cfg->init_path);
	files[0] = (struct virtio_fs_virtual_file){
		.name = "init.krun", .fd = m->init_fd, .size = st.st_size, .mode = 0555
	};
	files[1] = (struct virtio_fs_virtual_file){ .name = ".krun_config.json",
						    .fd = -1,
						    .data = cfg->config_json,
						    .size = cfg->config_json_len,
						    .mode = 0444 };
	ret = virtio_fs_new(&fc, &dev, err);
	return ret < 0 ? ret : attach(m, dev, err);
}

static int add_rng(struct machine *m, krun_error_t *err)
{
	struct virtio_device *dev;
	int ret = virtio_rng_new(&dev, err);

	return ret < 0 ? ret : attach(m, dev, err);
}

/* Every guest TCP connection costs TSI about four fds (the host socket, its dup in the
 * device, the control socketpair): the soft limit goes up to the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int add_tsi(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct vsock_tsi_config tc = { .root_path = cfg->root_path,
				       .allow_privileged_ports = cfg->tsi_privileged_ports };
	struct vsock_config vc;
	struct virtio_device *dev;
	char *s;
	int ret;

	if (!cfg->tsi)
		return 0;
	ret = vsock_tsi_backend_new(&tc, &vc.backend, err);
	if (ret < 0)
		return ret;
	ret = virtio_vsock_new(&vc, &dev, err);
	if (ret < 0) {
		vc.backend->ops->destroy(vc.backend);
		return ret;
	}
	virtio_vsock_set_max_connections(dev, TSI_MAX_CONNECTIONS);
	raise_fd_limit();
	xasprintf(&s, "%s tsi=1", m->cmdline);
	free(m->cmdline);
	m->cmdline = s;
	return attach(m, dev, err);
}

/* The devices in the order of their MMIO windows and IRQ lines: hvc0 comes first. */
static int (*const add_device[])(struct machine *m, krun_error_t *err) = {
	add_console,
	add_root_fs,
	add_rng,
	add_tsi,
};
_Static_assert(ARRAY_SIZE(add_device) <= MAX_DEVICES, "one ISA IRQ line per device");

static int add_devices(struct machine *m, krun_error_t *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(add_device); i++) {
		int ret = add_device[i](m, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void append_extra(struct machine *m)
{
	const char *extra = m->cfg->kernel_cmdline_extra;
	char *s;

	if (!extra || !*extra)
		return;
	xasprintf(&s, "%s %s", m->cmdline, extra);
	free(m->cmdline);
	m->cmdline = s;
}

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

	if (m->cfg->debug)
		fprintf(stderr, "krun: signal %d before the guest init was up: stopping the VM\n",
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
		fprintf(stderr, "krun: the guest is not reading signals: signal %d dropped\n",
			signo);
}

static void on_signals(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	struct signalfd_siginfo si;

	while (read(m->signal_fd, &si, sizeof(si)) == sizeof(si))
		handle_signal(m, (int)si.ssi_signo);
}

/* Signals already pending (the caller may have blocked them earlier) are read at once. */
static int watch_signals(struct machine *m, krun_error_t *err)
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
static void unwatch_signals(struct machine *m)
{
	struct signalfd_siginfo si;

	if (m->signal_fd >= 0) {
		event_loop_remove(vm_event_loop(m->vm), m->signal_fd);
		while (read(m->signal_fd, &si, sizeof(si)) == sizeof(si))
			;
		close(m->signal_fd);
		m->signal_fd = -1;
	}
	if (m->signals_blocked)
		pthread_sigmask(SIG_SETMASK, &m->saved_mask, NULL);
	m->signals_blocked = false;
}

static int build_and_run(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct vm_config vc = { .cpus = cfg->cpus,
				.ram_mib = cfg->ram_mib,
				.nested_virt = cfg->nested_virt,
				.debug = cfg->debug,
				.setup_only = cfg->setup_only };
	int ret = vm_create(&vc, &m->vm, err);

	if (ret == 0)
		ret = vm_load_kernel(m->vm, cfg->kernel_path, cfg->kernel_custom, err);
	if (ret < 0)
		return ret;
	m->cmdline = base_cmdline(cfg);
	ret = add_devices(m, err);
	if (ret < 0)
		return ret;
	append_extra(m);
	ret = watch_signals(m, err);
	if (ret == 0 && cfg->confine)
		ret = cfg->confine(cfg->confine_opaque, err);
	if (ret < 0)
		return ret;
	ret = vm_start(m->vm, m->cmdline, err);
	if (ret == 0)
		ret = vm_run(m->vm, err);
	if (ret == 0 && cfg->first_run_at)
		vm_first_run_time(m->vm, cfg->first_run_at);
	return ret;
}

/* The vCPUs have stopped: devices hand over what the guest queued, then go. */
static void release_devices(struct machine *m)
{
	for (unsigned i = 0; i < m->ndev; i++)
		if (m->dev[i]->ops->drain)
			m->dev[i]->ops->drain(m->dev[i]);
	if (m->console)
		m->klog_len = virtio_console_klog(m->console, m->klog, sizeof(m->klog));
	m->console = NULL;
	for (unsigned i = 0; i < m->ndev; i++)
		m->dev[i]->ops->destroy(m->dev[i]);
	m->ndev = 0;
}

/* The guest's last words, which nobody else shows without a terminal (a kernel panic goes
 * there): whole lines only, and only printable ASCII, since the guest wrote them. */
static void print_klog(const struct machine *m)
{
	const char *s = m->klog, *end = m->klog + m->klog_len;
	const char *nl = memchr(s, '\n', m->klog_len);

	if (m->klog_len == sizeof(m->klog) && nl)
		s = nl + 1; /* the ring wrapped: its first line is cut */
	fprintf(stderr, "krun: the guest's kernel console ended with:\n  | ");
	for (; s < end; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\n' && s + 1 < end)
			fputs("\n  | ", stderr);
		else if (ch == '\t' || (ch >= 0x20 && ch < 0x7f))
			fputc(ch, stderr);
		else if (ch != '\n' && ch != '\r')
			fputc('?', stderr);
	}
	fputc('\n', stderr);
}

static int final_status(const struct machine *m)
{
	int status = atomic_load(&m->exit_status);

	if (m->cfg->setup_only)
		return 0;
	if (status != STATUS_UNSET)
		return status;
	fprintf(stderr,
		"krun: the guest stopped without reporting an exit status: %s (a kernel panic "
		"or an init failure; the debug option shows the kernel log)\n",
		m->stop_reason ? m->stop_reason : "no stop reason");
	if (m->klog_len)
		print_klog(m);
	return STATUS_NO_REPORT;
}

int machine_run(const struct machine_config *cfg, int *exit_status, krun_error_t *err)
{
	struct machine m = {
		.cfg = cfg, .init_fd = -1, .exit_status = STATUS_UNSET, .signal_fd = -1
	};
	int ret;

	/* A reader of the workload's output that goes away must cost that output only, not
	 * the VM: the console sees EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	ret = build_and_run(&m, err);

	if (m.vm)
		vm_shutdown(m.vm); /* no-op unless set-up failed half-way */
	if (m.vm)
		m.stop_reason = vm_stop_reason(m.vm);
	unwatch_signals(&m);
	release_devices(&m);
	vm_destroy(m.vm);
	free(m.cmdline);
	if (m.init_fd >= 0)
		close(m.init_fd);
	if (ret == 0)
		*exit_status = final_status(&m);
	return ret;
}
