/* krun exec [options] ID [CMD [ARGS...]]: runs a process in the container's VM through the
 * exec channel (docs/exec.md) and stands for it on the host: its pid is the one --pid-file
 * receives, it relays stdio (or a terminal) and signals, and exits with the process' status.
 * With --detach the stand-in goes on in the background once the process runs, for the
 * caller's subreaper (conmon, containerd's shim) to wait on, as they wait on crun's. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "agent/client.h"
#include "oci/cgroup.h"
#include "oci/config.h"
#include "oci/console_socket.h"
#include "oci/exec_process.h"
#include "oci/id_verb.h"
#include "oci/launch.h"
#include "oci/log.h"
#include "oci/verbs.h"
#include "util/util.h"

#define EXEC_MAX_GIDS 256

struct exec_opts {
	const char *process_file, *console_socket, *pid_file;
	bool detach;
	struct exec_changes changes;
	struct strv env, caps;
	uint32_t gids[EXEC_MAX_GIDS];
};

enum {
	OPT_CONSOLE_SOCKET = 256,
	OPT_PID_FILE,
	OPT_CWD,
	OPT_NO_NEW_PRIVS,
	OPT_PRESERVE_FDS,
	OPT_LABEL,
	OPT_APPARMOR,
};

static const struct option options[] = {
	{ "process", required_argument, NULL, 'p' },
	{ "tty", no_argument, NULL, 't' },
	{ "detach", no_argument, NULL, 'd' },
	{ "env", required_argument, NULL, 'e' },
	{ "user", required_argument, NULL, 'u' },
	{ "additional-gids", required_argument, NULL, 'g' },
	{ "cap", required_argument, NULL, 'c' },
	{ "console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "cwd", required_argument, NULL, OPT_CWD },
	{ "no-new-privs", no_argument, NULL, OPT_NO_NEW_PRIVS },
	{ "preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS },
	{ "process-label", required_argument, NULL, OPT_LABEL },
	{ "apparmor", required_argument, NULL, OPT_APPARMOR },
	{ NULL, 0, NULL, 0 },
};
#define OPTSTRING "+:p:tde:u:g:c:"

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_user(const char *s, struct exec_changes *c, krun_error_t *err)
{
	char uid[32];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	if (n >= sizeof(uid))
		return cli_usage_error(err, "exec: --user `%s` is not UID[:GID]", s);
	memcpy(uid, s, n);
	uid[n] = '\0';
	if (parse_u32(uid, &c->uid) < 0 || (colon && parse_u32(colon + 1, &c->gid) < 0))
		return cli_usage_error(err, "exec: --user `%s` is not UID[:GID]", s);
	if (!colon)
		c->gid = 0;
	c->has_user = true;
	return 0;
}

static int parse_gids(const char *s, struct exec_opts *o, krun_error_t *err)
{
	cleanup_free char *copy = xstrdup(s);
	char *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->changes.n_gids >= EXEC_MAX_GIDS ||
		    parse_u32(t, &o->gids[o->changes.n_gids]) < 0)
			return cli_usage_error(err, "exec: --additional-gids `%s` is not GID,...",
					       s);
		o->changes.n_gids++;
	}
	o->changes.gids = o->gids;
	return 0;
}

static void strv_push(struct strv *s, const char *v)
{
	s->v = xrealloc(s->v, (s->n + 2) * sizeof(*s->v));
	s->v[s->n++] = xstrdup(v);
	s->v[s->n] = NULL;
}

static int take_option(int c, struct exec_opts *o, krun_error_t *err)
{
	uint32_t n;

	switch (c) {
	case 'p':
		o->process_file = optarg;
		return 0;
	case 't':
		o->changes.terminal = 1;
		return 0;
	case 'd':
		o->detach = true;
		return 0;
	case 'e':
		strv_push(&o->env, optarg);
		return 0;
	case 'u':
		return parse_user(optarg, &o->changes, err);
	case 'g':
		return parse_gids(optarg, o, err);
	case 'c':
		strv_push(&o->caps, optarg);
		return 0;
	case OPT_CONSOLE_SOCKET:
		o->console_socket = optarg;
		return 0;
	case OPT_PID_FILE:
		o->pid_file = optarg;
		return 0;
	case OPT_CWD:
		o->changes.cwd = optarg;
		return 0;
	case OPT_NO_NEW_PRIVS:
		o->changes.no_new_privs = true;
		return 0;
	case OPT_PRESERVE_FDS:
		if (parse_u32(optarg, &n) < 0)
			return cli_usage_error(err, "exec: --preserve-fds `%s` is not a number",
					       optarg);
		if (n > 0)
			return krun_make_error(err, EINVAL,
					       "exec: --preserve-fds %u: host fds cannot be passed "
					       "into a VM",
					       n);
		return 0;
	case OPT_LABEL:
	case OPT_APPARMOR:
		log_warning("exec: SELinux and AppArmor labels are not applied in the VM");
		return 0;
	default:
		return -EINVAL;
	}
}

/* The base process: --process FILE (a process object), else the container's own. */
static int base_process(const struct container_state *s, const char *file, struct oci_process *p,
			krun_error_t *err)
{
	cleanup_free char *text = NULL;
	yajl_val doc = NULL;
	size_t len;
	int ret;

	if (!file) {
		struct oci_config *cfg = NULL;
		cleanup_free char *path = NULL;
		xasprintf(&path, "%s/config.json", s->dir);
		if (read_file_at(AT_FDCWD, path, OCI_CONFIG_MAX_SIZE, &text, &len) < 0)
			return krun_make_error(err, errno, "exec: read `%s`", path);
		ret = oci_config_parse(text, len, &cfg, err);
		if (ret < 0)
			return ret;
		if (!cfg->has_process) {
			oci_config_free(cfg);
			return krun_make_error(err, EINVAL, "exec: container `%s` has no process",
					       s->id);
		}
		*p = cfg->process;
		memset(&cfg->process, 0, sizeof(cfg->process));
		oci_config_free(cfg);
		return 0;
	}
	if (read_file_at(AT_FDCWD, file, OCI_CONFIG_MAX_SIZE, &text, &len) < 0)
		return krun_make_error(err, errno, "exec: read the process file `%s`", file);
	ret = json_parse_object(file, text, len, &doc, err);
	if (ret == 0)
		ret = oci_parse_process(doc, p, err);
	yajl_tree_free(doc);
	return ret;
}

