/* CPUID normalisation on fixed Intel and AMD host tables. */
#include "tap.h"
#include "vm/cpuid.h"

#include <stdlib.h>

#define IDX KVM_CPUID_FLAG_SIGNIFCANT_INDEX

static struct kvm_cpuid2 *table(const struct kvm_cpuid_entry2 *e, unsigned n)
{
	struct kvm_cpuid2 *c = cpuid_alloc(n);

	memcpy(c->entries, e, n * sizeof(*e));
	return c;
}

static const struct kvm_cpuid_entry2 intel[] = {
	{ .function = 0, .eax = 0x1f, .ebx = 0x756e6547, .edx = 0x49656e69, .ecx = 0x6c65746e },
	{ .function = 1, .eax = 0x50654, .ebx = 0x00100800, .ecx = (1 << 5) | 1, .edx = 1 << 28 },
	/* L1d, L1i, L2 (shared by 2 threads on the host), L3 (64), then the end */
	{ .function = 4, .index = 0, .flags = IDX, .eax = 0x7c004121 },
	{ .function = 4, .index = 1, .flags = IDX, .eax = 0x7c004122 },
	{ .function = 4, .index = 2, .flags = IDX, .eax = 0x7c004143 },
	{ .function = 4, .index = 3, .flags = IDX, .eax = 0x7c0fc163 },
	{ .function = 4, .index = 4, .flags = IDX, .eax = 0 },
	{ .function = 0xa, .eax = 0x07300404, .ebx = 0, .edx = 0x603 },
	{ .function = 0xb, .index = 0, .flags = IDX, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 7 },
	{ .function = 0xb, .index = 1, .flags = IDX, .eax = 6, .ebx = 40, .ecx = 0x201, .edx = 7 },
	{ .function = 0xb, .index = 2, .flags = IDX, .eax = 0, .ebx = 0, .ecx = 2, .edx = 7 },
	{ .function = 0x80000001, .ecx = 0x121 },
};

static const struct kvm_cpuid_entry2 amd[] = {
	{ .function = 0, .eax = 0x10, .ebx = 0x68747541, .edx = 0x69746e65, .ecx = 0x444d4163 },
	{ .function = 1, .eax = 0x800f12, .ebx = 0x00400800, .ecx = 1 },
	{ .function = 0x80000001, .ecx = (1 << 2) | (1 << 22) },
	{ .function = 0x80000008, .eax = 0x3030, .ecx = 0x0001703f },
	{ .function = 0x8000001d, .index = 0, .flags = IDX, .eax = 0x4121 },
	{ .function = 0x8000001d, .index = 1, .flags = IDX, .eax = 0x3c163 },
	{ .function = 0x8000001e, .eax = 0x10, .ebx = 0x108, .ecx = 0x300 },
};

