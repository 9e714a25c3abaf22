/* The VM as a device transport sees it: guest memory, the event loop, MMIO ranges, and the
 * two KVM shortcuts (ioeventfd for guest writes, irqfd for interrupts). Devices include
 * this, never vm.h: how a VM is created and run belongs to the machine layer. */
#ifndef KRUN_VM_BUS_H
#define KRUN_VM_BUS_H

#include <stdint.h>
#include "util/error.h"
#include "vm/event_loop.h"
#include "vm/guest_mem.h"

struct vm;

/* A handler for a guest-physical MMIO range. Called on vCPU threads, possibly several
 * at once: the handler does its own locking. offset is relative to base; len is 1, 2,
 * 4 or 8. A read handler fills data (zero it for unknown registers). */
struct mmio_ops {
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned len);
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned len);
};

/* Only before vm_start: the vCPUs then read the ranges without a lock. */
int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len, const struct mmio_ops *ops,
		     void *opaque, krun_error_t *err);

/* KVM_IOEVENTFD: a 4-byte guest write of `datamatch` at gpa signals fd without exiting. */
int vm_add_ioeventfd(struct vm *vm, uint64_t gpa, uint32_t datamatch, int fd, krun_error_t *err);
/* KVM_IRQFD: a write to fd raises the interrupt line gsi (edge). */
int vm_add_irqfd(struct vm *vm, unsigned gsi, int fd, krun_error_t *err);

struct guest_mem *vm_guest_mem(struct vm *vm);
struct event_loop *vm_event_loop(struct vm *vm);

#endif
