/* The Intel MultiProcessor Specification 1.4 table: how a guest kernel without ACPI finds
 * its CPUs, the IOAPIC and the ISA interrupt routing. */
#ifndef KRUN_VM_MPTABLE_H
#define KRUN_VM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>
#include "vm/guest_mem.h"
#include "util/error.h"
#include "vm/limits.h"

#define MPTABLE_ISA_IRQS 16

/* Bytes the floating pointer and configuration table take for ncpus processors. */
size_t mptable_size(unsigned ncpus);
/* Builds both into buf (mptable_size(ncpus) bytes, zeroed) for a table placed at gpa. */
void mptable_build(uint8_t *buf, uint32_t gpa, unsigned ncpus);
int mptable_write(struct guest_mem *m, uint64_t gpa, unsigned ncpus, krun_error_t *err);

#endif