static int check_running(const struct container_state *s, krun_error_t *err)
{
	enum container_status st;
	int ret = status_get(s, &st, err);

	if (ret < 0)
		return ret;
	if (st == CONTAINER_PAUSED)
		return krun_make_error(err, EBUSY, "exec: container `%s` is paused", s->id);
	if (st != CONTAINER_RUNNING)
		return krun_make_error(err, EINVAL, "exec: container `%s` is not running (%s)",
				       s->id, status_name(st));
	return 0;
}

static int connect_agent(const struct container_state *s, int *sock, krun_error_t *err)
{
	cleanup_free char *path = NULL;

	xasprintf(&path, "%s/agent.sock", s->dir);
	if (console_socket_connect(path, sock, err) < 0)
		return krun_error_wrap(err, "exec: container `%s` takes no exec", s->id);
	return 0;
}

/* The stand-in joins the container's cgroup, as crun's exec'd processes do: `krun ps`
 * lists it, `kill --all` reaches it (and through it the guest process), and `delete
 * --force` ends it. */
static int join_cgroup(const struct container_state *s, krun_error_t *err)
{
	cleanup_cgroup struct cgroup *cg = NULL;
	int ret;

	if (!s->cgroup_path)
		return 0;
	ret = launch_open_cgroup(s, &cg, err);
	if (ret == 0)
		ret = cgroup_enter(cg, getpid(), err);
	return ret < 0 ? krun_error_wrap(err, "exec: join the cgroup of container `%s`", s->id) : 0;
}

/* How long an exec waits for the guest's agent: right after `start` the guest may still
 * be booting (seconds under emulation), and a connection the guest refuses is tried again. */
#define AGENT_WAIT_MS	 60000
#define AGENT_RETRY_USEC 100000

/* Connects to the agent and waits for its READY, through a boot still under way. */
static int reach_agent(const struct container_state *s, struct agent_client *c, krun_error_t *err)
{
	struct timespec start, now;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		ret = connect_agent(s, &c->sock, err);
		if (ret == 0)
			ret = agent_client_await_ready(c, AGENT_WAIT_MS, err);
		if (ret != -ECONNRESET && ret != -ECONNREFUSED)
			return ret;
		agent_client_release(c);
		close_and_reset(&c->sock);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 > AGENT_WAIT_MS)
			return krun_error_wrap(err,
					       "exec: container `%s`'s agent was not reached "
					       "in %d s",
					       s->id, AGENT_WAIT_MS / 1000);
		krun_error_release(err);
		ret = check_running(s, err); /* the VM may have ended meanwhile */
		if (ret < 0)
			return ret;
		usleep(AGENT_RETRY_USEC);
	}
}

/* With a terminal: a host pty whose master goes to the caller; the stand-in relays its
 * slave, raw, since the guest's own terminal does the line discipline. */
