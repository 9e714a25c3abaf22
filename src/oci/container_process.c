#include "container_process.h"
#include "console_socket.h"
#include "hooks.h"
#include "log.h"
#include "mounts.h"
#include "start_socket.h"
#include "status.h"
#include "sync.h"
#include "confine/confine.h"
#include "util/util.h"
#include "vm/kvm.h"
#include "machine/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void reset_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void exit_on_signal(int sig)
{
	_exit(128 + sig);
}

/* The pty master goes to whoever listens on --console-socket; its slave becomes this
 * process' terminal, which the VMM carries on the guest's hvc0. */
static int take_console(const struct container_child *c, krun_error_t *err)
{
	cleanup_close int master = -1, slave = -1;
	int ret;

	ret = pty_open(&master, &slave, 0, 0, err);
	if (ret == 0)
		ret = console_socket_send_fd(c->console_sock, master, NULL, err);
	if (ret == 0)
		ret = pty_become_controlling(slave, err);
	return ret;
}

/* Our pid as the host sees it; the parent tells it, since in a new pid namespace we are 1. */
static pid_t host_pid;

static int run_hooks(const struct container_child *c, const struct oci_hook *hooks, size_t n,
		     const char *phase, enum container_status st, krun_error_t *err)
{
	struct container_state s = {
		.id = (char *)c->id,
		.pid = host_pid,
		.bundle = c->bundle->path,
	};
	cleanup_free char *json = NULL;
	size_t len;

	if (n == 0)
		return 0;
	json = status_hook_json(&s, c->bundle->cfg, st, &len);
	return hooks_run(hooks, n, phase, json, len, err);
}

static int talk_to_parent(const struct container_child *c, enum sync_type say, krun_error_t *err)
{
	if (sync_send(c->sync_fd, say, NULL) < 0 || sync_wait(c->sync_fd, SYNC_GO, err) < 0)
		return krun_make_error(err, 0, "the runtime went away during set-up");
	return 0;
}

/* What the VMM opens by name, kept open from before the user namespace: the host's
 * directories on the way there may be closed to its root. */
static struct vm_paths {
	char *root, *kernel, *init;
	int root_fd; /* behind root, when set */
	int kvm;     /* /dev/kvm, opened before the user namespace; -1: not yet */
} vm_paths = { .kvm = -1 };

static int keep_path(const char *path, char **out, int *fd_out, krun_error_t *err)
{
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return krun_make_error(err, errno, "open `%s`", path);
	free(*out);
	xasprintf(out, "/proc/self/fd/%d", fd);
	if (fd_out)
		*fd_out = fd;
	return 0;
}

/* /dev/kvm too: its node refuses the user namespace's root. And /proc/self must stay ours
 * once we are that root (changing ids made us undumpable). */
