/* The guest's physical address space, defined once: everything the VMM puts at a
 * guest-physical address is named here (as kvmtool's x86 kvm-arch.h does). From the bottom:
 * the boot structures below 1 MiB, RAM up to the MMIO hole, the hole with the virtio-mmio
 * windows and the interrupt controllers, the rest of RAM from 4 GiB, and the regions
 * reserved above the largest RAM for the GPU and virtio-fs DAX. */
#ifndef KRUN_VM_LAYOUT_H
#define KRUN_VM_LAYOUT_H

#include "vm/limits.h"

/* Below 1 MiB, in RAM: what boot.c writes for the kernel's entry in long mode. */
#define BOOT_GDT_ADDR	 0x500ULL
#define BOOT_IDT_ADDR	 0x520ULL
#define BOOT_ZERO_PAGE	 0x7000ULL
#define BOOT_STACK_TOP	 0x8ff0ULL
#define BOOT_PML4_ADDR	 0x9000ULL
#define BOOT_PDPT_ADDR	 0xa000ULL
#define BOOT_PD_ADDR	 0xb000ULL /* one page directory of 2 MiB pages: the first GiB */
#define BOOT_CMDLINE	 0x20000ULL
#define BOOT_MPTABLE	 0x9fc00ULL /* the last KiB of base memory, where Linux looks */
#define BOOT_LOW_RAM_END BOOT_MPTABLE
/* RAM again after the legacy hole [640 KiB, 1 MiB): the kernel's segments start here. */
#define BOOT_HIMEM_START 0x100000ULL

/* RAM runs from 0 to the hole; what does not fit below it continues at 4 GiB, up to
 * GUEST_RAM_MAX_END for the largest RAM. */
#define GUEST_MMIO_HOLE_START 0xd0000000ULL
#define GUEST_MMIO_HOLE_END   0x100000000ULL
#define GUEST_HIGH_RAM_START  GUEST_MMIO_HOLE_END
#define GUEST_RAM_MAX_END                                                                          \
	(GUEST_HIGH_RAM_START + ((unsigned long long)VM_MAX_RAM_MIB << 20) - GUEST_MMIO_HOLE_START)

/* In the hole: one 4 KiB virtio-mmio window per device from its start, each with its own
 * ISA interrupt line from 5 to 15 (the lines below are the PC's: PIT, keyboard, cascade,
 * serial ports). */
#define GUEST_VIRTIO_MMIO_BASE	      GUEST_MMIO_HOLE_START
#define GUEST_VIRTIO_MMIO_SIZE	      0x1000ULL
#define GUEST_VIRTIO_MMIO_FIRST_IRQ   5
#define GUEST_VIRTIO_MMIO_LAST_IRQ    15
#define GUEST_VIRTIO_MMIO_MAX_DEVICES (GUEST_VIRTIO_MMIO_LAST_IRQ - GUEST_VIRTIO_MMIO_FIRST_IRQ + 1)
/* The interrupt controllers KVM emulates, where the MP table says they are. */
#define GUEST_IOAPIC_ADDR 0xfec00000ULL
#define GUEST_LAPIC_ADDR  0xfee00000ULL
/* Three pages KVM needs for the real-mode TSS (Intel), below the BIOS area. */
#define GUEST_KVM_TSS_ADDR 0xfffbd000ULL

/* Above the largest RAM, not mapped yet: reserved for virtio-gpu's host-visible memory
 * (blob resources) and the virtio-fs DAX window, so that nothing else moves in. All of it
 * stays below 256 GiB, within the 39 physical address bits of small x86-64 CPUs. */
#define GUEST_GPU_SHM_START (128ULL << 30)
#define GUEST_GPU_SHM_SIZE  (64ULL << 30)
#define GUEST_DAX_START	    (GUEST_GPU_SHM_START + GUEST_GPU_SHM_SIZE)
#define GUEST_DAX_SIZE	    (64ULL << 30)

_Static_assert(GUEST_VIRTIO_MMIO_BASE + GUEST_VIRTIO_MMIO_MAX_DEVICES * GUEST_VIRTIO_MMIO_SIZE <=
		   GUEST_IOAPIC_ADDR,
	       "the virtio-mmio windows stay below the IOAPIC");
_Static_assert(GUEST_RAM_MAX_END <= GUEST_GPU_SHM_START,
	       "the largest RAM ends below the reserved regions");

#endif
