/* struct vm, shared by the files of src/vm that implement it. */
#ifndef KRUN_VM_VM_INTERNAL_H
#define KRUN_VM_VM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <linux/kvm.h>
#include "vm/vm.h"
#include "vm/mmio_bus.h"
#include "vm/pio.h"
#include "vm/vcpu.h"

struct vm {
	struct vm_params cfg;
	int kvm_fd, vm_fd;
	bool tsc_deadline;	       /* KVM emulates the TSC-deadline timer */
	struct kvm_cpuid2 *host_cpuid; /* KVM_GET_SUPPORTED_CPUID, before normalisation */
	struct guest_mem mem;
	struct event_loop *loop;
	struct mmio_bus mmio;
	struct pio pio;
	uint64_t entry;
	bool kernel_loaded;
	struct vcpu vcpu[VM_MAX_CPUS];
	atomic_bool started; /* vCPU threads exist: the MMIO bus is frozen */
	atomic_bool stopping;

	pthread_mutex_t lock; /* the fields below, and vCPU start against stop */
	const char *stop_reason;
	krun_error_t error; /* the first vCPU failure */
	bool first_run_set;
	struct timespec first_run;
};

/* Stops the VM, recording why (the first reason wins). Any thread. */
void vm_stop(struct vm *vm, const char *reason);
/* Stops the VM on an error; takes ownership of *e (the first error is kept). */
void vm_fail(struct vm *vm, krun_error_t *e);

#endif