static int open_terminal(const struct exec_opts *o, struct agent_client *c, krun_error_t *err)
{
	cleanup_close int master = -1, sock = -1;
	struct termios t;
	int slave, ret;

	if (!o->console_socket) {
		if (!isatty(STDIN_FILENO))
			return krun_make_error(err, EINVAL,
					       "exec: --tty needs --console-socket or a terminal");
		c->in = c->out = c->winsize_from = STDIN_FILENO;
		c->err = -1;
		return 0;
	}
	ret = pty_open(&master, &slave, 0, 0, err);
	if (ret < 0)
		return ret;
	ret = console_socket_connect(o->console_socket, &sock, err);
	if (ret == 0)
		ret = console_socket_send_fd(sock, master, NULL, err);
	if (ret == 0 && tcgetattr(slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(slave, TCSANOW, &t);
	}
	if (ret < 0) {
		close(slave);
		return ret;
	}
	c->in = c->out = c->winsize_from = slave;
	c->err = -1;
	return 0;
}

/* Every signal the stand-in can take goes to the process, but those of its own faults and
 * children, and SIGPIPE (a reader of its output that went away is its own business). */
static void forwarded(sigset_t *set)
{
	static const int kept[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,	SIGILL,	 SIGFPE, SIGTRAP,
				    SIGSYS,  SIGABRT, SIGCHLD, SIGPIPE, SIGTTIN, SIGTTOU };

	sigfillset(set);
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
		sigdelset(set, kept[i]);
}

/* The stand-in: with a terminal, in a session of its own where the terminal is its
 * controlling one, so that its SIGWINCH comes (when the caller made it a group leader,
 * the terminal's size is only sent at start). */
static int stand_in(struct agent_client *c, const sigset_t *set, krun_error_t *err)
{
	int status, ret;

	if (c->winsize_from >= 0 && c->winsize_from != STDIN_FILENO && setsid() >= 0)
		ioctl(c->winsize_from, TIOCSCTTY, 0);
	ret = agent_client_relay(c, set, &status, err);
	return ret < 0 ? ret : status;
}

/* Once the process runs: the stand-in is this process, or with --detach a child left to
 * the caller's subreaper; the pid file names it either way. */
static int go_on(const struct exec_opts *o, struct agent_client *c, const sigset_t *set,
		 krun_error_t *err)
{
	pid_t pid = o->detach ? fork() : getpid();

	if (pid < 0)
		return krun_make_error(err, errno, "exec: fork the stand-in");
	if (pid == 0) {
		int status = stand_in(c, set, err);
		if (status < 0)
			log_error((*err)->msg);
		_exit(status < 0 ? 125 : status);
	}
	if (o->pid_file && launch_write_pid_file(o->pid_file, pid, err) < 0) {
		if (o->detach)
			kill(pid, SIGKILL);
		return -EIO;
	}
	return o->detach ? 0 : stand_in(c, set, err);
}

static int parse_args(int argc, char **argv, struct exec_opts *o, const char **id,
		      krun_error_t *err)
{
	int ch, ret;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, OPTSTRING, options, NULL)) != -1) {
		if (ch == ':' || ch == '?')
			return cli_getopt_error(argv[0], ch, OPTSTRING, argv, err);
		ret = take_option(ch, o, err);
		if (ret < 0)
			return ret;
	}
	if (optind >= argc)
		return cli_usage_error(err, "exec: no container ID given");
	*id = argv[optind];
	o->changes.args = argv + optind + 1;
	o->changes.n_args = (size_t)(argc - optind - 1);
	if (!o->process_file && o->changes.n_args == 0)
		return cli_usage_error(err, "exec: no command given");
	if (o->process_file && o->changes.n_args > 0)
		return cli_usage_error(err, "exec: --process and a command cannot both be given");
	o->changes.env = o->env.v;
	o->changes.n_env = o->env.n;
	o->changes.caps = o->caps.v;
	o->changes.n_caps = o->caps.n;
	return 0;
}

/* The process, sent: 0 with the stand-in's status in *status, or the status of a process
 * that could not start (its reason logged). */
static int exec_in(const struct cli_globals *g, struct exec_opts *o, const char *id,
		   struct agent_client *c, const sigset_t *set, krun_error_t *err)
{
	cleanup_container_state struct container_state *s = NULL;
	cleanup_free char *json = NULL, *why = NULL;
	struct oci_process p = { 0 };
	pid_t guest;
	int ret, status;

	ret = id_verb_load(g, id, &s, err);
	if (ret < 0)
		return ret;
	ret = check_running(s, err);
	if (ret == 0)
		ret = join_cgroup(s, err);
	if (ret < 0)
		return ret;
	ret = base_process(s, o->process_file, &p, err);
	if (ret == 0)
		ret = exec_process_json(&p, &o->changes, &json, err);
	if (ret == 0)
		ret = reach_agent(s, c, err);
	if (ret == 0 && p.terminal)
		ret = open_terminal(o, c, err);
	oci_process_release(&p);
	if (ret < 0)
		return ret;
	ret = agent_client_start(c, json, &guest, &status, &why, err);
	if (ret < 0)
		return ret;
	if (guest == 0) {
		log_error(why);
		return status;
	}
	return go_on(o, c, set, err);
}

int krun_cmd_exec(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	struct exec_opts o = { .changes.terminal = -1 };
	struct agent_client c = { .sock = -1,
				  .in = STDIN_FILENO,
				  .out = STDOUT_FILENO,
				  .err = STDERR_FILENO,
				  .winsize_from = -1 };
	const char *id = NULL;
	sigset_t set;
	int ret;

	/* Blocked from the start: a signal sent while the process starts is forwarded once
	 * it runs. */
	forwarded(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = parse_args(argc, argv, &o, &id, err);
	if (ret == 0)
		ret = exec_in(g, &o, id, &c, &set, err);
	agent_client_release(&c);
	if (c.sock >= 0)
		close(c.sock);
	strv_free(&o.env);
	strv_free(&o.caps);
	return ret;
}
