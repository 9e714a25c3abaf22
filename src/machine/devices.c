/* The devices of a krun guest and how they are wired: hvc0 and the workload's streams
 * (console), the root file system with the guest init and the OCI config (virtio-fs),
 * rng, and TSI (virtio-vsock), each given the next MMIO window and IRQ line. */
#include "machine/internal.h"
#include "agent/bridge.h"
#include "devices/console/console.h"
#include "devices/fs/fs.h"
#include "devices/rng/rng.h"
#include "devices/vsock/tsi.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>

static void record_exit_status(void *opaque, int status)
{
	struct machine *m = opaque;

	atomic_store(&m->exit_status, status);
}

/* Takes ownership of dev and gives it the next MMIO window and IRQ line. */
static int attach(struct machine *m, struct virtio_device *dev, krun_error_t *err)
{
	unsigned i = m->ndev++;

	m->dev[i] = dev;
	return virtio_mmio_attach(m->vm, dev, GUEST_VIRTIO_MMIO_BASE + i * GUEST_VIRTIO_MMIO_SIZE,
				  GUEST_VIRTIO_MMIO_FIRST_IRQ + i, &m->cmdline, err);
}

static int add_console(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct console_config cc = { .in_fd = cfg->stdin_fd,
				     .out_fd = cfg->stdout_fd,
				     .err_fd = cfg->stderr_fd,
				     .terminal = cfg->terminal,
				     .console_log_fd = -1,
				     .signal_port = true };
	struct virtio_device *dev;
	int ret = virtio_console_new(&cc, &dev, err);

	if (ret < 0)
		return ret;
	m->console = dev;
	return attach(m, dev, err);
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

/* Every guest TCP connection costs TSI about four fds (the host socket, its dup in the
 * device, the control socketpair): the soft limit goes up to the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int add_tsi(struct machine *m, krun_error_t *err)
{
	const struct machine_config *cfg = m->cfg;
	struct vsock_tsi_config tc = { .root_path = cfg->root_path,
				       .allow_privileged_ports = cfg->tsi_privileged_ports };
	struct vsock_config vc;
	struct virtio_device *dev;
	char *s;
	int ret;

	if (!cfg->tsi)
		return 0;
	ret = vsock_tsi_backend_new(&tc, &vc.backend, err);
	if (ret < 0)
		return ret;
	ret = virtio_vsock_new(&vc, &dev, err);
	if (ret < 0) {
		vc.backend->ops->destroy(vc.backend);
		return ret;
	}
	virtio_vsock_set_max_connections(dev, TSI_MAX_CONNECTIONS);
	raise_fd_limit();
	xasprintf(&s, "%s tsi=1", m->cmdline);
	free(m->cmdline);
	m->cmdline = s;
	ret = attach(m, dev, err);
	if (ret < 0 || !cfg->has_agent_socket)
		return ret;
	ret = agent_bridge_new(vm_event_loop(m->vm), dev, cfg->agent_listen_fd, cfg->agent_owner,
			       &m->bridge, err);
	return ret < 0 ? krun_error_wrap(err, "the exec channel") : 0;
}

/* The devices in the order of their MMIO windows and IRQ lines: hvc0 comes first. */
static int (*const add_device[])(struct machine *m, krun_error_t *err) = {
	add_console,
	add_root_fs,
	add_rng,
	add_tsi,
};
_Static_assert(ARRAY_SIZE(add_device) <= GUEST_VIRTIO_MMIO_MAX_DEVICES, "one IRQ line per device");

int machine_add_devices(struct machine *m, krun_error_t *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(add_device); i++) {
		int ret = add_device[i](m, err);
		if (ret < 0)
			return ret;
	}
	/* Without TSI's vsock nothing serves the exec socket: closed, `krun exec` is refused
	 * at once instead of waiting on it. */
	if (m->cfg->has_agent_socket && !m->bridge)
		close(m->cfg->agent_listen_fd);
	return 0;
}

void machine_release_devices(struct machine *m)
{
	agent_bridge_free(m->bridge);
	m->bridge = NULL;
	for (unsigned i = 0; i < m->ndev; i++)
		if (m->dev[i]->ops->drain)
			m->dev[i]->ops->drain(m->dev[i]);
	if (m->console)
		m->klog_len = virtio_console_klog(m->console, m->klog, sizeof(m->klog));
	m->console = NULL;
	for (unsigned i = 0; i < m->ndev; i++)
		m->dev[i]->ops->destroy(m->dev[i]);
	m->ndev = 0;
}
