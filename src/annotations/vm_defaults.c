/* From the collected settings to the final values: defaults, limits, and what krun
 * cannot honour yet. */
#include "annotations/vm_keys.h"
#include "util/util.h"

#include <string.h>

#define MIB (1024 * 1024)

static unsigned default_cpus(const struct vm_sources *src)
{
	if (src->host_cpus == 0)
		return 1;
	return src->host_cpus < VM_MAX_CPUS ? src->host_cpus : VM_MAX_CPUS;
}

/* Without an explicit size the VM gets the container's memory limit: the VMM and the
 * guest are accounted to the container's cgroup anyway. */
static int ram_from_limit(const struct vm_sources *src, struct vm_config *c, krun_error_t *err)
{
	uint64_t mib;

	if (!src->has_memory_limit || src->memory_limit <= 0) {
		c->ram_mib = VM_DEFAULT_RAM_MIB;
		return 0;
	}
	mib = (uint64_t)src->memory_limit / MIB;
	if (mib < VM_MIN_RAM_MIB)
		return krun_make_error(err, 0,
				       "linux.resources.memory.limit=%lld: the VM needs at least "
				       "%d MiB",
				       (long long)src->memory_limit, VM_MIN_RAM_MIB);
	if (mib > VM_MAX_RAM_MIB) {
		vm_config_warn(c,
			       "the VM gets the maximum of %d MiB, not all of the %llu MiB "
			       "memory limit",
			       VM_MAX_RAM_MIB, (unsigned long long)mib);
		mib = VM_MAX_RAM_MIB;
	}
	c->ram_mib = mib;
	return 0;
}

static int resolve_ram(const struct vm_sources *src, int64_t requested, struct vm_config *c,
		       krun_error_t *err)
{
	cleanup_free char *what = NULL;

	if (c->origin[VM_RAM_MIB] == VM_FROM_DEFAULT)
		return ram_from_limit(src, c, err);
	what = vm_config_describe(c, VM_RAM_MIB);
	if (requested > VM_MAX_RAM_MIB)
		return krun_make_error(err, 0, "%s: more than the maximum of %d MiB", what,
				       VM_MAX_RAM_MIB);
	if (requested >= VM_MIN_RAM_MIB) {
		c->ram_mib = requested;
		return 0;
	}
	vm_config_warn(c, "%s: below %d MiB, ignored", what, VM_MIN_RAM_MIB);
	c->origin[VM_RAM_MIB] = VM_FROM_DEFAULT;
	return ram_from_limit(src, c, err);
}

/* krun(1) takes an external kernel only with its format; a lone half is a mistake. */
static int check_kernel_pair(const struct vm_config *c, krun_error_t *err)
{
	bool has_path = c->origin[VM_KERNEL_PATH] != VM_FROM_DEFAULT;
	bool has_format = c->origin[VM_KERNEL_FORMAT] != VM_FROM_DEFAULT;

	if (has_path && !has_format)
		return krun_make_error(
		    err, 0, ".krun_vm.json: kernel_path needs kernel_format (%d for ELF)",
		    VM_KERNEL_FORMAT_ELF);
	if (has_format && !has_path)
		return krun_make_error(err, 0, ".krun_vm.json: kernel_format needs kernel_path");
	return 0;
}

int vm_config_resolve(const struct vm_sources *src, const int64_t num[VM_N_FIELDS],
		      struct vm_config *c, krun_error_t *err)
{
	bool has_format = c->origin[VM_KERNEL_FORMAT] != VM_FROM_DEFAULT;
	int ret;

	c->cpus = c->origin[VM_CPUS] ? (unsigned)num[VM_CPUS] : default_cpus(src);
	ret = resolve_ram(src, num[VM_RAM_MIB], c, err);
	if (ret < 0)
		return ret;
	c->gpu_flags = num[VM_GPU_FLAGS];
	c->use_passt = num[VM_USE_PASST] > 0;
	c->nested_virt = num[VM_NESTED_VIRT] > 0;
	c->flavor = c->text[VM_FLAVOR];
	c->kernel_path = c->text[VM_KERNEL_PATH];
	c->kernel_format = has_format ? (int)num[VM_KERNEL_FORMAT] : VM_KERNEL_FORMAT_ELF;
	c->initrd_path = c->text[VM_INITRD_PATH];
	c->kernel_cmdline = c->text[VM_KERNEL_CMDLINE];
	c->virtiofs_tag = c->text[VM_VIRTIOFS_TAG] ? c->text[VM_VIRTIOFS_TAG] : VM_DEFAULT_ROOT_TAG;
	c->virtiofs_shm_size = num[VM_VIRTIOFS_SHM_SIZE];
	return check_kernel_pair(c, err);
}

static bool gpu_requested(const struct vm_config *c)
{
	return c->gpu_flags != 0;
}

static bool passt_requested(const struct vm_config *c)
{
	return c->use_passt;
}

static bool initrd_requested(const struct vm_config *c)
{
	return c->initrd_path != NULL;
}

static bool other_kernel_format(const struct vm_config *c)
{
	return c->kernel_format != VM_KERNEL_FORMAT_ELF;
}

static bool dax_requested(const struct vm_config *c)
{
	return c->virtiofs_shm_size != 0;
}

/* What krun cannot do yet. Implementing one of them means deleting its line here. */
static const struct {
	enum vm_field field;
	bool (*requested)(const struct vm_config *c);
	const char *what;
} not_yet[] = {
	{ VM_GPU_FLAGS, gpu_requested, "virtio-gpu" },
	{ VM_USE_PASST, passt_requested, "passt networking" },
	{ VM_INITRD_PATH, initrd_requested, "an initrd" },
	{ VM_KERNEL_FORMAT, other_kernel_format, "a kernel format other than 1 (ELF)" },
	{ VM_VIRTIOFS_SHM_SIZE, dax_requested, "a virtio-fs DAX window" },
};

int vm_config_check_supported(const struct vm_config *cfg, krun_error_t *err)
{
	if (cfg->flavor) {
		cleanup_free char *what = vm_config_describe(cfg, VM_FLAVOR);

		return krun_make_error(err, 0, "%s: this krun was built without the %s variant",
				       what, cfg->flavor);
	}
	for (size_t i = 0; i < ARRAY_SIZE(not_yet); i++) {
		cleanup_free char *what = NULL;

		if (!not_yet[i].requested(cfg))
			continue;
		what = vm_config_describe(cfg, not_yet[i].field);
		return krun_make_error(err, 0, "%s: %s is not supported yet", what,
				       not_yet[i].what);
	}
	return 0;
}

/* The module parameter reads "Y"/"N" (kvm_intel) or "1"/"0" (kvm_amd), with a newline. */
static bool nested_enabled(const char *param)
{
	return param && (param[0] == 'Y' || param[0] == 'y' || param[0] == '1') &&
	       (param[1] == '\0' || param[1] == '\n');
}

bool vm_host_can_nest(const char *kvm_intel_nested, const char *kvm_amd_nested)
{
	return nested_enabled(kvm_intel_nested) || nested_enabled(kvm_amd_nested);
}