static int enter_user_namespace(const struct container_child *c, krun_error_t *err)
{
	int ret;

	if ((ret = keep_path(c->bundle->rootfs, &vm_paths.root, &vm_paths.root_fd, err)) < 0 ||
	    (ret = keep_path(c->bundle->kernel_path, &vm_paths.kernel, NULL, err)) < 0 ||
	    (ret = keep_path(c->bundle->init_path, &vm_paths.init, NULL, err)) < 0)
		return ret;
	vm_paths.kvm = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
	if ((ret = ns_enter_user(c->ns, err)) < 0 ||
	    (c->ns->new_user && (ret = talk_to_parent(c, SYNC_USERNS, err)) < 0) ||
	    (ret = ns_become_root(err)) < 0)
		return ret;
	prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

static int set_up(const struct container_child *c, krun_error_t *err)
{
	const struct oci_config *cfg = c->bundle->cfg;
	char pid_text[16];
	int ret;

	if ((ret = sync_wait(c->sync_fd, SYNC_GO, err)) < 0 ||
	    (ret = ns_join_paths(c->ns, err)) < 0 ||
	    (ret = ns_unshare(c->ns->unshare_flags, err)) < 0 ||
	    (ret = mounts_setup(cfg, c->bundle->path, c->bundle->rootfs, err)) < 0)
		return ret;
	if ((c->ns->unshare_flags & CLONE_NEWUTS) && cfg->hostname &&
	    sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		return krun_make_error(err, errno, "set the host name `%s`", cfg->hostname);
	if (c->console_sock >= 0 && (ret = take_console(c, err)) < 0)
		return ret;
	if (ns_plan_has_user(c->ns) && (ret = enter_user_namespace(c, err)) < 0)
		return ret;
	if ((ret = ns_unshare(c->ns->late_flags, err)) < 0)
		return ret;
	if (sync_send(c->sync_fd, SYNC_MOUNTED, NULL) < 0 ||
	    sync_wait_text(c->sync_fd, SYNC_GO, pid_text, sizeof(pid_text), err) < 0)
		return krun_make_error(err, 0, "the runtime went away during set-up");
	host_pid = atoi(pid_text);
	return run_hooks(c, cfg->hooks.create_container, cfg->hooks.n_create_container,
			 "createContainer", CONTAINER_CREATED, err);
}

/* Without krun.cpus the VM gets as many vCPUs as CPUs this process may run on, counted
 * here because only now does the cpuset of its cgroup apply. */
static unsigned vcpus(const struct vm_config *vm)
{
	cpu_set_t set;
	int n;

	if (vm->origin[VM_CPUS] != VM_FROM_DEFAULT || sched_getaffinity(0, sizeof(set), &set) < 0)
		return vm->cpus;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > VM_MAX_CPUS ? VM_MAX_CPUS : (unsigned)n;
}

/* Whether the workload may bind ports below 1024: the guest kernel checks its callers'
 * capabilities, and the VMM must not grant more than the container's bounding set. */
static bool may_bind_privileged_ports(const struct oci_process *p)
{
	const struct strv *bounding = &p->capabilities.bounding;

	if (!p->has_capabilities)
		return true;
	for (size_t i = 0; i < bounding->n; i++)
		if (!strcmp(bounding->v[i], "CAP_NET_BIND_SERVICE"))
			return true;
	return false;
}

/* The VMM keeps no capability the container's bounding set lacks (no capabilities object:
 * all of them). */
static struct confine_config confine_cfg;

static int confine_vmm(void *opaque, krun_error_t *err)
{
	return confine_apply(opaque, err);
}

static void fill_confine(const struct oci_process *p, struct machine_config *m)
{
	const struct strv *bounding = &p->capabilities.bounding;

	confine_cfg.bounding =
	    p->has_capabilities
		? confine_caps_from_names((const char *const *)bounding->v, bounding->n)
		: confine_caps_all();
	m->confine = confine_vmm;
	m->confine_opaque = &confine_cfg;
}

static const struct machine_log vmm_log = { log_error, log_warning, log_debug };

static void fill_machine(const struct container_child *c, struct machine_config *m)
{
	const struct bundle *b = c->bundle;

	m->kvm_fd = vm_paths.kvm;
	m->cpus = vcpus(&b->vm);
	m->ram_mib = b->vm.ram_mib;
	m->kernel_path = vm_paths.kernel ? vm_paths.kernel : b->kernel_path;
	m->kernel_custom = b->kernel_fd >= 0;
	m->kernel_cmdline_extra = b->vm.kernel_cmdline;
	m->nested_virt = b->vm.nested_virt;
	m->debug = c->g->debug;
	m->log = &vmm_log;
	m->root_path = vm_paths.root ? vm_paths.root : b->rootfs;
	m->root_tag = b->vm.virtiofs_tag;
	m->init_path = vm_paths.init ? vm_paths.init : b->init_path;
	m->config_json = b->config_json;
	m->config_json_len = b->config_json_len;
	m->tsi = !b->vm.use_passt;
	m->tsi_privileged_ports = may_bind_privileged_ports(&b->cfg->process);
	m->stdin_fd = STDIN_FILENO;
	m->stdout_fd = STDOUT_FILENO;
	m->stderr_fd = STDERR_FILENO;
	m->terminal = b->cfg->process.terminal;
	fill_confine(&b->cfg->process, m);
}

/* A Kubernetes pod's sandbox ("pause") container only holds the pod's namespaces: it gets
 * no VM, and waits for a signal that ends it, as the pause program does. */
static bool is_sandbox(const struct oci_config *cfg)
{
	const char *cri = oci_config_annotation(cfg, "io.kubernetes.cri.container-type");
	const char *crio = oci_config_annotation(cfg, "io.kubernetes.cri-o.ContainerType");

	return (cri && !strcmp(cri, "sandbox")) || (crio && !strcmp(crio, "sandbox"));
}

static int hold_namespaces(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	while (sigwait(&set, &sig) != 0)
		;
	return 0;
}

/* From here on the VMM names nothing of the host but what it holds open (src/confine/root.c):
 * the kernel, the init and /dev/kvm are kept first, the root is served from a copy of its
 * mount tree. KVM is checked here, while /sys still tells kvm_pvm apart. */
static int enter_vmm_root(const struct container_child *c, krun_error_t *err)
{
	const struct bundle *b = c->bundle;
	cleanup_close int root = -1;
	int kvm, tree, ret;

	if ((!vm_paths.kernel &&
	     (ret = keep_path(b->kernel_path, &vm_paths.kernel, NULL, err)) < 0) ||
	    (!vm_paths.init && (ret = keep_path(b->init_path, &vm_paths.init, NULL, err)) < 0) ||
	    (ret = kvm_open(vm_paths.kvm, false, &kvm, err)) < 0)
		return ret;
	close_and_reset(&vm_paths.kvm);
	vm_paths.kvm = kvm;
	root = open(vm_paths.root ? vm_paths.root : b->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return krun_make_error(err, errno, "open the container root `%s`", b->rootfs);
	if ((ret = confine_root(root, &tree, err)) < 0)
		return ret;
	/* A directory fd of the old tree would lead out of the new root by "..". */
	close(steal_fd(&root));
	if (vm_paths.root)
		close(vm_paths.root_fd);
	free(vm_paths.root);
	xasprintf(&vm_paths.root, "/proc/self/fd/%d", tree);
	return confine_no_directory_fds(tree, err);
}

static int boot(const struct container_child *c, int *status, krun_error_t *err)
{
	struct machine_config m = { 0 };
	int ret;

	if (is_sandbox(c->bundle->cfg)) {
		*status = hold_namespaces();
		return 0;
	}
	prctl(PR_SET_NAME, "krun");
	if ((ret = enter_vmm_root(c, err)) < 0)
		return ret;
	fill_machine(c, &m);
	log_debug("container %s: %u vCPUs, %llu MiB, kernel %s, init %s, root %s", c->id, m.cpus,
		  (unsigned long long)m.ram_mib, m.kernel_path, m.init_path, m.root_path);
	return machine_run(&m, status, err);
}

/* Waits for `start`, runs the startContainer hooks and tells `start` how they went. */
static int wait_for_start(const struct container_child *c, int listener, krun_error_t *err)
{
	const struct oci_hooks *h = &c->bundle->cfg->hooks;
	sigset_t forwarded;
	int conn, ret;

	/* Until it boots, this process may be a pid namespace's init, which the kernel spares
	 * the signals it does not handle: stopping a created container must still work. */
	for (int sig = 1; sig < SIGRTMIN; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD && sig != SIGWINCH &&
		    sig != SIGCONT && sig != SIGURG)
			signal(sig, exit_on_signal);
	conn = start_socket_accept(listener, err);
	reset_signals();
	/* From here on the signals the VMM forwards stay pending until it takes them over. */
	machine_signal_set(&forwarded, c->bundle->cfg->process.terminal);
	sigprocmask(SIG_BLOCK, &forwarded, NULL);
	if (conn < 0)
		return conn;
	ret = run_hooks(c, h->start_container, h->n_start_container, "startContainer",
			CONTAINER_RUNNING, err);
	start_socket_reply(conn, ret < 0 ? (*err)->msg : NULL);
	return ret;
}

void container_process_main(const struct container_child *c)
{
	krun_error_t err = NULL;
	int status = 1, ret;

	reset_signals();
	ret = set_up(c, &err);
	if (ret < 0) {
		sync_send(c->sync_fd, SYNC_ERROR, err ? err->msg : "container set-up failed");
		_exit(1);
	}
	if (sync_send(c->sync_fd, SYNC_READY, NULL) < 0)
		_exit(1);
	close(c->sync_fd);
	if (c->console_sock >= 0)
		close(c->console_sock);
	ret = wait_for_start(c, c->start_listener, &err);
	close(c->start_listener);
	if (ret == 0)
		ret = boot(c, &status, &err);
	if (ret < 0) {
		log_error(err ? err->msg : "the container failed to start");
		_exit(1);
	}
	_exit(status);
}
