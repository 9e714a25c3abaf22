/* The boot structures the kernel finds in low memory: zero page with its e820 map, command
 * line, identity page tables, GDT and the MP table (boot.h). */
#include "vm/boot.h"
#include "vm/mptable.h"

#include <errno.h>
#include <string.h>

#define E820_TYPE_RAM 1

/* Page-table entry bits. */
#define PTE_PRESENT 0x1ULL
#define PTE_WRITE   0x2ULL
#define PTE_LARGE   0x80ULL
#define PAGE_2M	    0x200000ULL

/* boot_params.hdr constants of the boot protocol. */
#define HDR_MAGIC      0x53726448 /* "HdrS" */
#define HDR_BOOT_FLAG  0xaa55
#define HDR_LOADER_ANY 0xff /* loader type "undefined" */

static unsigned add_e820(struct boot_e820_entry *e, unsigned n, unsigned max, uint64_t start,
			 uint64_t end)
{
	if (n == max || end <= start)
		return n;
	e[n] =
	    (struct boot_e820_entry){ .addr = start, .size = end - start, .type = E820_TYPE_RAM };
	return n + 1;
}

unsigned boot_e820(const struct guest_mem *m, struct boot_e820_entry *e, unsigned max)
{
	const struct guest_mem_region *low = &m->region[0];
	unsigned n = 0;

	/* The MP table and the legacy hole [640 KiB, 1 MiB) are not RAM. */
	n = add_e820(e, n, max, 0, BOOT_LOW_RAM_END < low->size ? BOOT_LOW_RAM_END : low->size);
	n = add_e820(e, n, max, BOOT_HIMEM_START, low->gpa + low->size);
	for (unsigned i = 1; i < m->nregions; i++)
		n = add_e820(e, n, max, m->region[i].gpa, m->region[i].gpa + m->region[i].size);
	return n;
}

void boot_fill_params(struct boot_params *bp, const struct guest_mem *m, size_t cmdline_len)
{
	bp->hdr.header = HDR_MAGIC;
	bp->hdr.boot_flag = HDR_BOOT_FLAG;
	bp->hdr.type_of_loader = HDR_LOADER_ANY;
	bp->hdr.cmd_line_ptr = BOOT_CMDLINE;
	bp->hdr.cmdline_size = cmdline_len + 1;
	bp->e820_entries = boot_e820(m, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
}

/* Identity map of the first GiB with 2 MiB pages: enough for the kernel to reach its own
 * page tables, which it sets up first thing. */
static void write_page_tables(uint64_t *pml4, uint64_t *pdpt, uint64_t *pd)
{
	pml4[0] = BOOT_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
	pdpt[0] = BOOT_PD_ADDR | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i * PAGE_2M) | PTE_PRESENT | PTE_WRITE | PTE_LARGE;
}

static void write_gdt(uint64_t *gdt)
{
	gdt[0] = 0;
	gdt[BOOT_SEL_CODE / 8] = BOOT_DESC_CODE;
	gdt[BOOT_SEL_DATA / 8] = BOOT_DESC_DATA;
	gdt[BOOT_SEL_TSS / 8] = BOOT_DESC_TSS;
}

int boot_write(struct guest_mem *m, const char *cmdline, unsigned ncpus, krun_error_t *err)
{
	size_t len = strlen(cmdline);
	char *cmd = guest_mem_ptr(m, BOOT_CMDLINE, BOOT_CMDLINE_MAX);
	struct boot_params *bp = guest_mem_ptr(m, BOOT_ZERO_PAGE, sizeof(*bp));
	uint64_t *pml4 = guest_mem_ptr(m, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem_ptr(m, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem_ptr(m, BOOT_PD_ADDR, 4096);
	uint64_t *gdt = guest_mem_ptr(m, BOOT_GDT_ADDR, BOOT_GDT_ENTRIES * 8);

	if (len >= BOOT_CMDLINE_MAX)
		return krun_make_error(err, E2BIG,
				       "kernel command line is %zu bytes, the limit is %d", len,
				       BOOT_CMDLINE_MAX - 1);
	if (!cmd || !bp || !pml4 || !pdpt || !pd || !gdt)
		return krun_make_error(err, EINVAL, "guest RAM too small for the boot structures");
	memcpy(cmd, cmdline, len + 1);
	memset(bp, 0, sizeof(*bp));
	boot_fill_params(bp, m, len);
	write_page_tables(pml4, pdpt, pd);
	write_gdt(gdt);
	/* The IDT stays empty (zero RAM): the kernel loads its own before enabling interrupts. */
	return mptable_write(m, BOOT_MPTABLE, ncpus, err);
}
