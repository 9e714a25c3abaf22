/* machine_run: one VM, its devices and its kernel command line, run to power-off. The
 * devices are opaque here: constructors, virtio_mmio_attach, and the ops table. */
#include "machine.h"
#include "vm.h"
#include "../devices/console.h"
#include "../devices/fs.h"
#include "../devices/rng.h"
#include "../util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MMIO_BASE	 0xd0000000ULL
#define MMIO_SIZE	 0x1000ULL
#define FIRST_IRQ	 5
#define MAX_DEVICES	 (15 - FIRST_IRQ + 1) /* ISA lines 5..15 */
#define STATUS_UNSET	 INT_MIN
#define STATUS_NO_REPORT 125

struct machine {
	const struct machine_config *cfg;
	struct vm *vm;
	struct virtio_device *dev[MAX_DEVICES];
	unsigned ndev;
	char *cmdline;
	int init_fd;
	_Atomic int exit_status;
};

static void record_exit_status(void *opaque, int status)
{
	struct machine *m = opaque;

	atomic_store(&m->exit_status, status);
}

static char *base_cmdline(const struct machine_config *cfg)
{
	char *s;

	/* The kernel strips "/dev/" from root= and mounts the rest as the root's source,
	 * which for virtiofs is the tag. Debug trades the quiet console for the kernel log
	 * on the UART at 0x3f8. */
	xasprintf(&s,
		  "reboot=k panic=-1 panic_print=0 nomodule console=hvc0 rootfstype=virtiofs "
		  "root=/dev/%s rw %s no-kvmapf init=/init.krun",
		  cfg->root_tag ? cfg->root_tag : "/dev/root",
		  cfg->debug ? "earlyprintk=serial,ttyS0,115200,keep" : "quiet");
	return s;
}

/* Takes ownership of dev and gives it the next MMIO window and IRQ line. */
static int attach(struct machine *m, struct virtio_device *dev, krun_error_t *err)
{
	unsigned i = m->ndev++;

	m->dev[i] = dev;
	return virtio_mmio_attach(m->vm, dev, MMIO_BASE + i * MMIO_SIZE, FIRST_IRQ + i, &m->cmdline,
				  err);
}

static int add_console(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct console_config cc = { .in_fd = cfg->stdin_fd,
				     .out_fd = cfg->stdout_fd,
				     .err_fd = cfg->stderr_fd,
				     .terminal = cfg->terminal,
				     .console_log_fd = -1 };
	struct virtio_device *dev;
	int ret = virtio_console_new(&cc, &dev, err);

	return ret < 0 ? ret : attach(m, dev, err);
}

static int add_root_fs(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct stat st;
	struct virtio_fs_virtual_file files[2];
	struct virtio_fs_config fc = { .tag = cfg->root_tag ? cfg->root_tag : "/dev/root",
				       .root_path = cfg->root_path,
				       .virtual_files = files,
				       .num_virtual_files = 2,
				       .exit_status_fn = record_exit_status,
				       .opaque = m };
	struct virtio_device *dev;
	int ret;

	m->init_fd = open(cfg->init_path, O_RDONLY | O_CLOEXEC);
	if (m->init_fd < 0 || fstat(m->init_fd, &st) < 0)
		return krun_make_error(err, errno, "open the guest init `%s`", cfg->init_path);
	files[0] = (struct virtio_fs_virtual_file){
		.name = "init.krun", .fd = m->init_fd, .size = st.st_size, .mode = 0555
	};
	files[1] = (struct virtio_fs_virtual_file){ .name = ".krun_config.json",
						    .fd = -1,
						    .data = cfg->config_json,
						    .size = cfg->config_json_len,
						    .mode = 0444 };
	ret = virtio_fs_new(&fc, &dev, err);
	return ret < 0 ? ret : attach(m, dev, err);
}

static int add_rng(struct machine *m, krun_error_t *err)
{
	struct virtio_device *dev;
	int ret = virtio_rng_new(&dev, err);

	return ret < 0 ? ret : attach(m, dev, err);
}

/* The devices in the order of their MMIO windows and IRQ lines: hvc0 comes first. */
static int (*const add_device[])(struct machine *m, krun_error_t *err) = {
	add_console,
	add_root_fs,
	add_rng,
};
_Static_assert(ARRAY_SIZE(add_device) <= MAX_DEVICES, "one ISA IRQ line per device");

static int add_devices(struct machine *m, krun_error_t *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(add_device); i++) {
		int ret = add_device[i](m, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void append_extra(struct machine *m)
{
	const char *extra = m->cfg->kernel_cmdline_extra;
	char *s;

	if (!extra || !*extra)
		return;
	xasprintf(&s, "%s %s", m->cmdline, extra);
	free(m->cmdline);
	m->cmdline = s;
}

static int build_and_run(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct vm_config vc = { .cpus = cfg->cpus,
				.ram_mib = cfg->ram_mib,
				.nested_virt = cfg->nested_virt,
				.debug = cfg->debug,
				.setup_only = cfg->setup_only };
	int ret = vm_create(&vc, &m->vm, err);

	if (ret == 0)
		ret = vm_load_kernel(m->vm, cfg->kernel_path, err);
	if (ret < 0)
		return ret;
	m->cmdline = base_cmdline(cfg);
	ret = add_devices(m, err);
	if (ret < 0)
		return ret;
	append_extra(m);
	ret = vm_start(m->vm, m->cmdline, err);
	if (ret == 0)
		ret = vm_run(m->vm, err);
	if (ret == 0 && cfg->first_run_at)
		vm_first_run_time(m->vm, cfg->first_run_at);
	return ret;
}

/* The vCPUs have stopped: devices hand over what the guest queued, then go. */
static void release_devices(struct machine *m)
{
	for (unsigned i = 0; i < m->ndev; i++)
		if (m->dev[i]->ops->drain)
			m->dev[i]->ops->drain(m->dev[i]);
	for (unsigned i = 0; i < m->ndev; i++)
		m->dev[i]->ops->destroy(m->dev[i]);
	m->ndev = 0;
}

static int final_status(const struct machine *m)
{
	int status = atomic_load(&m->exit_status);

	if (m->cfg->setup_only)
		return 0;
	if (status != STATUS_UNSET)
		return status;
	fprintf(stderr, "krun: the guest stopped without reporting an exit status (kernel "
			"panic or init failure; the debug option shows the kernel log)\n");
	return STATUS_NO_REPORT;
}

int machine_run(const struct machine_config *cfg, int *exit_status, krun_error_t *err)
{
	struct machine m = { .cfg = cfg, .init_fd = -1, .exit_status = STATUS_UNSET };
	int ret;

	/* A reader of the workload's output that goes away must cost that output only, not
	 * the VM: the console sees EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	ret = build_and_run(&m, err);

	if (m.vm)
		vm_shutdown(m.vm); /* no-op unless set-up failed half-way */
	release_devices(&m);
	vm_destroy(m.vm);
	free(m.cmdline);
	if (m.init_fd >= 0)
		close(m.init_fd);
	if (ret == 0)
		*exit_status = final_status(&m);
	return ret;
}
