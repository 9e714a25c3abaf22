/* The MP table for 1..16 CPUs: checksums, pointers and every entry Linux reads. */
#include "tap.h"
#include "vm/mptable.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_GPA 0x9fc00U

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static uint16_t le16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_processors(const uint8_t *e, unsigned n)
{
	bool good = true;

	for (unsigned i = 0; i < n; i++, e += 20)
		good &= e[0] == 0 && e[1] == i && (e[3] & 1) && !!(e[3] & 2) == (i == 0);
	ok(good, "one enabled processor entry per CPU, APIC id = index, CPU 0 is the BSP");
}

static void check_table(unsigned n)
{
	size_t size = mptable_size(n);
	uint8_t *buf = calloc(1, size);
	const uint8_t *hdr = buf + 16, *e;
	char name[80];
	bool good = true;

	mptable_build(buf, TABLE_GPA, n);
	snprintf(name, sizeof(name), "%u CPUs: floating pointer signature and checksum", n);
	ok(memcmp(buf, "_MP_", 4) == 0 && sum(buf, 16) == 0 && buf[8] == 1 && buf[9] == 4, name);
	snprintf(name, sizeof(name), "%u CPUs: it points at the table right after it", n);
	is_int(le32(buf + 4), TABLE_GPA + 16, name);
	snprintf(name, sizeof(name), "%u CPUs: PCMP header length and checksum", n);
	ok(memcmp(hdr, "PCMP", 4) == 0 && le16(hdr + 4) == size - 16 && sum(hdr, size - 16) == 0,
	   name);
	snprintf(name, sizeof(name), "%u CPUs: entry count", n);
	is_int(le16(hdr + 34), n + 1 + 1 + 16 + 2, name);
	is_int(le32(hdr + 36), 0xfee00000, "local APIC address");

	e = hdr + 44;
	check_processors(e, n);
	e += 20 * n;
	ok(e[0] == 1 && memcmp(e + 2, "ISA   ", 6) == 0, "one ISA bus");
	e += 8;
	ok(e[0] == 2 && e[1] == n && (e[3] & 1) && le32(e + 4) == 0xfec00000,
	   "IOAPIC after the CPUs' ids, enabled, at 0xfec00000");
	e += 8;
	for (unsigned irq = 0; irq < 16; irq++, e += 8)
		good &= e[0] == 3 && e[1] == 0 && e[5] == irq && e[6] == n && e[7] == irq;
	ok(good, "16 ISA interrupts, IRQ i on IOAPIC pin i");
	ok(e[0] == 4 && e[1] == 3 && e[6] == 0 && e[7] == 0, "ExtINT on the BSP's LINT0");
	e += 8;
	ok(e[0] == 4 && e[1] == 1 && e[6] == 0xff && e[7] == 1, "NMI on every LINT1");
	ok(e + 8 == buf + size, "nothing after the last entry");
	free(buf);
}

static void test_write_limits(void)
{
	uint8_t ram[4096] __attribute__((aligned(8)));
	struct guest_mem m = { .nregions = 1, .region = { { 0x9f000, sizeof(ram), ram } } };
	krun_error_t err = NULL;

	is_int(mptable_write(&m, TABLE_GPA, 0, &err), -EINVAL, "0 CPUs refused");
	krun_error_release(&err);
	is_int(mptable_write(&m, TABLE_GPA, VM_MAX_CPUS + 1, &err), -EINVAL,
	       "more than 16 CPUs refused");
	krun_error_release(&err);
	is_int(mptable_write(&m, 0x9ff00, 16, &err), -EINVAL,
	       "a table past the end of RAM refused");
	krun_error_release(&err);
	is_int(mptable_write(&m, TABLE_GPA, 16, &err), 0, "16 CPUs fit below 640 KiB");
	ok(mptable_size(16) <= 0x400, "the table fits in the last KiB of base memory");
}

int main(void)
{
	check_table(1);
	check_table(2);
	check_table(16);
	test_write_limits();
	return tap_done();
}
