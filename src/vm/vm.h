/* The KVM virtual machine: what devices and the machine glue may ask of it. */
#ifndef KRUN_VM_VM_H
#define KRUN_VM_VM_H

#include <stdbool.h>
#include <stdint.h>
#include "../util/error.h"
#include "guest_mem.h"
#include "event_loop.h"

struct vm;

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

#endif
