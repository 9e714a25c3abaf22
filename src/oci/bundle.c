/* Loading a bundle: config.json, the root file system, the VM's shape from the annotations
 * and /.krun_vm.json, and the guest kernel and init to boot. */
#include "oci/bundle.h"
#include "oci/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void bundle_release(struct bundle *b)
{
	free(b->path);
	oci_config_free(b->cfg);
	free(b->config_json);
	free(b->rootfs);
	vm_config_release(&b->vm);
	close_and_reset(&b->kernel_fd);
	free(b->kernel_path);
	memset(b, 0, sizeof(*b));
	b->kernel_fd = -1;
}

static int load_bundle(struct bundle *r, const char *bundle, krun_error_t *err)
{
	int ret;

	r->path = realpath(bundle, NULL);
	if (!r->path)
		return krun_make_error(err, errno, "bundle `%s`", bundle);
	ret = oci_config_load(r->path, &r->cfg, &r->config_json, &r->config_json_len, err);
	if (ret < 0)
		return ret;
	if (!r->cfg->has_process)
		return krun_make_error(err, 0,
				       "config.json: process is required to run a container");
	return 0;
}

/* An O_PATH descriptor of path below rootfd, resolved without ever leaving it (the image
 * controls its symlinks) and without opening the file itself (a FIFO would block, a device
 * could act). Returns -errno on failure. */
static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

static int open_rootfs(struct bundle *r, int *rootfd, krun_error_t *err)
{
	const char *root = r->cfg->root_path;
	cleanup_free char *path = NULL;

	if (root[0] == '/')
		path = xstrdup(root);
	else
		xasprintf(&path, "%s/%s", r->path, root);
	r->rootfs = realpath(path, NULL);
	if (!r->rootfs)
		return krun_make_error(err, errno, "rootfs `%s`", path);
	*rootfd = open(r->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*rootfd < 0)
		return krun_make_error(err, errno, "rootfs `%s`", r->rootfs);
	return 0;
}

