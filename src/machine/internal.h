/* struct machine, shared by the files of src/machine: one VM, its devices, its kernel
 * command line and the workload's signals while machine_run runs. */
#ifndef KRUN_MACHINE_INTERNAL_H
#define KRUN_MACHINE_INTERNAL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include "machine/machine.h"
#include "devices/console/console.h"
#include "devices/virtio/virtio.h"
#include "vm/layout.h"
#include "vm/vm.h"

#define STATUS_UNSET	 INT_MIN
#define STATUS_NO_REPORT 125

struct machine {
	const struct machine_config *cfg;
	struct vm *vm;
	struct virtio_device *dev[GUEST_VIRTIO_MMIO_MAX_DEVICES];
	unsigned ndev;
	char *cmdline;
	int init_fd;
	_Atomic int exit_status;

	struct virtio_device *console;
	char klog[CONSOLE_KLOG_SIZE]; /* the end of the guest's kernel console, once stopped */
	size_t klog_len;
	const char *stop_reason;     /* how the VM stopped, once stopped */
	struct agent_bridge *bridge; /* the exec channel, with TSI */
	int signal_fd;		     /* signalfd of `signals`; -1 until watched */
	bool signals_blocked;	     /* then saved_mask is the caller's, restored at the end */
	sigset_t signals, saved_mask;
};

enum machine_log_level { MACHINE_LOG_ERROR, MACHINE_LOG_WARNING, MACHINE_LOG_DEBUG };
/* One message through m->cfg->log. */
void machine_log(const struct machine *m, enum machine_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The end of the guest's kernel console as krun prints it: whole lines after "  | ",
 * printable ASCII only; `wrapped` when the ring dropped the start (its first line is cut). */
char *machine_klog_text(const char *klog, size_t len, bool wrapped);

/* Creates the devices in the order of their MMIO windows and IRQ lines, attaches them to
 * m->vm and adds what they need to m->cmdline. */
int machine_add_devices(struct machine *m, krun_error_t *err);
/* The vCPUs have stopped: devices hand over what the guest queued, then go. */
void machine_release_devices(struct machine *m);

/* Blocks the machine_signal_set signals and reads them from a signalfd on the event loop;
 * signals already pending (the caller may have blocked them earlier) are read at once. */
int machine_watch_signals(struct machine *m, krun_error_t *err);
/* Drops what is still pending and gives the caller its signal mask back. */
void machine_unwatch_signals(struct machine *m);

#endif
