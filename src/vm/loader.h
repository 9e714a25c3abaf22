/* The guest kernel: an uncompressed x86_64 vmlinux ELF whose PT_LOAD segments go to their
 * physical addresses. File-backed pages are mapped over guest RAM, not copied, so every
 * VM on the host shares the page cache; guest writes land in private copies. */
#ifndef KRUN_VM_LOADER_H
#define KRUN_VM_LOADER_H

#include <stdint.h>
#include "guest_mem.h"
#include "../util/error.h"

/* Segments may not start below this: the low megabyte holds the boot structures. */
#define KERNEL_MIN_ADDR 0x100000ULL

/* Validates and loads the ELF at path into m; *entry is its physical entry point. */
int kernel_load(struct guest_mem *m, const char *path, uint64_t *entry, krun_error_t *err);

#endif
