/* The container process, from clone to power-off: namespaces, mounts, console, hooks, the
 * wait for `start`, then the VMM. Its exit status is the workload's. */
#include "oci/container_process.h"
#include "oci/console_socket.h"
#include "oci/hooks.h"
#include "oci/log.h"
#include "oci/mounts.h"
#include "oci/start_socket.h"
#include "oci/status.h"
#include "oci/sync.h"
#include "confine/confine.h"
#include "util/util.h"
#include "machine/machine.h"
#include "vm/kvm.h"

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
	if (ret < 0)
		return ret;
	ret = console_socket_send_fd(c->console_sock, master, NULL, err);
	if (ret < 0)
		return ret;
	return pty_become_controlling(slave, err);
}

/* What the VMM opens by name, kept open from before the user namespace: the host's
 * directories on the way there may be closed to its root. */
struct vm_paths {
	char *root, *kernel, *init;
	int root_fd; /* behind root, when set */
	int kvm;     /* /dev/kvm, opened before the user namespace; -1: not yet */
};

/* What the container process carries from one phase to the next, clone to power-off. */
struct child_ctx {
	const struct container_child *c;
	/* Our pid as the host sees it; the parent tells it, since in a new pid namespace we
	 * are 1. */
	pid_t host_pid;
	struct vm_paths paths;
	/* The VMM keeps no capability the container's bounding set lacks (no capabilities
	 * object: all of them). Read by the VMM when it confines itself. */
	struct confine_config confine;
};

