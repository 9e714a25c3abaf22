/* The CPUID table each vCPU gets, derived from what KVM supports on this host (cpuid.h). */
#include "vm/cpuid.h"
#include "util/util.h"

#include <string.h>

/* Leaf 1 */
#define L1_ECX_VMX	    (1U << 5)
#define L1_ECX_TSC_DEADLINE (1U << 24)
#define L1_ECX_HYPERVISOR   (1U << 31)
#define L1_EDX_HTT	    (1U << 28)
/* Leaf 0x80000001 */
#define E1_ECX_SVM (1U << 2)

/* Leaf 0xB / 0x1F level types */
#define TOPO_LEVEL_SMT	1
#define TOPO_LEVEL_CORE 2

#define VENDOR_INTEL_EBX 0x756e6547 /* "Genu" */
#define VENDOR_AMD_EBX	 0x68747541 /* "Auth" */
#define VENDOR_HYGON_EBX 0x6f677948 /* "Hygo" */

struct kvm_cpuid2 *cpuid_alloc(unsigned capacity)
{
	struct kvm_cpuid2 *c = xzalloc(sizeof(*c) + capacity * sizeof(struct kvm_cpuid_entry2));
	c->nent = capacity;
	return c;
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != function)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
			return e;
	}
	return NULL;
}

/* Bits needed to number n items: 0 for 1, 1 for 2, 2 for 3 or 4... */
static unsigned order(unsigned n)
{
	unsigned bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

static void set_field(uint32_t *reg, unsigned shift, unsigned width, uint32_t value)
{
	uint32_t mask = (width == 32 ? ~0U : (1U << width) - 1) << shift;

	*reg = (*reg & ~mask) | ((value << shift) & mask);
}

static void fix_leaf1(struct kvm_cpuid2 *c, const struct cpuid_params *p)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);

	if (!e)
		return;
	e->ecx |= L1_ECX_HYPERVISOR;
	if (p->tsc_deadline)
		e->ecx |= L1_ECX_TSC_DEADLINE;
	if (!p->nested)
		e->ecx &= ~L1_ECX_VMX;
	set_field(&e->ebx, 24, 8, p->cpu_index);	  /* initial APIC id */
	set_field(&e->ebx, 16, 8, 1U << order(p->ncpus)); /* logical CPUs per package */
	set_field(&e->ebx, 8, 8, 8);			  /* CLFLUSH line: 8 * 8 bytes */
	if (p->ncpus > 1)
		e->edx |= L1_EDX_HTT;
	else
		e->edx &= ~L1_EDX_HTT;
}

/* Intel deterministic cache parameters: every core is its own thread; only the last
 * level cache is shared by the package. */
static void fix_cache_leaf(struct kvm_cpuid2 *c, uint32_t function, bool cores_field,
			   const struct cpuid_params *p)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		unsigned level = (e->eax >> 5) & 7;
		if (e->function != function || (e->eax & 0x1f) == 0)
			continue;
		set_field(&e->eax, 14, 12, level >= 3 ? p->ncpus - 1 : 0);
		if (cores_field)
			set_field(&e->eax, 26, 6, p->ncpus - 1);
	}
}

static void remove_leaf(struct kvm_cpuid2 *c, uint32_t function)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function != function)
			c->entries[n++] = c->entries[i];
	c->nent = n;
}

static void add_entry(struct kvm_cpuid2 *c, uint32_t function, uint32_t index, uint32_t eax,
		      uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	c->entries[c->nent++] = (struct kvm_cpuid_entry2){
		.function = function,
		.index = index,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.eax = eax,
		.ebx = ebx,
		.ecx = ecx,
		.edx = edx,
	};
}

/* x2APIC topology (leaf 0xB, and 0x1F when present): an SMT level of one thread, a core
 * level of ncpus, then the terminating invalid level. */
static void set_topology_leaf(struct kvm_cpuid2 *c, uint32_t function, const struct cpuid_params *p)
{
	if (!cpuid_find(c, function, 0))
		return;
	remove_leaf(c, function);
	add_entry(c, function, 0, 0, 1, (TOPO_LEVEL_SMT << 8) | 0, p->cpu_index);
	add_entry(c, function, 1, order(p->ncpus), p->ncpus, (TOPO_LEVEL_CORE << 8) | 1,
		  p->cpu_index);
	add_entry(c, function, 2, 0, 0, 2, p->cpu_index);
}

static void zero_leaf(struct kvm_cpuid2 *c, uint32_t function)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, function, 0);

	if (e)
		e->eax = e->ebx = e->ecx = e->edx = 0;
}

static void fix_amd(struct kvm_cpuid2 *c, const struct cpuid_params *p)
{
	struct kvm_cpuid_entry2 *e;

	e = cpuid_find(c, 0x80000008, 0);
	if (e) {
		set_field(&e->ecx, 0, 8, p->ncpus - 1);	    /* NC: cores - 1 */
		set_field(&e->ecx, 12, 4, order(p->ncpus)); /* APIC id bits for the core */
	}
	e = cpuid_find(c, 0x8000001e, 0);
	if (e) {
		e->eax = p->cpu_index;	      /* extended APIC id */
		e->ebx = p->cpu_index & 0xff; /* core id; one thread per core */
		e->ecx = 0;		      /* node 0, one node per package */
	}
	fix_cache_leaf(c, 0x8000001d, false, p);
}

void cpuid_normalize(const struct kvm_cpuid2 *host, struct kvm_cpuid2 *out,
		     const struct cpuid_params *p)
{
	struct kvm_cpuid_entry2 *vendor, *ext;

	out->nent = host->nent;
	out->padding = 0;
	memcpy(out->entries, host->entries, host->nent * sizeof(host->entries[0]));

	fix_leaf1(out, p);
	zero_leaf(out, 0xa); /* no architectural PMU */
	set_topology_leaf(out, 0xb, p);
	set_topology_leaf(out, 0x1f, p);
	ext = cpuid_find(out, 0x80000001, 0);
	if (ext && !p->nested)
		ext->ecx &= ~E1_ECX_SVM;

	vendor = cpuid_find(out, 0, 0);
	if (!vendor)
		return;
	if (vendor->ebx == VENDOR_INTEL_EBX)
		fix_cache_leaf(out, 4, true, p);
	else if (vendor->ebx == VENDOR_AMD_EBX || vendor->ebx == VENDOR_HYGON_EBX)
		fix_amd(out, p);
}