static void test_intel(void)
{
	struct kvm_cpuid2 *host = table(intel, sizeof(intel) / sizeof(intel[0]));
	struct kvm_cpuid2 *out = cpuid_alloc(host->nent + CPUID_EXTRA_ENTRIES);
	struct cpuid_params p = { .cpu_index = 2, .ncpus = 3, .tsc_deadline = true };
	struct kvm_cpuid_entry2 *e;

	cpuid_normalize(host, out, &p);
	e = cpuid_find(out, 1, 0);
	is_int(e->ebx >> 24, 2, "Intel leaf 1: initial APIC id = vCPU index");
	is_int((e->ebx >> 16) & 0xff, 4, "leaf 1: logical count rounded up to a power of two");
	is_int((e->ebx >> 8) & 0xff, 8, "leaf 1: CLFLUSH line of 64 bytes");
	ok(e->ecx & (1U << 31), "leaf 1: hypervisor bit");
	ok(e->ecx & (1U << 24), "leaf 1: TSC deadline when KVM emulates it");
	ok(!(e->ecx & (1U << 5)), "leaf 1: no VMX without nested virtualisation");
	ok(e->edx & (1U << 28), "leaf 1: HTT with several vCPUs");
	is_int(e->eax, 0x50654, "leaf 1: signature untouched");

	is_int((cpuid_find(out, 4, 0)->eax >> 14) & 0xfff, 0, "leaf 4: L1 not shared");
	is_int((cpuid_find(out, 4, 2)->eax >> 14) & 0xfff, 0, "leaf 4: L2 not shared");
	is_int((cpuid_find(out, 4, 3)->eax >> 14) & 0xfff, 2, "leaf 4: L3 shared by all vCPUs");
	is_int(cpuid_find(out, 4, 3)->eax >> 26, 2, "leaf 4: cores per package - 1");
	is_int(cpuid_find(out, 4, 3)->eax & 0x3fff, 0x163, "leaf 4: cache type and level kept");

	e = cpuid_find(out, 0xa, 0);
	ok(e->eax == 0 && e->ebx == 0 && e->ecx == 0 && e->edx == 0, "leaf 0xA (PMU) zeroed");

	e = cpuid_find(out, 0xb, 0);
	ok(e->eax == 0 && e->ebx == 1 && e->ecx == 0x100 && e->edx == 2,
	   "leaf 0xB.0: one thread per core, x2APIC id");
	e = cpuid_find(out, 0xb, 1);
	ok(e->eax == 2 && e->ebx == 3 && e->ecx == 0x201 && e->edx == 2,
	   "leaf 0xB.1: 3 cores, 2 id bits");
	e = cpuid_find(out, 0xb, 2);
	ok(e->ecx == 2 && e->ebx == 0 && e->edx == 2, "leaf 0xB.2: terminating level");
	ok(!cpuid_find(out, 0x1f, 0), "leaf 0x1F not invented");
	is_int(out->nent, host->nent, "same number of entries");

	p.nested = true;
	p.ncpus = 1;
	p.cpu_index = 0;
	cpuid_normalize(host, out, &p);
	e = cpuid_find(out, 1, 0);
	ok(e->ecx & (1U << 5), "nested: the host's VMX bit is kept");
	ok(!(e->edx & (1U << 28)), "one vCPU: no HTT");
	is_int((cpuid_find(out, 4, 3)->eax >> 14) & 0xfff, 0, "one vCPU: L3 not shared");
	free(host);
	free(out);
}

static void test_amd(void)
{
	struct kvm_cpuid2 *host = table(amd, sizeof(amd) / sizeof(amd[0]));
	struct kvm_cpuid2 *out = cpuid_alloc(host->nent + CPUID_EXTRA_ENTRIES);
	struct cpuid_params p = { .cpu_index = 5, .ncpus = 8 };
	struct kvm_cpuid_entry2 *e;

	cpuid_normalize(host, out, &p);
	e = cpuid_find(out, 1, 0);
	is_int(e->ebx >> 24, 5, "AMD leaf 1: initial APIC id");
	ok(!(e->ecx & (1U << 24)), "no TSC deadline unless KVM emulates it");
	ok(!(cpuid_find(out, 0x80000001, 0)->ecx & (1 << 2)), "no SVM without nested");
	ok(cpuid_find(out, 0x80000001, 0)->ecx & (1 << 22), "TOPOEXT kept");
	e = cpuid_find(out, 0x80000008, 0);
	ok((e->ecx & 0xff) == 7 && ((e->ecx >> 12) & 0xf) == 3 && (e->ecx >> 16) == 1,
	   "0x80000008: 8 cores, 3 APIC id bits, other fields kept");
	e = cpuid_find(out, 0x8000001e, 0);
	ok(e->eax == 5 && e->ebx == 5 && e->ecx == 0,
	   "0x8000001E: extended APIC id, core id, one thread per core, node 0");
	is_int((cpuid_find(out, 0x8000001d, 0)->eax >> 14) & 0xfff, 0, "0x8000001D: L1 private");
	is_int((cpuid_find(out, 0x8000001d, 1)->eax >> 14) & 0xfff, 7, "0x8000001D: L3 shared");
	ok(!cpuid_find(out, 0xb, 0), "no leaf 0xB where the host has none");

	p.nested = true;
	cpuid_normalize(host, out, &p);
	ok(cpuid_find(out, 0x80000001, 0)->ecx & (1 << 2), "nested: SVM kept");
	free(host);
	free(out);
}

int main(void)
{
	test_intel();
	test_amd();
	return tap_done();
}
