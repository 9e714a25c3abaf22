/* A vCPU's registers before it first runs: CPUID, MSRs, LAPIC, and the boot vCPU's long-mode
 * state at the kernel's entry (cpu.h). */
#include "vm/cpu.h"
#include "vm/boot.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MISC_ENABLE_FAST_STRING 0x1
#define MTRR_ENABLE_WRITEBACK	0x806 /* MTRRs enabled, default type write-back */

#define CR0_PE	 (1ULL << 0)
#define CR0_MP	 (1ULL << 1)
#define CR0_ET	 (1ULL << 4)
#define CR0_NE	 (1ULL << 5)
#define CR0_WP	 (1ULL << 16)
#define CR0_AM	 (1ULL << 18)
#define CR0_PG	 (1ULL << 31)
#define CR4_PAE	 (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define APIC_LVT0	 0x350
#define APIC_LVT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

#define FPU_DEFAULT_FCW	  0x37f
#define FPU_DEFAULT_MXCSR 0x1f80

static int set_msrs(int fd, unsigned index, krun_error_t *err)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[2];
	} msrs = {
		.hdr.nmsrs = 2,
		.e = { { .index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING },
		       { .index = MSR_MTRR_DEF_TYPE, .data = MTRR_ENABLE_WRITEBACK } },
	};
	int n = ioctl(fd, KVM_SET_MSRS, &msrs);

	if (n < 0)
		return krun_make_error(err, errno, "vCPU %u: KVM_SET_MSRS", index);
	if (n != 2)
		return krun_make_error(err, EINVAL, "vCPU %u: KVM refused MSR 0x%x", index,
				       msrs.e[n].index);
	return 0;
}

static void set_lvt_mode(struct kvm_lapic_state *lapic, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &lapic->regs[reg], sizeof(v));
	v = (v & ~0x700U) | (mode << 8);
	memcpy(&lapic->regs[reg], &v, sizeof(v));
}

static int set_lapic(int fd, unsigned index, krun_error_t *err)
{
	struct kvm_lapic_state lapic;

	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return krun_make_error(err, errno, "vCPU %u: KVM_GET_LAPIC", index);
	set_lvt_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	set_lvt_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(fd, KVM_SET_LAPIC, &lapic) < 0)
		return krun_make_error(err, errno, "vCPU %u: KVM_SET_LAPIC", index);
	return 0;
}

int cpu_configure(int vcpu_fd, unsigned index, struct kvm_cpuid2 *cpuid, krun_error_t *err)
{
	int ret;

	if (ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
		return krun_make_error(err, errno, "vCPU %u: KVM_SET_CPUID2", index);
	ret = set_msrs(vcpu_fd, index, err);
	if (ret < 0)
		return ret;
	return set_lapic(vcpu_fd, index, err);
}

/* The hidden part of a segment register, decoded from the GDT descriptor we wrote. */
static struct kvm_segment segment(uint64_t desc, uint16_t selector)
{
	uint32_t limit = (uint32_t)((desc & 0xffff) | ((desc >> 32) & 0xf0000));
	bool granular = (desc >> 55) & 1;

	return (struct kvm_segment){
		.base = 0,
		.limit = granular ? (limit << 12) | 0xfff : limit,
		.selector = selector,
		.type = (desc >> 40) & 0xf,
		.s = (desc >> 44) & 1,
		.dpl = (desc >> 45) & 3,
		.present = (desc >> 47) & 1,
		.avl = (desc >> 52) & 1,
		.l = (desc >> 53) & 1,
		.db = (desc >> 54) & 1,
		.g = granular,
	};
}

static int set_long_mode(int fd, krun_error_t *err)
{
	struct kvm_sregs sregs;
	struct kvm_segment data = segment(BOOT_DESC_DATA, BOOT_SEL_DATA);

	/* Read first: the rest (APIC base, pending interrupts) keeps KVM's reset values. */
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return krun_make_error(err, errno, "KVM_GET_SREGS");
	sregs.cs = segment(BOOT_DESC_CODE, BOOT_SEL_CODE);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = segment(BOOT_DESC_TSS, BOOT_SEL_TSS);
	sregs.gdt.base = BOOT_GDT_ADDR;
	sregs.gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	sregs.idt.base = BOOT_IDT_ADDR;
	sregs.idt.limit = 7;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	sregs.cr3 = BOOT_PML4_ADDR;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return krun_make_error(err, errno, "KVM_SET_SREGS");
	return 0;
}

int cpu_set_boot_state(int vcpu_fd, uint64_t entry, krun_error_t *err)
{
	struct kvm_regs regs = {
		.rflags = 0x2, /* bit 1 is always set */
		.rip = entry,
		.rsp = BOOT_STACK_TOP,
		.rbp = BOOT_STACK_TOP,
		.rsi = BOOT_ZERO_PAGE,
	};
	struct kvm_fpu fpu = { .fcw = FPU_DEFAULT_FCW, .mxcsr = FPU_DEFAULT_MXCSR };
	int ret = set_long_mode(vcpu_fd, err);

	if (ret < 0)
		return ret;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return krun_make_error(err, errno, "KVM_SET_REGS");
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return krun_make_error(err, errno, "KVM_SET_FPU");
	return 0;
}
