/* The microVM's settings from the krun.* annotations, the image's .krun_vm.json and the
 * defaults (krun(1)). Pure code: the caller reads the files and passes their contents.
 * Precedence per field: annotation (even "0"), then .krun_vm.json, then the default. */
#ifndef KRUN_ANNOTATIONS_VM_CONFIG_H
#define KRUN_ANNOTATIONS_VM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/error.h"
#include "vm/limits.h"

#define VM_DEFAULT_RAM_MIB   1024
#define VM_KERNEL_FORMAT_ELF 1 /* the numbering of krun(1)'s kernel_format */
#define VM_DEFAULT_ROOT_TAG  "/dev/root"
#define VM_ROOT_TAG_MAX	     36 /* the tag field of the virtio-fs config space */
#define VM_CMDLINE_MAX	     1024
#define VM_JSON_MAX_SIZE     (64u << 10) /* .krun_vm.json comes from the image */
#define VM_MAX_WARNINGS	     4

enum vm_field {
	VM_CPUS,
	VM_RAM_MIB,
	VM_GPU_FLAGS,
	VM_USE_PASST,
	VM_NESTED_VIRT,
	VM_FLAVOR,
	VM_KERNEL_PATH,
	VM_KERNEL_FORMAT,
	VM_INITRD_PATH,
	VM_KERNEL_CMDLINE,
	VM_VIRTIOFS_TAG,
	VM_VIRTIOFS_SHM_SIZE,
	VM_N_FIELDS
};

enum vm_origin { VM_FROM_DEFAULT, VM_FROM_FILE, VM_FROM_ANNOTATION };

struct vm_annotation {
	const char *key, *value;
};

struct vm_sources {
	const struct vm_annotation *annotations;
	size_t n_annotations;
	const char *vm_json; /* .krun_vm.json, NUL-terminated at [vm_json_len]; NULL: absent */
	size_t vm_json_len;
	bool has_memory_limit;
	int64_t memory_limit; /* linux.resources.memory.limit in bytes; <= 0: no limit */
	unsigned host_cpus;   /* CPUs in the process affinity; 0 when unknown */
};

struct vm_config {
	unsigned cpus;
	uint64_t ram_mib;
	uint32_t gpu_flags;
	bool use_passt;
	bool nested_virt;
	const char *flavor;	 /* "sev" or "aws-nitro"; NULL: the plain VM */
	const char *kernel_path; /* inside the container root; NULL: krun's own kernel */
	int kernel_format;
	const char *initrd_path;
	const char *kernel_cmdline; /* appended to krun's command line; NULL: none */
	const char *virtiofs_tag;   /* never NULL */
	uint64_t virtiofs_shm_size; /* DAX window bytes; 0: none */

	/* Where each field's value came from, and its text as written there (the string
	 * fields above point into text[]). */
	enum vm_origin origin[VM_N_FIELDS];
	char *text[VM_N_FIELDS];

	/* Values that were ignored or adjusted, for the caller to print. */
	char *warnings[VM_MAX_WARNINGS];
	size_t n_warnings;
};

/* Computes *out from the sources; a bad value fails with an error naming the key and the
 * value ("krun.cpus=abc: not a number"). Release *out with vm_config_release, also on
 * failure. */
int vm_config_compute(const struct vm_sources *src, struct vm_config *out, krun_error_t *err);

/* Fails with "<key>=<value>: ... not supported yet" for the first setting krun cannot
 * honour. The one place that decides it. */
int vm_config_check_supported(const struct vm_config *cfg, krun_error_t *err);

/* "krun.cpus=4" or ".krun_vm.json: cpus=4" for an explicit field, else the key name
 * ("krun.cpus", "kernel_path"). Caller frees. */
char *vm_config_describe(const struct vm_config *cfg, enum vm_field field);

void vm_config_release(struct vm_config *cfg);

/* Whether the host's KVM offers nested virtualisation, from the contents of
 * /sys/module/kvm_intel/parameters/nested and /sys/module/kvm_amd/parameters/nested
 * (NULL when a file is missing). */
bool vm_host_can_nest(const char *kvm_intel_nested, const char *kvm_amd_nested);

#endif
