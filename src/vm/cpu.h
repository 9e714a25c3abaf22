/* Architectural state of a vCPU before its first KVM_RUN. */
#ifndef KRUN_VM_CPU_H
#define KRUN_VM_CPU_H

#include <stdint.h>
#include <linux/kvm.h>
#include "util/error.h"

/* Every vCPU: CPUID, MSRs, and the LAPIC wired as a virtual wire (LINT0 ExtINT, LINT1
 * NMI). Secondary vCPUs then wait in the in-kernel LAPIC for INIT/SIPI. */
int cpu_configure(int vcpu_fd, unsigned index, struct kvm_cpuid2 *cpuid, krun_error_t *err);
/* The boot vCPU only: long mode on the boot page tables, RIP = entry, RSI = zero page. */
int cpu_set_boot_state(int vcpu_fd, uint64_t entry, krun_error_t *err);

#endif
