/* One vCPU: its KVM fd, its shared kvm_run page, and the thread that runs it and handles
 * its exits. */
#ifndef KRUN_VM_VCPU_H
#define KRUN_VM_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/kvm.h>
#include "util/error.h"

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
};

/* Creates vCPU index and gives it its CPUID, MSRs and LAPIC set-up. */
int vcpu_init(struct vcpu *v, struct vm *vm, unsigned index, size_t run_size, krun_error_t *err);
/* Installs the handler of the signal that kicks vCPUs out of KVM_RUN. */
int vcpu_install_kick_handler(krun_error_t *err);
int vcpu_start(struct vcpu *v, krun_error_t *err);
/* Makes the vCPU leave KVM_RUN (or not enter it again). Call with vm->lock held. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

#endif
