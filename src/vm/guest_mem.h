/* Guest physical memory as seen by the VMM: at most two RAM regions (below the MMIO
 * hole and above 4 GiB, layout.h). Every address the guest hands us goes through
 * guest_mem_ptr, which refuses ranges that are not wholly inside one region. */
#ifndef KRUN_VM_GUEST_MEM_H
#define KRUN_VM_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include "vm/layout.h"

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct guest_mem_region region[2];
	unsigned nregions;
	uint64_t ram_size; /* requested RAM in bytes, the sum of the region sizes */
};

/* Host pointer for [gpa, gpa + len), or NULL if any byte of it is outside guest RAM
 * (including arithmetic overflow). len 0 is valid for any gpa inside RAM. */
static inline void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct guest_mem_region *r = &m->region[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return (void *)0;
}

#endif
