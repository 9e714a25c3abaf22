/* machine_run: one VM, its devices (devices.c) and its kernel command line, run to
 * power-off, with the workload's signals forwarded meanwhile (signals.c). The devices
 * are opaque here. */
#include "machine/internal.h"
#include "util/util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static void log_message(const struct machine *m, enum machine_log_level level, const char *msg)
{
	const struct machine_log *log = m->cfg->log;

	if (!log) {
		if (level != MACHINE_LOG_DEBUG || m->cfg->debug)
			fprintf(stderr, "krun: %s\n", msg);
	} else if (level == MACHINE_LOG_ERROR) {
		log->error(msg);
	} else if (level == MACHINE_LOG_WARNING) {
		log->warning("%s", msg);
	} else {
		log->debug("%s", msg);
	}
}

void machine_log(const struct machine *m, enum machine_log_level level, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	log_message(m, level, msg);
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

static int build(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct vm_params vp = { .kvm_fd = cfg->kvm_fd,
				.cpus = cfg->cpus,
				.ram_mib = cfg->ram_mib,
				.nested_virt = cfg->nested_virt,
				.debug = cfg->debug,
				.setup_only = cfg->setup_only };
	int ret;

	ret = vm_create(&vp, &m->vm, err);
	if (ret < 0)
		return ret;
	ret = vm_load_kernel(m->vm, cfg->kernel_path, cfg->kernel_custom, err);
	if (ret < 0)
		return ret;
	m->cmdline = base_cmdline(cfg);
	ret = machine_add_devices(m, err);
	if (ret < 0)
		return ret;
	append_extra(m);
	return 0;
}

static int run(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	int ret;

	ret = machine_watch_signals(m, err);
	if (ret < 0)
		return ret;
	if (cfg->confine) {
		ret = cfg->confine(cfg->confine_opaque, err);
		if (ret < 0)
			return ret;
	}
	ret = vm_start(m->vm, m->cmdline, err);
	if (ret < 0)
		return ret;
	ret = vm_run(m->vm, err);
	machine_log(m, MACHINE_LOG_DEBUG, "VM stopped: %s", vm_stop_reason(m->vm));
	if (ret < 0)
		return ret;
	if (cfg->first_run_at)
		vm_first_run_time(m->vm, cfg->first_run_at);
	return 0;
}

static int build_and_run(struct machine *m, krun_error_t *err)
{
	int ret = build(m, err);

	if (ret < 0)
		return ret;
	return run(m, err);
}

static int final_status(const struct machine *m)
{
	int status = atomic_load(&m->exit_status);

	if (m->cfg->setup_only)
		return 0;
	if (status != STATUS_UNSET)
		return status;
	machine_log(m, MACHINE_LOG_ERROR,
		    "the guest stopped without reporting an exit status (kernel panic or init "
		    "failure; the debug option shows the kernel log)");
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
	machine_unwatch_signals(&m);
	machine_release_devices(&m);
	vm_destroy(m.vm);
	free(m.cmdline);
	if (m.init_fd >= 0)
		close(m.init_fd);
	if (ret == 0)
		*exit_status = final_status(&m);
	return ret;
}
