/* Guest RAM: its layout around the MMIO hole, its mapping and its KVM memory slots. */
#include "vm/memory.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

void guest_mem_layout(struct guest_mem *m, uint64_t ram_size)
{
	memset(m, 0, sizeof(*m));
	m->ram_size = ram_size;
	m->nregions = 1;
	m->region[0].gpa = 0;
	m->region[0].size = ram_size;
	if (ram_size <= GUEST_MMIO_HOLE_START)
		return;
	/* What does not fit below the hole continues at 4 GiB. */
	m->region[0].size = GUEST_MMIO_HOLE_START;
	m->region[1].gpa = GUEST_HIGH_RAM_START;
	m->region[1].size = ram_size - GUEST_MMIO_HOLE_START;
	m->nregions = 2;
}

int guest_mem_map(struct guest_mem *m, uint64_t ram_size, krun_error_t *err)
{
	uint8_t *base;

	guest_mem_layout(m, ram_size);
	/* Private and unreserved: pages appear when the guest first touches them. */
	base = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		m->nregions = 0;
		return krun_make_error(err, errno, "map %llu MiB of guest RAM",
				       (unsigned long long)(ram_size >> 20));
	}
	m->region[0].hva = base;
	if (m->nregions == 2)
		m->region[1].hva = base + m->region[0].size;
	return 0;
}

void guest_mem_unmap(struct guest_mem *m)
{
	if (m->nregions > 0 && m->region[0].hva)
		munmap(m->region[0].hva, m->ram_size);
	m->nregions = 0;
}

int guest_mem_register(const struct guest_mem *m, int vm_fd, krun_error_t *err)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = m->region[i].gpa,
			.memory_size = m->region[i].size,
			.userspace_addr = (uintptr_t)m->region[i].hva,
		};
		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return krun_make_error(err, errno, "KVM_SET_USER_MEMORY_REGION slot %u", i);
	}
	return 0;
}
