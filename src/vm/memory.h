/* Guest RAM: one anonymous reservation split into at most two regions around the MMIO
 * hole, registered with KVM as one memory slot per region. */
#ifndef KRUN_VM_MEMORY_H
#define KRUN_VM_MEMORY_H

#include "vm/guest_mem.h"
#include "util/error.h"

/* Fills the regions for ram_size bytes (gpa and size only; hva stays NULL). */
void guest_mem_layout(struct guest_mem *m, uint64_t ram_size);
/* Lays out and maps ram_size bytes. Nothing is allocated until the guest touches it. */
int guest_mem_map(struct guest_mem *m, uint64_t ram_size, krun_error_t *err);
void guest_mem_unmap(struct guest_mem *m);
int guest_mem_register(const struct guest_mem *m, int vm_fd, krun_error_t *err);

#endif
