/* The KVM virtual machine as the machine layer drives it: create, load a kernel, start,
 * run to power-off, destroy. What devices may ask of it is in bus.h. */
#ifndef KRUN_VM_VM_H
#define KRUN_VM_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "util/error.h"
#include "vm/bus.h"
#include "vm/limits.h"

struct vm;

/* What vm_create builds. */
struct vm_params {
	int kvm_fd;	  /* /dev/kvm opened by the caller (kvm_open), duplicated; -1: open it */
	unsigned cpus;	  /* 1..VM_MAX_CPUS */
	uint64_t ram_mib; /* at least VM_MIN_RAM_MIB */
	bool nested_virt; /* expose VMX/SVM when the host's KVM supports nesting */
	bool debug;	  /* bytes the guest writes to the UART at 0x3f8 go to stderr */
	bool setup_only;  /* build everything but never enter the guest: for set-up
			     benchmarks, and then allowed on kvm_pvm */
};

/* Opens KVM and creates the VM: guest RAM, irqchip, PIT, vCPUs, the event loop. */
int vm_create(const struct vm_params *cfg, struct vm **out, krun_error_t *err);
/* Loads the vmlinux ELF at path (see loader.h; custom: not krun's installed kernel). */
int vm_load_kernel(struct vm *vm, const char *path, bool custom, krun_error_t *err);
/* Writes the boot structures with this kernel command line, sets the boot vCPU's
 * registers and starts the vCPU threads. MMIO registration is closed from here on. */
int vm_start(struct vm *vm, const char *cmdline, krun_error_t *err);
/* Runs the event loop on the calling thread until the VM stops, then waits for the vCPU
 * threads. Fails when a vCPU stopped on an error (KVM could not run the guest). */
int vm_run(struct vm *vm, krun_error_t *err);
/* Stops the vCPUs and waits for their threads (vm_run does it too); after it no device
 * handler runs on a vCPU thread. Idempotent. */
void vm_shutdown(struct vm *vm);
/* Stops what still runs and frees everything. */
void vm_destroy(struct vm *vm);
/* Why the VM stopped (the first reason given: power-off, triple fault, an error...). */
const char *vm_stop_reason(struct vm *vm);
/* CLOCK_MONOTONIC time at which the boot vCPU was about to enter the guest for the first
 * time; false when it never got there. */
bool vm_first_run_time(struct vm *vm, struct timespec *ts);

/* Asks the VM to stop: the vCPUs leave KVM_RUN and the event loop returns. Safe from any
 * thread and from a signal handler is NOT guaranteed. */
void vm_request_stop(struct vm *vm);

#endif
