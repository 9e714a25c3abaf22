/* The vmlinux loader on crafted ELF files: what it maps, what it zeroes, what it refuses. */
#include "tap.h"
#include "vm/loader.h"
#include "vm/memory.h"
#include "util/util.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RAM_SIZE (64ULL << 20)
#define MIB	 0x100000ULL
#define FILLER	 0xaa

static char path[256] = "/tmp/vm_loader_test.XXXXXX";
static bool custom; /* load the next kernels as an image's own */

struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[4];
	uint8_t data[3 * 4096];
};

/* Two segments: one page-congruent (mapped: file offset 0x1000 at 2 MiB + 0x1000, a page
 * and a half), one not (copied: offset 0x3100 at 3 MiB). Everything outside the segments' bytes is
 * FILLER, so a loader that leaks file bytes into guest RAM is caught. */
static void default_image(struct image *im)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
	im->eh.e_ident[EI_CLASS] = ELFCLASS64;
	im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->eh.e_type = ET_EXEC;
	im->eh.e_machine = EM_X86_64;
	im->eh.e_version = EV_CURRENT;
	im->eh.e_entry = 2 * MIB + 0x1000;
	im->eh.e_phoff = offsetof(struct image, ph);
	im->eh.e_ehsize = sizeof(Elf64_Ehdr);
	im->eh.e_phentsize = sizeof(Elf64_Phdr);
	im->eh.e_phnum = 2;
	im->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
				  .p_offset = 0x1000,
				  .p_paddr = 2 * MIB + 0x1000,
				  .p_filesz = 0x1800,
				  .p_memsz = 0x3000 };
	im->ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD,
				  .p_offset = 0x3100,
				  .p_paddr = 3 * MIB,
				  .p_filesz = 0x100,
				  .p_memsz = 0x100 };
	memset(im->data, FILLER, sizeof(im->data));
	/* data starts at file offset 0x1000 because the headers fit in the first page */
	for (int i = 0; i < 0x1800; i++)
		im->data[i] = (uint8_t)i | 1;
	for (int i = 0; i < 0x100; i++)
		im->data[0x2100 + i] = 0x55;
}

static void write_image(const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) < 0) {
		perror("write test image");
		exit(1);
	}
}

/* The image as a file: headers in the first page, data from offset 0x1000. */
static void write_full(const struct image *im)
{
	static uint8_t file[0x1000 + sizeof(im->data)];

	memset(file, 0, sizeof(file));
	memcpy(file, im, offsetof(struct image, data));
	memcpy(file + 0x1000, im->data, sizeof(im->data));
	write_image(file, sizeof(file));
}

static int load(struct guest_mem *m, uint64_t *entry, char **msg)
{
	krun_error_t err = NULL;
	int ret;

	guest_mem_unmap(m);
	if (guest_mem_map(m, RAM_SIZE, &err) < 0) {
		printf("Bail out! %s\n", err->msg);
		exit(1);
	}
	ret = kernel_load(m, path, custom, entry, &err);
	free(*msg);
	*msg = err ? xstrdup(err->msg) : NULL;
	krun_error_release(&err);
	return ret;
}

