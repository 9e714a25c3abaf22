/* Guest-physical MMIO ranges and their handlers: a sorted array searched by bisection.
 * Ranges are only added before the vCPUs start, so lookups need no lock. */
#ifndef KRUN_VM_MMIO_BUS_H
#define KRUN_VM_MMIO_BUS_H

#include <stddef.h>
#include <stdint.h>
#include "vm/bus.h"

struct mmio_range {
	uint64_t base, len;
	const struct mmio_ops *ops;
	void *opaque;
};

struct mmio_bus {
	struct mmio_range *range;
	size_t n;
};

int mmio_bus_add(struct mmio_bus *bus, uint64_t base, uint64_t len, const struct mmio_ops *ops,
		 void *opaque, krun_error_t *err);
/* The range that holds all of [addr, addr + len), or NULL. */
const struct mmio_range *mmio_bus_find(const struct mmio_bus *bus, uint64_t addr, unsigned len);
void mmio_bus_free(struct mmio_bus *bus);

#endif
