/* The MMIO bus: guest-physical ranges and their handlers, found by bisection (mmio_bus.h). */
#include "vm/mmio_bus.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

/* Index of the first range whose base is above addr. */
static size_t upper_bound(const struct mmio_bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->range[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int mmio_bus_add(struct mmio_bus *bus, uint64_t base, uint64_t len, const struct mmio_ops *ops,
		 void *opaque, krun_error_t *err)
{
	size_t i = upper_bound(bus, base);

	if (len == 0 || base + len - 1 < base)
		return krun_make_error(err, EINVAL, "MMIO range at 0x%llx: bad length 0x%llx",
				       (unsigned long long)base, (unsigned long long)len);
	/* Disjoint from the range before it and the one after it. */
	if ((i > 0 && bus->range[i - 1].base + bus->range[i - 1].len > base) ||
	    (i < bus->n && bus->range[i].base - base < len))
		return krun_make_error(err, EEXIST, "MMIO range at 0x%llx overlaps another",
				       (unsigned long long)base);
	bus->range = xrealloc(bus->range, (bus->n + 1) * sizeof(bus->range[0]));
	memmove(&bus->range[i + 1], &bus->range[i], (bus->n - i) * sizeof(bus->range[0]));
	bus->range[i] = (struct mmio_range){ base, len, ops, opaque };
	bus->n++;
	return 0;
}

const struct mmio_range *mmio_bus_find(const struct mmio_bus *bus, uint64_t addr, unsigned len)
{
	size_t i = upper_bound(bus, addr);
	const struct mmio_range *r;

	if (i == 0)
		return NULL;
	r = &bus->range[i - 1];
	if (addr - r->base >= r->len || len > r->len - (addr - r->base))
		return NULL;
	return r;
}

void mmio_bus_free(struct mmio_bus *bus)
{
	free(bus->range);
	bus->range = NULL;
	bus->n = 0;
}