/* Reads up to max + 1 bytes, so that the caller can tell a file that is too large. */
static int read_bounded(int fd, size_t max, char **out, size_t *len)
{
	cleanup_free char *buf = xmalloc(max + 2);
	size_t used = 0;

	while (used <= max) {
		ssize_t n = read(fd, buf + used, max + 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		used += n;
	}
	buf[used] = '\0';
	*len = used;
	*out = steal_ptr(&buf);
	return 0;
}

/* The image's /.krun_vm.json, if it has one (*text stays NULL otherwise). */
static int read_vm_json(int rootfd, char **text, size_t *len, krun_error_t *err)
{
	cleanup_close int path_fd = open_in_root(rootfd, ".krun_vm.json");
	cleanup_close int fd = -1;
	char proc_path[32];
	struct stat st;
	int ret;

	if (path_fd == -ENOENT)
		return 0;
	if (path_fd < 0)
		return krun_make_error(err, -path_fd, "open the image's /.krun_vm.json");
	if (fstat(path_fd, &st) < 0)
		return krun_make_error(err, errno, "stat the image's /.krun_vm.json");
	if (!S_ISREG(st.st_mode))
		return krun_make_error(err, 0, "the image's /.krun_vm.json is not a regular file");
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", path_fd);
	fd = open(proc_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return krun_make_error(err, errno, "open the image's /.krun_vm.json");
	ret = read_bounded(fd, VM_JSON_MAX_SIZE, text, len);
	if (ret < 0)
		return krun_make_error(err, -ret, "read the image's /.krun_vm.json");
	return 0;
}

static unsigned affinity_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 0;
	return CPU_COUNT(&set);
}

static void warn_if_no_nesting(const struct vm_config *vm)
{
	cleanup_free char *intel = NULL, *amd = NULL, *what = NULL;

	if (!vm->nested_virt)
		return;
	read_file_at(AT_FDCWD, "/sys/module/kvm_intel/parameters/nested", 64, &intel, NULL);
	read_file_at(AT_FDCWD, "/sys/module/kvm_amd/parameters/nested", 64, &amd, NULL);
	if (vm_host_can_nest(intel, amd))
		return;
	what = vm_config_describe(vm, VM_NESTED_VIRT);
	log_warning("%s: this host's KVM does not offer nested virtualisation", what);
}

static int compute_vm(struct bundle *r, int rootfd, krun_error_t *err)
{
	cleanup_free struct vm_annotation *ann = NULL;
	cleanup_free char *vm_json = NULL;
	struct vm_sources src = { 0 };
	int ret;

	ret = read_vm_json(rootfd, &vm_json, &src.vm_json_len, err);
	if (ret < 0)
		return ret;
	ann = xzalloc(r->cfg->n_annotations * sizeof(*ann));
	for (size_t i = 0; i < r->cfg->n_annotations; i++) {
		ann[i].key = r->cfg->annotations[i].key;
		ann[i].value = r->cfg->annotations[i].value;
	}
	src.annotations = ann;
	src.n_annotations = r->cfg->n_annotations;
	src.vm_json = vm_json;
	src.has_memory_limit = r->cfg->resources.has_memory_limit;
	src.memory_limit = r->cfg->resources.memory_limit;
	src.host_cpus = affinity_cpus();
	ret = vm_config_compute(&src, &r->vm, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < r->vm.n_warnings; i++)
		log_warning("%s", r->vm.warnings[i]);
	ret = vm_config_check_supported(&r->vm, err);
	if (ret < 0)
		return ret;
	warn_if_no_nesting(&r->vm);
	return 0;
}

/* The image's own kernel when .krun_vm.json names one (looked up inside the rootfs and
 * handed over as /proc/self/fd/N), else $KRUN_KERNEL, else the one installed with krun. */
static int choose_kernel(struct bundle *r, int rootfd, krun_error_t *err)
{
	const char *env = getenv("KRUN_KERNEL");
	struct stat st;

	if (!r->vm.kernel_path) {
		r->kernel_path = xstrdup(env && *env ? env : KRUN_KERNEL_DEFAULT);
		return 0;
	}
	r->kernel_fd = open_in_root(rootfd, r->vm.kernel_path);
	if (r->kernel_fd < 0)
		return krun_make_error(err, -r->kernel_fd, "the image's kernel `%s`",
				       r->vm.kernel_path);
	if (fstat(r->kernel_fd, &st) < 0 || !S_ISREG(st.st_mode))
		return krun_make_error(err, 0, "the image's kernel `%s` is not a regular file",
				       r->vm.kernel_path);
	xasprintf(&r->kernel_path, "/proc/self/fd/%d", r->kernel_fd);
	return 0;
}

static int check_boot_file(const char *what, const char *path, krun_error_t *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return krun_make_error(err, errno, "%s `%s`", what, path);
	if (!S_ISREG(st.st_mode))
		return krun_make_error(err, 0, "%s `%s` is not a regular file", what, path);
	return 0;
}

int bundle_load(const char *dir, struct bundle *b, krun_error_t *err)
{
	const char *init_env = getenv("KRUN_INIT");
	cleanup_close int rootfd = -1;
	int ret;

	memset(b, 0, sizeof(*b));
	b->kernel_fd = -1;
	b->init_path = init_env && *init_env ? init_env : KRUN_INIT_DEFAULT;
	ret = load_bundle(b, dir ? dir : ".", err);
	if (ret < 0)
		return ret;
	ret = open_rootfs(b, &rootfd, err);
	if (ret < 0)
		return ret;
	ret = compute_vm(b, rootfd, err);
	if (ret < 0)
		return ret;
	ret = choose_kernel(b, rootfd, err);
	if (ret < 0)
		return ret;
	ret = check_boot_file("guest kernel", b->kernel_path, err);
	if (ret < 0)
		return ret;
	return check_boot_file("guest init", b->init_path, err);
}
