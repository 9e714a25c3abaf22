/* The zero page, e820 map, command line, page tables and GDT written for the 64-bit boot. */
#include "tap.h"
#include "vm/boot.h"
#include "vm/memory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1ULL << 20)

static void test_e820_small(void)
{
	struct guest_mem m;
	struct boot_e820_entry e[8];

	guest_mem_layout(&m, 512 * MIB);
	is_int(boot_e820(&m, e, 8), 2, "512 MiB: two RAM ranges");
	ok(e[0].addr == 0 && e[0].size == BOOT_MPTABLE && e[0].type == 1,
	   "low RAM ends where the MP table starts");
	ok(e[1].addr == BOOT_HIMEM_START && e[1].addr + e[1].size == 512 * MIB && e[1].type == 1,
	   "RAM from 1 MiB to the end");
}

static void test_e820_hole(void)
{
	struct guest_mem m;
	struct boot_e820_entry e[8];

	guest_mem_layout(&m, 4096 * MIB);
	is_int(boot_e820(&m, e, 8), 3, "4 GiB: three RAM ranges");
	ok(e[1].addr + e[1].size == GUEST_MMIO_HOLE_START, "RAM stops at the MMIO hole");
	ok(e[2].addr == GUEST_MMIO_HOLE_END && e[2].size == 4096 * MIB - GUEST_MMIO_HOLE_START,
	   "the rest continues at 4 GiB");
	is_int(boot_e820(&m, e, 2), 2, "the table size is respected");
}

static void test_boot_write(void)
{
	const char *cmdline = "console=hvc0 quiet";
	struct guest_mem m;
	krun_error_t err = NULL;
	struct boot_params *bp;
	uint64_t *pml4, *pdpt, *pd, *gdt;

	if (guest_mem_map(&m, 64 * MIB, &err) < 0) {
		printf("Bail out! %s\n", err->msg);
		exit(1);
	}
	is_int(boot_write(&m, cmdline, 2, &err), 0, "boot structures written");
	bp = guest_mem_ptr(&m, BOOT_ZERO_PAGE, sizeof(*bp));
	is_int(bp->hdr.header, 0x53726448, "HdrS magic");
	is_int(bp->hdr.boot_flag, 0xaa55, "boot flag");
	is_int(bp->hdr.type_of_loader, 0xff, "loader type: undefined");
	is_int(bp->hdr.cmd_line_ptr, BOOT_CMDLINE, "command line pointer");
	is_int(bp->hdr.cmdline_size, strlen(cmdline) + 1, "command line size");
	is_str(guest_mem_ptr(&m, BOOT_CMDLINE, 64), cmdline, "command line in guest RAM");
	is_int(bp->e820_entries, 2, "e820 entries in the zero page");
	ok(bp->e820_table[1].addr + bp->e820_table[1].size == 64 * MIB, "e820 covers all RAM");

	pml4 = guest_mem_ptr(&m, BOOT_PML4_ADDR, 4096);
	pdpt = guest_mem_ptr(&m, BOOT_PDPT_ADDR, 4096);
	pd = guest_mem_ptr(&m, BOOT_PD_ADDR, 4096);
	is_int(pml4[0], BOOT_PDPT_ADDR | 3, "PML4 points at the PDPT");
	is_int(pdpt[0], BOOT_PD_ADDR | 3, "PDPT points at the PD");
	is_int(pd[0], 0x83, "2 MiB page at 0");
	is_int(pd[511], 511 * 2 * MIB | 0x83, "identity map up to 1 GiB");

	gdt = guest_mem_ptr(&m, BOOT_GDT_ADDR, 32);
	is_int(gdt[0], 0, "null descriptor");
	is_int(gdt[1], 0x00af9b000000ffffULL, "64-bit code descriptor");
	is_int(gdt[2], 0x00cf93000000ffffULL, "flat data descriptor");
	is_int(gdt[3], 0x00008b0000000067ULL, "busy TSS descriptor");
	ok(memcmp(guest_mem_ptr(&m, BOOT_MPTABLE, 4), "_MP_", 4) == 0, "MP table written");
	guest_mem_unmap(&m);
}

static void test_cmdline_limit(void)
{
	char line[BOOT_CMDLINE_MAX + 1];
	struct guest_mem m;
	krun_error_t err = NULL;

	guest_mem_map(&m, 64 * MIB, &err);
	memset(line, 'x', sizeof(line) - 1);
	line[BOOT_CMDLINE_MAX - 1] = '\0';
	is_int(boot_write(&m, line, 1, &err), 0, "a command line of 2047 bytes fits");
	line[BOOT_CMDLINE_MAX - 1] = 'x';
	line[BOOT_CMDLINE_MAX] = '\0';
	is_int(boot_write(&m, line, 1, &err), -E2BIG, "2048 bytes do not");
	ok(err && strstr(err->msg, "command line"), "the error names the command line");
	krun_error_release(&err);
	guest_mem_unmap(&m);
}

int main(void)
{
	test_e820_small();
	test_e820_hole();
	test_boot_write();
	test_cmdline_limit();
	return tap_done();
}
