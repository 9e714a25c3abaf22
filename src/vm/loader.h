/* The guest kernel: an uncompressed x86_64 vmlinux ELF whose PT_LOAD segments go to their
 * physical addresses. The installed kernel's pages are mapped over guest RAM, not copied,
 * so every VM on the host shares the page cache; guest writes land in private copies.
 *
 * A mapped file that shrinks turns the pages past its new end into SIGBUS for whoever
 * touches them: the VMM's devices reading guest RAM. So only a kernel nobody else can
 * truncate is mapped: not an image's own (the container, and so the guest through
 * virtio-fs, can write it), and only a file owned by root or by us that its group and
 * others cannot write. Every other kernel is read (pread) into guest RAM, and the ELF
 * headers are always read, never mapped. */
#ifndef KRUN_VM_LOADER_H
#define KRUN_VM_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include "util/error.h"
#include "vm/guest_mem.h"

/* Segments may not start below this: the low megabyte holds the boot structures. */
#define KERNEL_MIN_ADDR BOOT_HIMEM_START

/* Validates and loads the ELF at path into m; *entry is its physical entry point. custom:
 * the kernel is not krun's installed one (an image brought it): always copied. */
int kernel_load(struct guest_mem *m, const char *path, bool custom, uint64_t *entry,
		krun_error_t *err);

#endif
