/* Layout: the 16-byte floating pointer, then the configuration table header and its
 * entries (processors, bus, IOAPIC, I/O interrupts, local interrupts), as in the MP spec. */
#include "vm/mptable.h"

#include <errno.h>
#include <string.h>

#define MP_SPEC_REV 4 /* 1.4 */

enum mp_entry_type { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_IOINTR, MP_LINTR };
enum mp_irq_type { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define MP_CPU_ENABLED	 0x1
#define MP_CPU_BSP	 0x2
#define MP_IOAPIC_USABLE 0x1
#define LAPIC_VERSION	 0x14
#define IOAPIC_VERSION	 0x11  /* what KVM's in-kernel IOAPIC reports */
#define CPU_SIGNATURE	 0x600 /* family 6; Linux only prints it */
#define CPU_FEATURES	 0x201 /* FPU, APIC */
#define ALL_LAPICS	 0xff

struct mp_floating {
	char signature[4];
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mp_header {
	char signature[4];
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t count;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type, apic_id, apic_version, flags;
	uint32_t signature, features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type, bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type, apic_id, apic_version, flags;
	uint32_t addr;
} __attribute__((packed));

/* Both interrupt entry types share this layout; dst_apic is an IOAPIC or a local APIC. */
struct mp_intr {
	uint8_t type, irq_type;
	uint16_t flags; /* 0: polarity and trigger conform to the bus (ISA: edge, high) */
	uint8_t src_bus, src_irq, dst_apic, dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mp_header) == 44, "MP header is 44 bytes");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry is 20 bytes");

static size_t entries_size(unsigned ncpus)
{
	return ncpus * sizeof(struct mp_processor) + sizeof(struct mp_bus) +
	       sizeof(struct mp_ioapic) + (MPTABLE_ISA_IRQS + 2) * sizeof(struct mp_intr);
}

size_t mptable_size(unsigned ncpus)
{
	return sizeof(struct mp_floating) + sizeof(struct mp_header) + entries_size(ncpus);
}

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

/* Appends entries to the table, counting them. */
struct writer {
	uint8_t *p;
	unsigned count;
};

static void put(struct writer *w, const void *entry, size_t size)
{
	memcpy(w->p, entry, size);
	w->p += size;
	w->count++;
}

static void put_intr(struct writer *w, uint8_t type, uint8_t irq_type, uint8_t src_irq,
		     uint8_t dst_apic, uint8_t dst_pin)
{
	struct mp_intr e = { .type = type,
			     .irq_type = irq_type,
			     .src_irq = src_irq,
			     .dst_apic = dst_apic,
			     .dst_pin = dst_pin };
	put(w, &e, sizeof(e));
}

/* Writes the entries at p; returns how many. The IOAPIC takes the first id after the CPUs. */
static unsigned write_entries(uint8_t *p, unsigned ncpus)
{
	const uint8_t ioapic_id = ncpus;
	struct writer w = { p, 0 };
	struct mp_bus bus = { .type = MP_BUS, .bus_type = "ISA   " };
	struct mp_ioapic ioapic = { .type = MP_IOAPIC,
				    .apic_id = ioapic_id,
				    .apic_version = IOAPIC_VERSION,
				    .flags = MP_IOAPIC_USABLE,
				    .addr = GUEST_IOAPIC_ADDR };

	for (unsigned i = 0; i < ncpus; i++) {
		struct mp_processor cpu = { .type = MP_PROCESSOR,
					    .apic_id = i,
					    .apic_version = LAPIC_VERSION,
					    .flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
					    .signature = CPU_SIGNATURE,
					    .features = CPU_FEATURES };
		put(&w, &cpu, sizeof(cpu));
	}
	put(&w, &bus, sizeof(bus));
	put(&w, &ioapic, sizeof(ioapic));
	/* ISA IRQ i arrives on IOAPIC pin i: KVM's default GSI routing. */
	for (unsigned irq = 0; irq < MPTABLE_ISA_IRQS; irq++)
		put_intr(&w, MP_IOINTR, MP_INT, irq, ioapic_id, irq);
	/* Virtual wire: the PIC on the BSP's LINT0, NMI on every CPU's LINT1. */
	put_intr(&w, MP_LINTR, MP_EXTINT, 0, 0, 0);
	put_intr(&w, MP_LINTR, MP_NMI, 0, ALL_LAPICS, 1);
	return w.count;
}

void mptable_build(uint8_t *buf, uint32_t gpa, unsigned ncpus)
{
	struct mp_floating *mpf = (struct mp_floating *)buf;
	struct mp_header *hdr = (struct mp_header *)(buf + sizeof(*mpf));
	unsigned count = write_entries((uint8_t *)(hdr + 1), ncpus);

	memcpy(hdr->signature, "PCMP", 4);
	hdr->length = sizeof(*hdr) + entries_size(ncpus);
	hdr->spec_rev = MP_SPEC_REV;
	memcpy(hdr->oem, "KRUN    ", 8);
	memcpy(hdr->product, "MICROVM     ", 12);
	hdr->count = count;
	hdr->lapic = GUEST_LAPIC_ADDR;
	hdr->checksum = checksum(hdr, hdr->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = gpa + sizeof(*mpf);
	mpf->length = 1;
	mpf->spec_rev = MP_SPEC_REV;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
}

int mptable_write(struct guest_mem *m, uint64_t gpa, unsigned ncpus, krun_error_t *err)
{
	size_t size = mptable_size(ncpus);
	uint8_t *p = guest_mem_ptr(m, gpa, size);

	if (ncpus == 0 || ncpus > VM_MAX_CPUS)
		return krun_make_error(err, EINVAL, "MP table: %u CPUs (1 to %d supported)", ncpus,
				       VM_MAX_CPUS);
	if (!p || gpa > UINT32_MAX)
		return krun_make_error(err, EINVAL, "MP table at 0x%llx is outside guest RAM",
				       (unsigned long long)gpa);
	memset(p, 0, size);
	mptable_build(p, (uint32_t)gpa, ncpus);
	return 0;
}
