/* The x86_64 64-bit boot protocol as we use it: what the VMM writes below 1 MiB (zero page,
 * command line, page tables, GDT, MP table; their addresses are in layout.h) and the
 * builders for it. The vCPU then enters the kernel in long mode with RSI = zero page. */
#ifndef KRUN_VM_BOOT_H
#define KRUN_VM_BOOT_H

#include <stddef.h>
#include <stdint.h>
#include <asm/bootparam.h>
#include "util/error.h"
#include "vm/guest_mem.h"
#include "vm/layout.h"

/* The x86 kernel's COMMAND_LINE_SIZE, NUL included: it silently cuts longer lines. */
#define BOOT_CMDLINE_MAX 2048

/* GDT selectors and descriptors: flat 64-bit code, flat data, and a TSS (VM entry in long
 * mode needs a busy TSS in TR; the kernel installs its own GDT and TSS early). */
#define BOOT_SEL_CODE	 0x08
#define BOOT_SEL_DATA	 0x10
#define BOOT_SEL_TSS	 0x18
#define BOOT_GDT_ENTRIES 4

/* A segment descriptor from its parts (base 0): access byte, flags nibble, limit. */
#define BOOT_DESC(access, flags, limit)                                                            \
	((((uint64_t)(flags)&0xf) << 52) | (((uint64_t)(limit)&0xf0000) << 32) |                   \
	 ((uint64_t)(access) << 40) | ((uint64_t)(limit)&0xffff))
#define BOOT_DESC_CODE BOOT_DESC(0x9b, 0xa, 0xfffff) /* present, exec/read, G, L */
#define BOOT_DESC_DATA BOOT_DESC(0x93, 0xc, 0xfffff) /* present, read/write, G, D/B */
#define BOOT_DESC_TSS  BOOT_DESC(0x8b, 0x0, 0x67)    /* present, busy 64-bit TSS */

/* The e820 map for m: low RAM below the MP table, then RAM from 1 MiB (around the MMIO
 * hole). Returns the number of entries written (at most max). */
unsigned boot_e820(const struct guest_mem *m, struct boot_e820_entry *e, unsigned max);
/* Fills a zeroed zero page for m and a command line of cmdline_len bytes (NUL excluded). */
void boot_fill_params(struct boot_params *bp, const struct guest_mem *m, size_t cmdline_len);
/* Writes the command line, zero page, page tables, GDT, IDT and MP table into m. */
int boot_write(struct guest_mem *m, const char *cmdline, unsigned ncpus, krun_error_t *err);

#endif
