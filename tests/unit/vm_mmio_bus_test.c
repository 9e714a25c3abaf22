/* The MMIO bus: sorted insertion, lookup by bisection, and refused ranges. */
#include "tap.h"
#include "vm/mmio_bus.h"

#include <errno.h>

static const struct mmio_ops ops;

static int add(struct mmio_bus *b, uint64_t base, uint64_t len, void *opaque)
{
	krun_error_t err = NULL;
	int ret = mmio_bus_add(b, base, len, &ops, opaque, &err);

	krun_error_release(&err);
	return ret;
}

int main(void)
{
	struct mmio_bus b = { 0 };
	int a, c, d;

	is_int(add(&b, 0xd0001000, 0x1000, &c), 0, "add a range");
	is_int(add(&b, 0xd0000000, 0x1000, &a), 0, "add one before it");
	is_int(add(&b, 0xd0003000, 0x1000, &d), 0, "add one after a gap");
	ok(b.range[0].base < b.range[1].base && b.range[1].base < b.range[2].base, "kept sorted");

	ok(mmio_bus_find(&b, 0xd0000000, 4)->opaque == &a, "first byte of a range");
	ok(mmio_bus_find(&b, 0xd0001ffc, 4)->opaque == &c, "last word of a range");
	ok(mmio_bus_find(&b, 0xd0001ffe, 4) == NULL, "an access straddling the end");
	ok(mmio_bus_find(&b, 0xd0002000, 4) == NULL, "the gap");
	ok(mmio_bus_find(&b, 0xcfffffff, 1) == NULL, "below every range");
	ok(mmio_bus_find(&b, 0xd0003800, 8)->opaque == &d, "inside the last range");
	ok(mmio_bus_find(&b, 0xd0004000, 1) == NULL, "above every range");

	is_int(add(&b, 0xd0000800, 0x1000, &a), -EEXIST,
	       "overlap with the start of a range refused");
	is_int(add(&b, 0xd0002800, 0x1000, &a), -EEXIST, "overlap with the next range refused");
	is_int(add(&b, 0xd0001000, 0x10, &a), -EEXIST, "same base refused");
	is_int(add(&b, 0xd0005000, 0, &a), -EINVAL, "empty range refused");
	is_int(add(&b, 0xfffffffffffff000ULL, 0x2000, &a), -EINVAL, "wrapping range refused");
	is_int(add(&b, 0xd0002000, 0x1000, &a), 0, "exactly filling the gap is fine");
	is_int(b.n, 4, "four ranges");
	mmio_bus_free(&b);
	return tap_done();
}
