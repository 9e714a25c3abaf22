/* The KVM virtual machine: what devices and the machine glue may ask of it. */
#ifndef KRUN_VM_VM_H
#define KRUN_VM_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "../util/error.h"
#include "guest_mem.h"
#include "event_loop.h"

struct vm;

#define VM_MAX_CPUS    16
#define VM_MIN_RAM_MIB 32

struct vm_config {
	unsigned cpus;	  /* 1..VM_MAX_CPUS */
	uint64_t ram_mib; /* at least VM_MIN_RAM_MIB */
	bool nested_virt; /* expose VMX/SVM when the host's KVM supports nesting */
	bool debug;	  /* bytes the guest writes to the UART at 0x3f8 go to stderr */
	bool setup_only;  /* build everything but never enter the guest: for set-up
			     benchmarks, and then allowed on kvm_pvm */
};

/* Opens KVM and creates the VM: guest RAM, irqchip, PIT, vCPUs, the event loop. */
int vm_create(const struct vm_config *cfg, struct vm **out, krun_error_t *err);
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
/* CLOCK_MONOTONIC time at which the boot vCPU was about to enter the guest for the first
 * time; false when it never got there. */
bool vm_first_run_time(struct vm *vm, struct timespec *ts);

/* A handler for a guest-physical MMIO range. Called on vCPU threads, possibly several
 * at once: the handler does its own locking. offset is relative to base; len is 1, 2,
 * 4 or 8. A read handler fills data (zero it for unknown registers). */
struct mmio_ops {
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned len);
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned len);
};

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len, const struct mmio_ops *ops,
		     void *opaque, krun_error_t *err);

/* KVM_IOEVENTFD: a 4-byte guest write of `datamatch` at gpa signals fd without exiting. */
int vm_add_ioeventfd(struct vm *vm, uint64_t gpa, uint32_t datamatch, int fd, krun_error_t *err);
/* KVM_IRQFD: a write to fd raises the interrupt line gsi (edge). */
int vm_add_irqfd(struct vm *vm, unsigned gsi, int fd, krun_error_t *err);

struct guest_mem *vm_guest_mem(struct vm *vm);
struct event_loop *vm_event_loop(struct vm *vm);

/* Asks the VM to stop: the vCPUs leave KVM_RUN and the event loop returns. Safe from any
 * thread and from a signal handler is NOT guaranteed. */
void vm_request_stop(struct vm *vm);

/* Why the VM stopped ("triple fault", "the guest reset the machine through the i8042"...),
 * a static string; NULL while it runs. */
const char *vm_stop_reason(struct vm *vm);

#endif
