/* Loads the guest kernel's vmlinux ELF into guest RAM, mapped when nobody can truncate it,
 * copied otherwise (loader.h). */
#include "vm/loader.h"
#include "util/util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_SIZE    4096ULL
#define PAGE_DOWN(x) ((x) & ~(PAGE_SIZE - 1))
#define PAGE_UP(x)   PAGE_DOWN((x) + PAGE_SIZE - 1)
#define MAX_SEGMENTS 32
#define MAX_PHDRS    64

struct segment {
	uint64_t offset, gpa, filesz, memsz;
};

struct elf_file {
	const char *path;
	int fd;
	uint64_t size;
	uint64_t entry;
	struct segment seg[MAX_SEGMENTS];
	unsigned nseg;
};

static int check_ehdr(const struct elf_file *f, const Elf64_Ehdr *eh, krun_error_t *err)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return krun_make_error(err, ENOEXEC, "kernel `%s`: not an ELF file", f->path);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return krun_make_error(err, ENOEXEC, "kernel `%s`: not a 64-bit little-endian ELF",
				       f->path);
	if (eh->e_machine != EM_X86_64)
		return krun_make_error(err, ENOEXEC, "kernel `%s`: ELF machine %u is not x86_64",
				       f->path, eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return krun_make_error(err, ENOEXEC,
				       "kernel `%s`: ELF type %u is not an executable", f->path,
				       eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS)
		return krun_make_error(err, ENOEXEC, "kernel `%s`: bad program header table",
				       f->path);
	/* e_phnum is at most MAX_PHDRS, so only the offset can overflow. */
	if (eh->e_phoff > f->size || f->size - eh->e_phoff < eh->e_phnum * sizeof(Elf64_Phdr))
		return krun_make_error(err, ENOEXEC,
				       "kernel `%s`: program headers beyond the end of the file",
				       f->path);
	return 0;
}

static int read_exact(const struct elf_file *f, void *buf, size_t len, uint64_t off,
		      krun_error_t *err)
{
	ssize_t n = pread(f->fd, buf, len, (off_t)off);

	if (n < 0)
		return krun_make_error(err, errno, "read kernel `%s`", f->path);
	if ((size_t)n != len)
		return krun_make_error(err, ENOEXEC, "kernel `%s`: truncated", f->path);
	return 0;
}

static int add_segment(struct elf_file *f, const Elf64_Phdr *ph, const struct guest_mem *m,
		       krun_error_t *err)
{
	if (ph->p_filesz > ph->p_memsz)
		return krun_make_error(err, ENOEXEC,
				       "kernel `%s`: segment file size exceeds its "
				       "memory size",
				       f->path);
	if (ph->p_offset > f->size || f->size - ph->p_offset < ph->p_filesz)
		return krun_make_error(err, ENOEXEC,
				       "kernel `%s`: segment beyond the end of the file", f->path);
	/* guest_mem_ptr also rejects a range whose end overflows. */
	if (ph->p_paddr < KERNEL_MIN_ADDR || !guest_mem_ptr(m, ph->p_paddr, ph->p_memsz))
		return krun_make_error(err, ENOEXEC,
				       "kernel `%s`: segment at 0x%llx (0x%llx bytes) "
				       "is outside guest RAM (%llu MiB)",
				       f->path, (unsigned long long)ph->p_paddr,
				       (unsigned long long)ph->p_memsz,
				       (unsigned long long)(m->ram_size >> 20));
	if (f->nseg == MAX_SEGMENTS)
		return krun_make_error(err, ENOEXEC, "kernel `%s`: too many segments", f->path);
	f->seg[f->nseg++] =
	    (struct segment){ ph->p_offset, ph->p_paddr, ph->p_filesz, ph->p_memsz };
	return 0;
}

static int cmp_segment(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Sorts the segments by address and checks that they are disjoint and hold the entry. */
static int check_layout(struct elf_file *f, krun_error_t *err)
{
	bool entry_found = false;

	if (f->nseg == 0)
		return krun_make_error(err, ENOEXEC, "kernel `%s`: no loadable segment", f->path);
	qsort(f->seg, f->nseg, sizeof(f->seg[0]), cmp_segment);
	for (unsigned i = 0; i < f->nseg; i++) {
		const struct segment *s = &f->seg[i];
		if (i > 0 && f->seg[i - 1].gpa + f->seg[i - 1].memsz > s->gpa)
			return krun_make_error(err, ENOEXEC, "kernel `%s`: overlapping segments",
					       f->path);
		if (f->entry >= s->gpa && f->entry - s->gpa < s->filesz)
			entry_found = true;
	}
	if (!entry_found)
		return krun_make_error(err, ENOEXEC,
				       "kernel `%s`: entry point 0x%llx is not in a "
				       "loaded segment",
				       f->path, (unsigned long long)f->entry);
	return 0;
}

static int read_elf(struct elf_file *f, const struct guest_mem *m, krun_error_t *err)
{
	Elf64_Phdr ph[MAX_PHDRS];
	Elf64_Ehdr eh;
	int ret;

	if (f->size < sizeof(eh))
		return krun_make_error(err, ENOEXEC, "kernel `%s`: truncated", f->path);
	ret = read_exact(f, &eh, sizeof(eh), 0, err);
	if (ret < 0)
		return ret;
	ret = check_ehdr(f, &eh, err);
	if (ret < 0)
		return ret;
	ret = read_exact(f, ph, eh.e_phnum * sizeof(ph[0]), eh.e_phoff, err);
	if (ret < 0)
		return ret;
	f->entry = eh.e_entry;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		ret = add_segment(f, &ph[i], m, err);
		if (ret < 0)
			return ret;
	}
	return check_layout(f, err);
}

