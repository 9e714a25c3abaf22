/* /dev/kvm: opening it, checking that it is a KVM we can use, and the host-wide queries. */
#ifndef KRUN_VM_KVM_H
#define KRUN_VM_KVM_H

#include <stdbool.h>
#include <linux/kvm.h>
#include "util/error.h"

#define KVM_DEVICE "/dev/kvm"

/* Opens /dev/kvm and checks the API version and the capabilities the VMM relies on.
 * device_fd >= 0 is /dev/kvm opened earlier (once the process is root of a user namespace
 * the device node refuses it): *kvm_fd is then a duplicate of it, and it stays the
 * caller's. Refuses kvm_pvm (which cannot run our guest) unless allow_pvm, for
 * set-up-only runs. */
int kvm_open(int device_fd, bool allow_pvm, int *kvm_fd, krun_error_t *err);
/* KVM_GET_SUPPORTED_CPUID; the caller frees *out. */
int kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out, krun_error_t *err);
bool kvm_has_cap(int fd, long cap);

#endif
