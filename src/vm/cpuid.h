/* Per-vCPU CPUID, derived from what KVM supports on this host: the hypervisor bit, the
 * vCPU's APIC id, a topology of `ncpus` single-thread cores in one package (Intel and AMD
 * leaves alike), no PMU, and VMX/SVM only for nested virtualisation. Pure code. */
#ifndef KRUN_VM_CPUID_H
#define KRUN_VM_CPUID_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

/* cpuid_normalize may add this many entries beyond the host table's. */
#define CPUID_EXTRA_ENTRIES 6

struct cpuid_params {
	unsigned cpu_index; /* also the APIC id */
	unsigned ncpus;
	bool nested;	   /* keep VMX/SVM when the host table has them */
	bool tsc_deadline; /* KVM emulates the LAPIC TSC-deadline timer */
};

/* A zeroed table with room for capacity entries. */
struct kvm_cpuid2 *cpuid_alloc(unsigned capacity);
/* out (room for host->nent + CPUID_EXTRA_ENTRIES) becomes host normalised for p. */
void cpuid_normalize(const struct kvm_cpuid2 *host, struct kvm_cpuid2 *out,
		     const struct cpuid_params *p);
/* The entry for (function, index), index mattering only when the entry says so. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index);

#endif