/* Whole pages of the file can back segment i when the file offset and the address agree
 * within a page and the pages touched belong to no other segment. */
static bool can_map(const struct elf_file *f, unsigned i)
{
	const struct segment *s = &f->seg[i];

	if ((s->offset & (PAGE_SIZE - 1)) != (s->gpa & (PAGE_SIZE - 1)))
		return false;
	if (i > 0 && f->seg[i - 1].gpa + f->seg[i - 1].memsz > PAGE_DOWN(s->gpa))
		return false;
	if (i + 1 < f->nseg && f->seg[i + 1].gpa < PAGE_UP(s->gpa + s->filesz))
		return false;
	return true;
}

static int map_segment(const struct elf_file *f, struct guest_mem *m, const struct segment *s,
		       krun_error_t *err)
{
	uint64_t start = PAGE_DOWN(s->gpa), end = PAGE_UP(s->gpa + s->filesz);
	uint8_t *host = guest_mem_ptr(m, start, end - start);
	void *p;

	p = mmap(host, end - start, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, f->fd,
		 (off_t)PAGE_DOWN(s->offset));
	if (p == MAP_FAILED)
		return krun_make_error(err, errno, "map kernel `%s` segment at 0x%llx", f->path,
				       (unsigned long long)s->gpa);
	/* The partial pages around the segment must read as the zero RAM they replace. */
	memset(host, 0, s->gpa - start);
	memset(host + (s->gpa + s->filesz - start), 0, end - (s->gpa + s->filesz));
	return 0;
}

/* In pieces: one read(2) moves at most about 2 GiB. */
static int copy_segment(const struct elf_file *f, struct guest_mem *m, const struct segment *s,
			krun_error_t *err)
{
	uint8_t *host = guest_mem_ptr(m, s->gpa, s->filesz);
	uint64_t done = 0;

	while (done < s->filesz) {
		uint64_t n = s->filesz - done < (1ULL << 30) ? s->filesz - done : (1ULL << 30);
		int ret = read_exact(f, host + done, n, s->offset + done, err);

		if (ret < 0)
			return ret;
		done += n;
	}
	return 0;
}

/* The inode number the kernel gives the initial user namespace (PROC_USER_INIT_INO). */
#define INITIAL_USERNS_INO 0xeffffffdULL

/* Rootless podman runs us as uid 0 of its user namespace, where real root's installed
 * kernel shows as the overflow uid, its owner being unmapped. The namespace's own uid of
 * that number (a subuid of the same user) shows so too, but an image's kernel is never
 * mapped, so such a file is one the user named themselves. */
static bool owner_outside_userns(uid_t uid)
{
	cleanup_free char *text = NULL;
	unsigned long overflow = 65534;
	struct stat ns;

	if (geteuid() != 0 || stat("/proc/self/ns/user", &ns) < 0 ||
	    ns.st_ino == INITIAL_USERNS_INO)
		return false;
	if (read_file_at(AT_FDCWD, "/proc/sys/kernel/overflowuid", 64, &text, NULL) == 0)
		sscanf(text, "%lu", &overflow);
	return uid == (uid_t)overflow;
}

/* Whether the pages of the file may back guest RAM (loader.h says why so few may). */
static bool may_map(const struct stat *st, bool custom)
{
	if (custom || (st->st_mode & (S_IWGRP | S_IWOTH)))
		return false;
	return st->st_uid == 0 || st->st_uid == geteuid() || owner_outside_userns(st->st_uid);
}

int kernel_load(struct guest_mem *m, const char *path, bool custom, uint64_t *entry,
		krun_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct elf_file f = { .path = path, .fd = fd };
	struct stat st;
	bool mappable;
	int ret;

	if (fd < 0 || fstat(fd, &st) < 0)
		return krun_make_error(err, errno, "open kernel `%s`", path);
	if (!S_ISREG(st.st_mode))
		return krun_make_error(err, ENOEXEC, "kernel `%s`: not a regular file", path);
	f.size = (uint64_t)st.st_size;
	mappable = may_map(&st, custom);
	ret = read_elf(&f, m, err);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < f.nseg; i++) {
		if (f.seg[i].filesz == 0)
			continue;
		if (mappable && can_map(&f, i))
			ret = map_segment(&f, m, &f.seg[i], err);
		else
			ret = copy_segment(&f, m, &f.seg[i], err);
		if (ret < 0)
			return ret;
	}
	*entry = f.entry;
	return 0;
}