static int run_hooks(const struct child_ctx *ctx, const struct oci_hook *hooks, size_t n,
		     const char *phase, enum container_status st, krun_error_t *err)
{
	const struct container_child *c = ctx->c;
	struct container_state s = {
		.id = (char *)c->id,
		.pid = ctx->host_pid,
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
	int ret;

	ret = sync_send(c->sync_fd, say, NULL, err);
	if (ret < 0)
		return ret;
	return sync_wait(c->sync_fd, SYNC_GO, err);
}

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

/* The kernel and the init, unless kept already. */
static int keep_boot_files(struct vm_paths *paths, const struct bundle *b, krun_error_t *err)
{
	int ret;

	if (!paths->kernel) {
		ret = keep_path(b->kernel_path, &paths->kernel, NULL, err);
		if (ret < 0)
			return ret;
	}
	if (!paths->init)
		return keep_path(b->init_path, &paths->init, NULL, err);
	return 0;
}

/* /dev/kvm too: its node refuses the user namespace's root. And /proc/self must stay ours
 * once we are that root (changing ids made us undumpable). */
static int enter_user_namespace(struct child_ctx *ctx, krun_error_t *err)
{
	const struct container_child *c = ctx->c;
	int ret;

	ret = keep_path(c->bundle->rootfs, &ctx->paths.root, &ctx->paths.root_fd, err);
	if (ret < 0)
		return ret;
	ret = keep_boot_files(&ctx->paths, c->bundle, err);
	if (ret < 0)
		return ret;
	ctx->paths.kvm = open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
	ret = ns_enter_user(c->ns, err);
	if (ret < 0)
		return ret;
	if (c->ns->new_user) {
		ret = talk_to_parent(c, SYNC_USERNS, err);
		if (ret < 0)
			return ret;
	}
	ret = ns_become_root(err);
	if (ret < 0)
		return ret;
	prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

/* The namespaces the container joins or gets first, and the mounts made in them. */
static int make_namespaces(const struct container_child *c, krun_error_t *err)
{
	const struct oci_config *cfg = c->bundle->cfg;
	int ret;

	ret = ns_join_paths(c->ns, err);
	if (ret < 0)
		return ret;
	ret = ns_unshare(c->ns->unshare_flags, err);
	if (ret < 0)
		return ret;
	ret = mounts_setup(cfg, c->bundle->path, c->bundle->rootfs, err);
	if (ret < 0)
		return ret;
	if ((c->ns->unshare_flags & CLONE_NEWUTS) && cfg->hostname &&
	    sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		return krun_make_error(err, errno, "set the host name `%s`", cfg->hostname);
	return 0;
}

/* Tells the parent the mounts are made; its answer is our host pid, which hooks are given. */
static int report_mounted(struct child_ctx *ctx, krun_error_t *err)
{
	int fd = ctx->c->sync_fd;
	char pid_text[16];
	int ret;

	ret = sync_send(fd, SYNC_MOUNTED, NULL, err);
	if (ret < 0)
		return ret;
	ret = sync_wait_text(fd, SYNC_GO, pid_text, sizeof(pid_text), err);
	if (ret < 0)
		return ret;
	ctx->host_pid = atoi(pid_text);
	return 0;
}

static int set_up(struct child_ctx *ctx, krun_error_t *err)
{
	const struct container_child *c = ctx->c;
	const struct oci_hooks *h = &c->bundle->cfg->hooks;
	int ret;

	ret = sync_wait(c->sync_fd, SYNC_GO, err);
	if (ret < 0)
		return ret;
	ret = make_namespaces(c, err);
	if (ret < 0)
		return ret;
	if (c->console_sock >= 0) {
		ret = take_console(c, err);
		if (ret < 0)
			return ret;
	}
	if (ns_plan_has_user(c->ns)) {
		ret = enter_user_namespace(ctx, err);
		if (ret < 0)
			return ret;
	}
	ret = ns_unshare(c->ns->late_flags, err);
	if (ret < 0)
		return ret;
	ret = report_mounted(ctx, err);
	if (ret < 0)
		return ret;
	return run_hooks(ctx, h->create_container, h->n_create_container, "createContainer",
			 CONTAINER_CREATED, err);
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

static int confine_vmm(void *opaque, krun_error_t *err)
{
	return confine_apply(opaque, err);
}

static void fill_confine(struct child_ctx *ctx, struct machine_config *m)
{
	const struct oci_process *p = &ctx->c->bundle->cfg->process;
	const struct strv *bounding = &p->capabilities.bounding;

	ctx->confine.bounding =
	    p->has_capabilities
		? confine_caps_from_names((const char *const *)bounding->v, bounding->n)
		: confine_caps_all();
	m->confine = confine_vmm;
	m->confine_opaque = &ctx->confine;
}

static const struct machine_log vmm_log = { log_error, log_warning, log_debug };

static void fill_machine(struct child_ctx *ctx, struct machine_config *m)
{
	const struct container_child *c = ctx->c;
	const struct bundle *b = c->bundle;
	const struct vm_paths *paths = &ctx->paths;

	m->kvm_fd = paths->kvm;
	m->has_agent_socket = c->agent_listener >= 0;
	m->agent_listen_fd = c->agent_listener;
	m->agent_owner = geteuid();
	m->cpus = vcpus(&b->vm);
	m->ram_mib = b->vm.ram_mib;
	m->kernel_path = paths->kernel ? paths->kernel : b->kernel_path;
	m->kernel_custom = b->kernel_fd >= 0;
	m->kernel_cmdline_extra = b->vm.kernel_cmdline;
	m->nested_virt = b->vm.nested_virt;
	m->debug = c->g->debug;
	m->log = &vmm_log;
	m->root_path = paths->root ? paths->root : b->rootfs;
	m->root_tag = b->vm.virtiofs_tag;
	m->init_path = paths->init ? paths->init : b->init_path;
	m->config_json = b->config_json;
	m->config_json_len = b->config_json_len;
	m->tsi = !b->vm.use_passt;
	m->tsi_privileged_ports = may_bind_privileged_ports(&b->cfg->process);
	m->stdin_fd = STDIN_FILENO;
	m->stdout_fd = STDOUT_FILENO;
	m->stderr_fd = STDERR_FILENO;
	m->terminal = b->cfg->process.terminal;
	fill_confine(ctx, m);
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
static int enter_vmm_root(struct child_ctx *ctx, krun_error_t *err)
{
	const struct bundle *b = ctx->c->bundle;
	struct vm_paths *paths = &ctx->paths;
	cleanup_close int root = -1;
	int kvm, tree, ret;

	ret = keep_boot_files(paths, b, err);
	if (ret < 0)
		return ret;
	ret = kvm_open(paths->kvm, false, &kvm, err);
	if (ret < 0)
		return ret;
	close_and_reset(&paths->kvm);
	paths->kvm = kvm;
	root = open(paths->root ? paths->root : b->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return krun_make_error(err, errno, "open the container root `%s`", b->rootfs);
	ret = confine_root(root, &tree, err);
	if (ret < 0)
		return ret;
	/* A directory fd of the old tree would lead out of the new root by "..". */
	close_and_reset(&root);
	close_and_reset(&paths->root_fd);
	free(paths->root);
	xasprintf(&paths->root, "/proc/self/fd/%d", tree);
	return confine_no_directory_fds(tree, err);
}

static int boot(struct child_ctx *ctx, int *status, krun_error_t *err)
{
	const struct container_child *c = ctx->c;
	struct machine_config m = { 0 };
	int ret;

	if (is_sandbox(c->bundle->cfg)) {
		/* Nothing to enter: `krun exec` is refused at once rather than left waiting. */
		if (c->agent_listener >= 0)
			close(c->agent_listener);
		*status = hold_namespaces();
		return 0;
	}
	prctl(PR_SET_NAME, "krun");
	ret = enter_vmm_root(ctx, err);
	if (ret < 0)
		return ret;
	fill_machine(ctx, &m);
	log_debug("container `%s`: %u vCPUs, %llu MiB, kernel `%s`, init `%s`, root `%s`", c->id,
		  m.cpus, (unsigned long long)m.ram_mib, m.kernel_path, m.init_path, m.root_path);
	return machine_run(&m, status, err);
}

/* Waits for `start`, runs the startContainer hooks and tells `start` how they went. */
static int wait_for_start(const struct child_ctx *ctx, int listener, krun_error_t *err)
{
	const struct container_child *c = ctx->c;
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
	ret = run_hooks(ctx, h->start_container, h->n_start_container, "startContainer",
			CONTAINER_RUNNING, err);
	start_socket_reply(conn, ret < 0 ? (*err)->msg : NULL);
	return ret;
}

static __attribute__((noreturn)) void fail_to_start(krun_error_t err)
{
	log_error(err ? err->msg : "the container failed to start");
	_exit(1);
}

void container_process_main(const struct container_child *c)
{
	struct child_ctx ctx = { .c = c, .paths.root_fd = -1, .paths.kvm = -1 };
	krun_error_t err = NULL;
	int status = 1, ret;

	reset_signals();
	ret = set_up(&ctx, &err);
	if (ret < 0) {
		sync_send(c->sync_fd, SYNC_ERROR, err ? err->msg : "container set-up failed", NULL);
		_exit(1);
	}
	if (sync_send(c->sync_fd, SYNC_READY, NULL, NULL) < 0)
		_exit(1);
	close(c->sync_fd);
	if (c->console_sock >= 0)
		close(c->console_sock);
	ret = wait_for_start(&ctx, c->start_listener, &err);
	close(c->start_listener);
	if (ret < 0)
		fail_to_start(err);
	ret = boot(&ctx, &status, &err);
	if (ret < 0)
		fail_to_start(err);
	_exit(status);
}
