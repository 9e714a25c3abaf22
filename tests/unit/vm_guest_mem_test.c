/* Guest RAM layout around the MMIO hole and guest_mem_ptr's bounds checks. */
#include "tap.h"
#include "vm/memory.h"

#include <stdint.h>

#define MIB (1ULL << 20)

static void test_layout(void)
{
	struct guest_mem m;

	guest_mem_layout(&m, 512 * MIB);
	ok(m.nregions == 1 && m.region[0].gpa == 0 && m.region[0].size == 512 * MIB,
	   "RAM below the hole: one region");
	guest_mem_layout(&m, GUEST_MMIO_HOLE_START);
	is_int(m.nregions, 1, "RAM ending exactly at the hole: one region");
	guest_mem_layout(&m, 4096 * MIB);
	ok(m.nregions == 2 && m.region[0].size == GUEST_MMIO_HOLE_START &&
	       m.region[1].gpa == GUEST_MMIO_HOLE_END &&
	       m.region[1].size == 4096 * MIB - GUEST_MMIO_HOLE_START,
	   "4 GiB: below the hole, the rest at 4 GiB");
	is_int(m.ram_size, 4096 * MIB, "ram_size is what was asked");
}

static void test_ptr(void)
{
	/* Fake host addresses: guest_mem_ptr only does arithmetic. */
	uint8_t *base = (uint8_t *)(uintptr_t)0x10000000;
	struct guest_mem m;

	guest_mem_layout(&m, 4096 * MIB);
	m.region[0].hva = base;
	m.region[1].hva = base + GUEST_MMIO_HOLE_START;

	ok(guest_mem_ptr(&m, 0, 4096) == base, "start of RAM");
	ok(guest_mem_ptr(&m, 0x1000, 8) == base + 0x1000, "inside the low region");
	ok(guest_mem_ptr(&m, GUEST_MMIO_HOLE_START - 8, 8) != NULL, "last bytes below the hole");
	ok(guest_mem_ptr(&m, GUEST_MMIO_HOLE_START - 8, 9) == NULL,
	   "a range running into the hole");
	ok(guest_mem_ptr(&m, GUEST_MMIO_HOLE_START, 1) == NULL, "inside the hole");
	ok(guest_mem_ptr(&m, GUEST_MMIO_HOLE_END, 16) == base + GUEST_MMIO_HOLE_START,
	   "start of the high region");
	ok(guest_mem_ptr(&m, GUEST_MMIO_HOLE_END + m.region[1].size, 0) != NULL,
	   "an empty range at the very end");
	ok(guest_mem_ptr(&m, GUEST_MMIO_HOLE_END + m.region[1].size, 1) == NULL, "past the end");
	ok(guest_mem_ptr(&m, UINT64_MAX, 2) == NULL, "address + length overflowing");
	ok(guest_mem_ptr(&m, 0x1000, UINT64_MAX) == NULL, "a huge length");
	ok(guest_mem_ptr(&m, 0x1000, UINT64_MAX - 0xfff) == NULL, "a length that wraps to 0");
	ok(guest_mem_ptr(&m, GUEST_MMIO_HOLE_START - 0x1000, 0x2000 + GUEST_MMIO_HOLE_END) == NULL,
	   "a range spanning both regions");
}

int main(void)
{
	test_layout();
	test_ptr();
	return tap_done();
}