static void expect_refused(struct image *im, const char *what, const char *needle)
{
	struct guest_mem m = { 0 };
	uint64_t entry;
	char *msg = NULL;
	int ret;

	write_full(im);
	ret = load(&m, &entry, &msg);
	ok(ret == -ENOEXEC && msg && strstr(msg, needle) && strstr(msg, path), what);
	if (msg && !strstr(msg, needle))
		printf("#   message: %s\n", msg);
	free(msg);
	guest_mem_unmap(&m);
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_good_image(void)
{
	struct guest_mem m = { 0 };
	struct image im;
	uint64_t entry = 0;
	char *msg = NULL;
	uint8_t *seg0, *seg1, *page0;

	default_image(&im);
	write_full(&im);
	is_int(load(&m, &entry, &msg), 0, "a valid image loads");
	is_int(entry, 2 * MIB + 0x1000, "entry point is e_entry");
	seg0 = guest_mem_ptr(&m, 2 * MIB + 0x1000, 0x3000);
	seg1 = guest_mem_ptr(&m, 3 * MIB, 0x100);
	page0 = guest_mem_ptr(&m, 2 * MIB, 0x1000);
	ok(memcmp(seg0, im.data, 0x1800) == 0, "mapped segment holds the file bytes");
	ok(all_bytes(seg0 + 0x1800, 0x3000 - 0x1800, 0),
	   "the rest of its page and its bss are zero");
	ok(all_bytes(page0, 0x1000, 0), "RAM before the segment is untouched");
	ok(all_bytes(seg1, 0x100, 0x55), "non-congruent segment is copied");
	ok(all_bytes(seg1 + 0x100, 0x1000 - 0x100, 0), "nothing is copied past its file size");

	/* A private file mapping still shows file changes in pages nobody wrote (the first
	 * page of segment 0; its second page got its tail zeroed): mapped, not copied. */
	{
		int fd = open(path, O_WRONLY);
		uint8_t b = 0x77;
		ok(fd >= 0 && pwrite(fd, &b, 1, 0x1000 + 0x10) == 1, "rewrite a byte of the file");
		close(fd);
		is_int(seg0[0x10], 0x77, "the page-cache page backs guest RAM");
	}
	free(msg);
	guest_mem_unmap(&m);
}

static void test_unaligned_head(void)
{
	struct guest_mem m = { 0 };
	struct image im;
	uint64_t entry;
	char *msg = NULL;
	uint8_t *page;

	default_image(&im);
	/* Congruent but not page aligned: offset 0x1100 at 2 MiB + 0x1100. */
	im.ph[0].p_offset = 0x1100;
	im.ph[0].p_paddr = 2 * MIB + 0x1100;
	im.ph[0].p_filesz = 0x100;
	im.ph[0].p_memsz = 0x100;
	im.eh.e_entry = 2 * MIB + 0x1100;
	write_full(&im);
	is_int(load(&m, &entry, &msg), 0, "an unaligned congruent segment loads");
	page = guest_mem_ptr(&m, 2 * MIB + 0x1000, 0x1000);
	ok(all_bytes(page, 0x100, 0), "file bytes before the segment do not leak into RAM");
	ok(memcmp(page + 0x100, im.data + 0x100, 0x100) == 0, "segment bytes are in place");
	free(msg);
	guest_mem_unmap(&m);
}

static void test_refusals(void)
{
	struct image im;

	default_image(&im);
	write_image(&im, 40);
	{
		struct guest_mem m = { 0 };
		uint64_t entry;
		char *msg = NULL;
		ok(load(&m, &entry, &msg) == -ENOEXEC && msg && strstr(msg, "truncated"),
		   "a truncated header is refused");
		free(msg);
		guest_mem_unmap(&m);
	}

	default_image(&im);
	im.eh.e_ident[EI_MAG0] = 0;
	expect_refused(&im, "a non-ELF file is refused", "not an ELF");

	default_image(&im);
	im.eh.e_machine = EM_386;
	expect_refused(&im, "the wrong machine is refused", "not x86_64");

	default_image(&im);
	im.eh.e_ident[EI_CLASS] = ELFCLASS32;
	expect_refused(&im, "a 32-bit ELF is refused", "64-bit");

	default_image(&im);
	im.eh.e_phoff = 0xfffffffffffffff0ULL;
	expect_refused(&im, "program headers past the end (overflow) are refused",
		       "program headers");

	default_image(&im);
	im.ph[1].p_paddr = 1ULL << 30;
	expect_refused(&im, "a segment outside RAM is refused", "outside guest RAM");

	default_image(&im);
	im.ph[1].p_paddr = 0x9f000;
	expect_refused(&im, "a segment over the boot structures is refused", "outside guest RAM");

	default_image(&im);
	im.ph[1].p_paddr = 0xfffffffffffff000ULL;
	im.ph[1].p_memsz = 0x2000;
	expect_refused(&im, "a segment whose end overflows is refused", "outside guest RAM");

	default_image(&im);
	im.ph[1].p_offset = 0xffffffffffffff00ULL;
	expect_refused(&im, "file offset + size overflowing is refused", "end of the file");

	default_image(&im);
	im.ph[1].p_filesz = 0x10000;
	im.ph[1].p_memsz = 0x10000;
	expect_refused(&im, "a segment past the end of the file is refused", "end of the file");

	default_image(&im);
	im.ph[1].p_filesz = 0x200;
	expect_refused(&im, "filesz > memsz is refused", "file size exceeds");

	default_image(&im);
	im.ph[1].p_paddr = 2 * MIB + 0x2000;
	expect_refused(&im, "overlapping segments are refused", "overlapping");

	default_image(&im);
	im.eh.e_entry = 5 * MIB;
	expect_refused(&im, "an entry point outside the segments is refused", "entry point");

	default_image(&im);
	im.ph[0].p_type = PT_NOTE;
	im.ph[1].p_type = PT_NOTE;
	expect_refused(&im, "an ELF without PT_LOAD is refused", "no loadable segment");
}

/* Whether guest RAM shows a rewrite of the file's first segment byte: mapped, not copied. */
static bool backed_by_file(const struct guest_mem *m)
{
	uint8_t *seg0 = guest_mem_ptr(m, 2 * MIB + 0x1000, 1), b = 0x77;
	int fd = open(path, O_WRONLY);
	bool ok = fd >= 0 && pwrite(fd, &b, 1, 0x1000) == 1;

	close(fd);
	return ok && seg0[0] == 0x77;
}

static bool loads_mapped(const char *what)
{
	struct guest_mem m = { 0 };
	struct image im;
	uint64_t entry;
	char *msg = NULL;
	bool mapped;

	default_image(&im);
	write_full(&im);
	if (load(&m, &entry, &msg) < 0) {
		printf("#   %s: %s\n", what, msg);
		mapped = true;
	} else {
		mapped = backed_by_file(&m);
	}
	free(msg);
	guest_mem_unmap(&m);
	return mapped;
}

/* Only a kernel nobody but root and us can shrink is mapped (loader.h). */
static void test_who_is_mapped(void)
{
	ok(loads_mapped("root's 0600 file"), "the installed kernel, ours and private, is mapped");
	chmod(path, 0664);
	ok(!loads_mapped("group-writable"), "a kernel its group may write is copied");
	chmod(path, 0600);
	if (chown(path, 65534, 65534) < 0)
		printf("#   chown: %m\n");
	ok(!loads_mapped("owned by 65534"), "a kernel another user owns is copied");
	if (chown(path, 0, 0) < 0)
		printf("#   chown: %m\n");
	custom = true;
	ok(!loads_mapped("custom"), "an image's kernel is copied");
	custom = false;
}

/* Reads every byte of the pages the loader filled, in a child: a SIGBUS kills the child,
 * not the test. */
static bool guest_pages_readable(const struct guest_mem *m, const struct image *im)
{
	const volatile uint8_t *seg0 = guest_mem_ptr(m, 2 * MIB, 0x4000);
	const volatile uint8_t *seg1 = guest_mem_ptr(m, 3 * MIB, 0x1000);
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		unsigned sum = 0;

		for (size_t i = 0; i < 0x4000; i++)
			sum += seg0[i];
		for (size_t i = 0; i < 0x1000; i++)
			sum += seg1[i];
		(void)sum;
		_exit(memcmp((const void *)(seg0 + 0x1000), im->data, 0x1800) == 0 ? 0 : 2);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	if (WIFSIGNALED(status))
		printf("#   the child died of signal %d\n", WTERMSIG(status));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* An image may bring its own kernel, and the container can truncate it while the VM
 * runs: the guest's RAM must not become SIGBUS for the VMM. */
static void test_custom_truncated(void)
{
	char dir[] = "/tmp/vm_loader_custom.XXXXXX", *saved = xstrdup(path);
	struct guest_mem m = { 0 };
	struct image im;
	uint64_t entry;
	char *msg = NULL;
	int fd;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %m\n");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/vmlinux", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	close(fd);
	default_image(&im);
	write_full(&im);
	custom = true;
	is_int(load(&m, &entry, &msg), 0, "a custom kernel loads");
	custom = false;
	ok(truncate(path, 0) == 0, "truncate the custom kernel's file");
	ok(guest_pages_readable(&m, &im), "every loaded guest page still reads, with its bytes");
	free(msg);
	guest_mem_unmap(&m);
	unlink(path);
	rmdir(dir);
	strcpy(path, saved);
	free(saved);
}

static void test_not_a_file(void)
{
	struct guest_mem m = { 0 };
	krun_error_t err = NULL;
	uint64_t entry;

	guest_mem_map(&m, RAM_SIZE, &err);
	is_int(kernel_load(&m, "/nonexistent/vmlinux", false, &entry, &err), -ENOENT,
	       "a missing file is ENOENT");
	ok(err && strstr(err->msg, "/nonexistent/vmlinux"), "the message names the file");
	krun_error_release(&err);
	is_int(kernel_load(&m, "/tmp", false, &entry, &err), -ENOEXEC, "a directory is refused");
	krun_error_release(&err);
	guest_mem_unmap(&m);
}

int main(void)
{
	int fd = mkstemp(path);

	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	test_good_image();
	test_unaligned_head();
	test_refusals();
	test_who_is_mapped();
	test_custom_truncated();
	test_not_a_file();
	unlink(path);
	return tap_done();
}
