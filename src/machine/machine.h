/* Builds and runs one microVM: the layer above the VM (src/vm) and the devices
 * (src/devices) that wires the one to the other. Knows nothing of OCI: the caller
 * describes the machine. */
#ifndef KRUN_MACHINE_MACHINE_H
#define KRUN_MACHINE_MACHINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "util/error.h"

/* The caller's logger (krun's own, so that --log and --log-format see the machine's
 * messages); the signatures are those of src/oci/log.h. */
struct machine_log {
	void (*error)(const char *msg);
	void (*warning)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
	void (*debug)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

struct machine_config {
	/* /dev/kvm opened and checked by the caller (kvm_open), who keeps it: the VM uses a
	 * duplicate. -1: machine_run opens /dev/kvm itself. */
	int kvm_fd;
	unsigned cpus;		 /* 1..VM_MAX_CPUS (vm/limits.h) */
	uint64_t ram_mib;	 /* guest RAM */
	const char *kernel_path; /* uncompressed vmlinux ELF */
	bool kernel_custom;	 /* not krun's installed kernel: copied, never mapped */
	/* Appended to the built-in command line; may be NULL. */
	const char *kernel_cmdline_extra;
	bool nested_virt; /* expose VMX/SVM in CPUID */
	bool debug;	  /* guest kernel log (earlyprintk on port 0x3f8) to stderr */
	/* Where the machine's messages go; NULL: "krun: <message>" on stderr, debug ones
	 * only with `debug`. */
	const struct machine_log *log;

	const char *root_path;	 /* host directory that becomes the guest's / */
	const char *root_tag;	 /* virtio-fs tag; "/dev/root" when NULL */
	const char *init_path;	 /* the static guest init binary, served as /init.krun */
	const char *config_json; /* served as /.krun_config.json (mode 0444) */
	size_t config_json_len;

	/* TSI (docs/tsi.md): a virtio-vsock device whose backend gives the guest's sockets
	 * real sockets in this process' network namespace, and tsi=1 on the command line;
	 * AF_UNIX paths are resolved inside root_path. tsi_privileged_ports lets the guest
	 * bind ports below 1024 (the container has CAP_NET_BIND_SERVICE). */
	bool tsi;
	bool tsi_privileged_ports;

	int stdin_fd, stdout_fd, stderr_fd;
	bool terminal; /* stdin/stdout are one terminal, carried by hvc0 */

	/* Called once, when the machine is built and just before the vCPUs start: the last
	 * moment the process has its caller's privileges (the VMM's confinement). Nothing
	 * runs on another thread then. A failure stops the VM before the guest runs. */
	int (*confine)(void *opaque, krun_error_t *err);
	void *confine_opaque;
	/* The exec channel (docs/exec.md): with TSI's vsock device, agent_listen_fd (taken
	 * over) is bridged to the guest's agent for peers of uid agent_owner or 0. */
	bool has_agent_socket;
	int agent_listen_fd;
	uid_t agent_owner;

	/* For set-up benchmarks: build the whole machine but never enter the guest (then
	 * allowed on kvm_pvm; *exit_status is 0); and, when not NULL, receive the
	 * CLOCK_MONOTONIC time at which the boot vCPU was about to enter the guest. */
	bool setup_only;
	struct timespec *first_run_at;
};

/* Boots the guest and runs it to power-off. *exit_status is the workload's status as
 * reported by the guest init, 128+signal when a SIGTERM, SIGINT, SIGHUP or SIGQUIT
 * stopped the VM before the guest init was up, or 125 when the guest stopped without
 * reporting one (kernel panic, init crash).
 *
 * Signals: while it runs, the calling thread (which runs the event loop) blocks the
 * machine_signal_set signals and reads them from a signalfd: each goes to the guest init,
 * which sends it to the workload (SIGWINCH instead resizes the guest's terminal). Other
 * threads of the process must block them too (the VM's own threads do). Signals the
 * caller blocked earlier and that are still pending are handled as soon as the VM runs,
 * so a caller that blocks the set from its start loses none; the caller's mask comes
 * back on return, and signals still pending then are discarded. */
int machine_run(const struct machine_config *cfg, int *exit_status, krun_error_t *err);

/* The signals machine_run takes over: every catchable signal except the synchronous
 * faults (SEGV, BUS, ILL, FPE, TRAP, SYS), SIGCHLD, SIGPIPE (which machine_run sets to
 * ignored), SIGRTMIN (the vCPU kick) and glibc's two internal ones; SIGWINCH only with a
 * terminal. */
void machine_signal_set(sigset_t *set, bool terminal);

#endif
