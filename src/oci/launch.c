/* Creating a container (the runtime's side of the set-up handshake, the state, the hooks it
 * runs, the pid file) and the steps `start`, `run` and `delete` share afterwards. */
#include "oci/launch.h"
#include "agent/bridge.h"
#include "oci/cgroup.h"
#include "oci/console_socket.h"
#include "oci/container_process.h"
#include "oci/hooks.h"
#include "oci/log.h"
#include "oci/namespaces.h"
#include "oci/process.h"
#include "oci/start_socket.h"
#include "oci/sync.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct parent {
	const struct launch *l;
	const struct oci_config *cfg;
	char *root;
	char *dir;
	struct ns_plan ns;
	int console_sock;
	int start_listener;
	int agent_listener;
	int sync_fd;
	pid_t pid;
	struct cgroup *cg;
	struct container_state *state;
};

static char *owner_name(void)
{
	struct passwd *pw = getpwuid(geteuid());
	char *name;

	if (pw)
		return xstrdup(pw->pw_name);
	xasprintf(&name, "%u", (unsigned)geteuid());
	return name;
}

static char *now_rfc3339(void)
{
	char buf[LOG_TIME_SIZE];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	log_format_time(&ts, buf);
	return xstrdup(buf);
}

static int write_file(const char *dir, const char *name, const char *data, size_t len,
		      krun_error_t *err)
{
	cleanup_free char *path = NULL;
	cleanup_close int fd = -1;

	xasprintf(&path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		return krun_make_error(err, errno ? errno : EIO, "write `%s`", path);
	return 0;
}

/* The exec channel's socket (docs/exec.md), made here for the same reason as the start
 * socket: the container process may not reach the state directory. */
static int make_agent_socket(const char *dir, krun_error_t *err)
{
	cleanup_free char *path = NULL;

	xasprintf(&path, "%s/agent.sock", dir);
	return agent_socket_listen(path, err);
}

static int make_state_dir(struct parent *p, krun_error_t *err)
{
	const struct bundle *b = p->l->bundle;
	int ret;

	ret = status_dir_create(p->root, p->l->opts->id, &p->dir, err);
	if (ret < 0)
		return ret;
	ret = write_file(p->dir, "config.json", b->config_json, b->config_json_len, err);
	if (ret < 0)
		return ret;
	ret = start_socket_listen(p->dir, err);
	if (ret < 0)
		return ret;
	p->start_listener = ret;
	ret = make_agent_socket(p->dir, err);
	if (ret < 0)
		return ret;
	p->agent_listener = ret;
	return 0;
}

/* With process.terminal the pty master is handed over --console-socket; only a foreground
 * `run` on a terminal may do without, carrying krun's own terminal instead. */
static int open_console(struct parent *p, bool *own_terminal, krun_error_t *err)
{
	const struct container_opts *o = p->l->opts;

	*own_terminal = false;
	if (!p->cfg->process.terminal) {
		if (o->console_socket)
			return krun_make_error(err, 0,
					       "--console-socket is given but process.terminal "
					       "is false in config.json");
		return 0;
	}
	if (o->console_socket)
		return console_socket_connect(o->console_socket, &p->console_sock, err);
	if (p->l->foreground && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
		*own_terminal = true;
		return 0;
	}
	return krun_make_error(err, 0,
			       "process.terminal is set: use --console-socket%s so that the "
			       "terminal can be handed over",
			       p->l->foreground ? " (or run krun on a terminal)" : "");
}

static int clone_child(struct parent *p, bool own_terminal, krun_error_t *err)
{
	cleanup_close int ours = -1, theirs = -1;
	int sv[2];
	pid_t pid;
	int ret;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return krun_make_error(err, errno, "create the set-up socket");
	ours = sv[0];
	theirs = sv[1];
	ret = ns_join_pid(&p->ns, err);
	if (ret < 0)
		return ret;
	fflush(NULL);
	pid = syscall(SYS_clone, p->ns.clone_flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return krun_make_error(err, errno, "create the container process");
	if (pid == 0) {
		struct container_child c = {
			.g = p->l->g,
			.bundle = p->l->bundle,
			.ns = &p->ns,
			.id = p->l->opts->id,
			.sync_fd = theirs,
			.start_listener = p->start_listener,
			.agent_listener = p->agent_listener,
			.console_sock = p->console_sock,
			.own_terminal = own_terminal,
		};
		close_and_reset(&ours);
		container_process_main(&c);
	}
	p->sync_fd = steal_fd(&ours);
	p->pid = pid;
	return 0;
}

static int join_cgroup(struct parent *p, krun_error_t *err)
{
	const struct cli_globals *g = p->l->g;
	cleanup_free char *path = NULL;

	if (g->cgroup_manager == CLI_CGROUP_DISABLED)
		return 0;
	if (p->cfg->cgroups_path)
		path = xstrdup(p->cfg->cgroups_path);
	else
		xasprintf(&path, "/%s", p->l->opts->id);
	if (g->cgroup_manager == CLI_CGROUP_SYSTEMD)
		return cgroup_create_systemd(CGROUP_ROOT, p->cfg->cgroups_path, p->l->opts->id,
					     p->pid, &p->cfg->resources, &p->cg, err);
	return cgroup_create(CGROUP_ROOT, path, p->pid, &p->cfg->resources, &p->cg, err);
}

static int record_state(struct parent *p, krun_error_t *err)
{
	struct container_state *s = xzalloc(sizeof(*s));
	const struct bundle *b = p->l->bundle;

	p->state = s;
	s->id = xstrdup(p->l->opts->id);
	s->dir = xstrdup(p->dir);
	s->pid = p->pid;
	s->start_time = status_process_start_time(p->pid);
	s->bundle = xstrdup(b->path);
	s->rootfs = xstrdup(b->cfg->root_path);
	s->created = now_rfc3339();
	s->owner = owner_name();
	s->cgroup_manager = p->l->g->cgroup_manager;
	/* systemd finds its unit again from the configured name, cgroupfs from the path. */
	if (p->cg && s->cgroup_manager == CLI_CGROUP_SYSTEMD)
		s->cgroup_path = xstrdup(p->cfg->cgroups_path ? p->cfg->cgroups_path : "");
	else if (p->cg)
		s->cgroup_path = xstrdup(cgroup_get_path(p->cg));
	s->detached = !p->l->foreground;
	if (!s->start_time)
		return krun_make_error(err, 0, "the container process exited during set-up");
	return status_write(s, err);
}

static int run_parent_hooks(struct parent *p, krun_error_t *err)
{
	const struct oci_hooks *h = &p->cfg->hooks;
	cleanup_free char *json = NULL;
	size_t len;
	int ret;

	json = status_state_json(p->state, CONTAINER_CREATED, true, &len);
	ret = hooks_run(h->prestart, h->n_prestart, "prestart", json, len, err);
	if (ret < 0)
		return ret;
	return hooks_run(h->create_runtime, h->n_create_runtime, "createRuntime", json, len, err);
}

/* A file of its own, renamed over the name: whatever was planted there (a symlink to a
 * file of root's, a hard link) is replaced, never written through. The reader (conmon,
 * the shim) sees the whole pid or no file. */
int launch_write_pid_file(const char *path, pid_t pid, krun_error_t *err)
{
	cleanup_free char *tmp = NULL;
	cleanup_close int fd = -1;
	char text[16];
	int len = snprintf(text, sizeof(text), "%d", pid);
	mode_t mask = umask(0);

	umask(mask);
	xasprintf(&tmp, "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return krun_make_error(err, errno, "create a pid file next to `%s`", path);
	errno = 0;
	if (fchmod(fd, 0644 & ~mask) < 0 || write(fd, text, len) != len || rename(tmp, path) < 0) {
		int ret = krun_make_error(err, errno ? errno : EIO, "write pid file `%s`", path);

		unlink(tmp);
		return ret;
	}
	return 0;
}

/* The child made its user namespace; only we, outside it, may give it its id maps. */
static int map_user_namespace(struct parent *p, krun_error_t *err)
{
	int ret;

	if (!p->ns.new_user)
		return 0;
	ret = sync_wait(p->sync_fd, SYNC_USERNS, err);
	if (ret < 0)
		return ret;
	ret = ns_write_id_maps(p->pid, p->cfg, err);
	if (ret < 0)
		return ret;
	return sync_send(p->sync_fd, SYNC_GO, NULL, err);
}

/* Everything up to the container process, which then waits for our word at each step. */
static int start_child(struct parent *p, krun_error_t *err)
{
	bool own_terminal;
	int ret;

	ret = ns_plan_build(p->cfg, &p->ns, err);
	if (ret < 0)
		return ret;
	ret = open_console(p, &own_terminal, err);
	if (ret < 0)
		return ret;
	ret = make_state_dir(p, err);
	if (ret < 0)
		return ret;
	return clone_child(p, own_terminal, err);
}

/* The child's set-up in lockstep: its cgroup and id maps come from us, then its mounts,
 * then the state and our hooks, then its createContainer hooks, which need its host pid. */
static int guide_child(struct parent *p, krun_error_t *err)
{
	char pid_text[16];
	int ret;

	ret = join_cgroup(p, err);
	if (ret < 0)
		return ret;
	ret = sync_send(p->sync_fd, SYNC_GO, NULL, err);
	if (ret < 0)
		return ret;
	ret = map_user_namespace(p, err);
	if (ret < 0)
		return ret;
	ret = sync_wait(p->sync_fd, SYNC_MOUNTED, err);
	if (ret < 0)
		return ret;
	ret = record_state(p, err);
	if (ret < 0)
		return ret;
	ret = run_parent_hooks(p, err);
	if (ret < 0)
		return ret;
	snprintf(pid_text, sizeof(pid_text), "%d", (int)p->pid);
	ret = sync_send(p->sync_fd, SYNC_GO, pid_text, err);
	if (ret < 0)
		return ret;
	return sync_wait(p->sync_fd, SYNC_READY, err);
}

static int create_steps(struct parent *p, krun_error_t *err)
{
	int ret;

	ret = start_child(p, err);
	if (ret < 0)
		return ret;
	ret = guide_child(p, err);
	if (ret < 0)
		return ret;
	if (p->l->opts->pid_file)
		return launch_write_pid_file(p->l->opts->pid_file, p->pid, err);
	return 0;
}

/* Undoes a half-made container; the error being reported stays the first one. */
static void undo(struct parent *p)
{
	krun_error_t err = NULL;

	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	if (p->cg && cgroup_destroy(p->cg, &err) < 0)
		log_warning("%s", err->msg);
	krun_error_release(&err);
	if (p->dir && status_dir_remove(p->dir, &err) < 0)
		log_warning("%s", err->msg);
	krun_error_release(&err);
}

static void parent_release(struct parent *p)
{
	ns_plan_release(&p->ns);
	close_and_reset(&p->console_sock);
	close_and_reset(&p->start_listener);
	close_and_reset(&p->agent_listener);
	close_and_reset(&p->sync_fd);
	cgroup_free(p->cg);
	container_state_free(p->state);
	free(p->root);
	free(p->dir);
}

int launch_container(const struct launch *l, struct container_state **state, krun_error_t *err)
{
	__attribute__((cleanup(parent_release))) struct parent p = {
		.l = l,
		.cfg = l->bundle->cfg,
		.root = status_root(l->g),
		.console_sock = -1,
		.start_listener = -1,
		.agent_listener = -1,
		.sync_fd = -1,
	};
	int ret;

	ret = container_id_validate(l->opts->id, err);
	if (ret < 0)
		return ret;
	ret = create_steps(&p, err);
	if (ret < 0) {
		undo(&p);
		return ret;
	}
	*state = steal_ptr(&p.state);
	return 0;
}

int launch_start(const struct container_state *s, enum container_status st, krun_error_t *err)
{
	if (st != CONTAINER_CREATED)
		return krun_make_error(err, 0, "container `%s` is %s, not created: it cannot start",
				       s->id, status_name(st));
	return start_socket_trigger(s->dir, s->id, err);
}

int launch_open_cgroup(const struct container_state *s, struct cgroup **cg, krun_error_t *err)
{
	if (s->cgroup_manager == CLI_CGROUP_SYSTEMD)
		return cgroup_open_systemd(CGROUP_ROOT, s->cgroup_path, s->id, cg, err);
	return cgroup_open(CGROUP_ROOT, s->cgroup_path, cg, err);
}

/* Runs the poststart (or poststop) hooks of the config saved at create. */
static int run_saved_hooks(const struct container_state *s, bool poststop, krun_error_t *err)
{
	cleanup_oci_config struct oci_config *cfg = NULL;
	cleanup_free char *json = NULL;
	const struct oci_hook *hooks;
	size_t n, len;
	int ret;

	ret = oci_config_load(s->dir, &cfg, NULL, NULL, err);
	if (ret < 0)
		return ret;
	hooks = poststop ? cfg->hooks.poststop : cfg->hooks.poststart;
	n = poststop ? cfg->hooks.n_poststop : cfg->hooks.n_poststart;
	if (n == 0)
		return 0;
	json = status_state_json(s, poststop ? CONTAINER_STOPPED : CONTAINER_RUNNING, true, &len);
	return hooks_run(hooks, n, poststop ? "poststop" : "poststart", json, len, err);
}

/* What is left in a stopped container's cgroup (exec stand-ins whose VM just went, what a
 * hook left behind) is killed first, as crun does, or the cgroup could not go. */
static int remove_cgroup(const struct container_state *s, krun_error_t *err)
{
	cleanup_cgroup struct cgroup *cg = NULL;
	krun_error_t kill_err = NULL;
	int ret;

	ret = launch_open_cgroup(s, &cg, err);
	if (ret < 0)
		return ret;
	if (cgroup_kill_all(cg, SIGKILL, &kill_err) < 0)
		krun_error_release(&kill_err);
	return cgroup_destroy(cg, err);
}

int launch_cleanup(const struct container_state *s, krun_error_t *err)
{
	krun_error_t hook_err = NULL;
	int ret;

	if (run_saved_hooks(s, true, &hook_err) < 0)
		log_warning("%s", hook_err->msg);
	krun_error_release(&hook_err);
	if (s->cgroup_path) {
		/* already gone is what we want */
		ret = remove_cgroup(s, err);
		if (ret < 0 && ret != -ENOENT)
			return ret;
		krun_error_release(err);
	}
	return status_dir_remove(s->dir, err);
}

int launch_kill_and_wait(const struct container_state *s, krun_error_t *err)
{
	cleanup_cgroup struct cgroup *cg = NULL;
	cleanup_close int pidfd = -1;
	int ret;

	if (s->cgroup_path && launch_open_cgroup(s, &cg, err) < 0)
		krun_error_release(err); /* already gone: the process alone is enough */
	ret = process_open(s, &pidfd, err);
	if (ret == -ESRCH) {
		krun_error_release(err);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = process_signal(pidfd, SIGKILL, s->id, err);
	if (ret == -ESRCH) {
		krun_error_release(err);
		return 0;
	}
	if (ret < 0)
		return ret;
	if (cg) {
		/* A frozen process dies only once thawed (cgroup v1). */
		if (cgroup_kill_all(cg, SIGKILL, err) < 0 || cgroup_freeze(cg, false, err) < 0)
			krun_error_release(err);
	}
	if (process_wait_exit(pidfd, 10000) < 0)
		return krun_make_error(err, ETIMEDOUT,
				       "container `%s`: the process did not exit "
				       "after SIGKILL",
				       s->id);
	return 0;
}

int launch_poststart(const struct container_state *s, krun_error_t *err)
{
	krun_error_t cleanup_err = NULL;
	int ret = run_saved_hooks(s, false, err);

	if (ret < 0 &&
	    (launch_kill_and_wait(s, &cleanup_err) < 0 || launch_cleanup(s, &cleanup_err) < 0))
		log_warning("%s", cleanup_err->msg);
	krun_error_release(&cleanup_err);
	return ret;
}
