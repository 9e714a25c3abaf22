/* krun-init: PID 1 of every krun microVM. Mounts what a container expects, reads the OCI
 * config the VMM serves at /.krun_config.json, runs the process it describes, reaps
 * orphans while it runs, reports its exit status to the VMM and powers the VM off. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "agent.h"
#include "config.h"
#include "env.h"
#include "host_signals.h"
#include "log.h"
#include "mounts.h"
#include "net.h"
#include "report.h"
#include "streams.h"
#include "supervisor.h"
#include "workload.h"

#define DEFAULT_HOSTNAME "localhost"

/* The kernel leaves fds 0-2 closed when the root has no /dev/console. Fill the holes
 * before opening anything, so that no fd of ours lands there and gets clobbered by the
 * child's dup2 onto 0-2. Returns whether fd 2 was open (a place for early messages). */
static bool reserve_std_fds(void)
{
	bool had_stderr = fcntl(STDERR_FILENO, F_GETFD) >= 0;

	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/", O_RDONLY | O_DIRECTORY) < 0)
			break;
	return had_stderr;
}

static int set_names(const struct init_config *cfg, struct init_error *err)
{
	const char *hostname = cfg->hostname ? cfg->hostname : DEFAULT_HOSTNAME;

	if (sethostname(hostname, strlen(hostname)) < 0)
		return init_fail(err, errno, "set the hostname to `%s`", hostname);
	if (cfg->domainname && setdomainname(cfg->domainname, strlen(cfg->domainname)) < 0)
		return init_fail(err, errno, "set the domain name to `%s`", cfg->domainname);
	return 0;
}

/* A workload can run without the network, and most do: a failure here is a warning. */
static void setup_network(void)
{
	struct init_error err = { 0 };

	if (net_setup(&err) < 0)
		log_msg("warning: %s", err.msg);
}

/* Everything before the workload. The default mounts happen even when the config is bad,
 * because the console and the stdio ports live in /dev and /sys. */
static int prepare(struct init_config *cfg, bool *have_cfg, struct init_error *err)
{
	int ret = config_load(KRUN_CONFIG_PATH, cfg, err);
	*have_cfg = ret == 0;
	int mounted = mounts_setup(cfg->mounts, cfg->num_mounts, err);
	if (ret < 0)
		return ret;
	if (mounted < 0)
		return mounted;
	ret = dev_links_setup(err);
	if (ret < 0)
		return ret;
	setup_network();
	return set_names(cfg, err);
}

/* Holding the port open before the workload starts tells the host that signals reach
 * it from now on; those sent before it runs wait in the port. */
static void watch_host_signals(struct supervisor *sup)
{
	struct init_error err = { 0 };
	int fd = host_signals_open(PORTS_DIR, "/dev", PORTS_WAIT_MS, &err);

	if (fd < 0 || supervisor_watch_host(sup, fd, &err) < 0)
		log_msg("warning: %s: signals sent to the container will not reach the workload",
			err.msg);
}

/* Without vsock (a VM with no vsock device) nothing can enter the VM: said only when the
 * device is there and the agent still fails. */
static void start_agent(struct supervisor *sup, struct agent *agent)
{
	struct init_error err = { 0 };

	if (agent_open(agent, &sup->loop, &err) == 0)
		sup->agent = agent;
	else if (err.errnum != EAFNOSUPPORT && err.errnum != ENODEV)
		log_msg("warning: %s: `krun exec` cannot enter this container", err.msg);
}

static int run_workload(const struct init_config *cfg, const struct stdio_fds *stdio)
{
	cleanup_strv char **env = env_for_process(&cfg->process);
	const struct workload w = { .process = &cfg->process, .env = env, .stdio = stdio };
	struct init_error err = { 0 };
	struct supervisor sup;
	struct agent agent;
	pid_t pid;
	int status;

	if (supervisor_open(&sup, &err) < 0) {
		log_msg("%s", err.msg);
		return STATUS_INIT_FAILED;
	}
	watch_host_signals(&sup);
	start_agent(&sup, &agent);
	if (workload_start(&w, &pid, &status, &err) < 0) {
		log_msg("%s", err.msg);
		return STATUS_INIT_FAILED;
	}
	if (!stdio->terminal) {
		/* The workload holds them now; init keeps stderr only, for its messages. */
		close(stdio->fd[0]);
		close(stdio->fd[1]);
	}
	if (pid > 0 && supervisor_run(&sup, pid, &status, &err) < 0) {
		log_msg("%s", err.msg);
		status = STATUS_INIT_FAILED;
	}
	/* The workload is gone: so are the processes entered beside it. */
	if (sup.agent)
		agent_close(sup.agent);
	return status;
}

static int run(void)
{
	struct init_config cfg;
	struct init_error err = { 0 }, stdio_err = { 0 };
	struct stdio_fds stdio;
	bool have_cfg;

	log_to_console();
	int ret = prepare(&cfg, &have_cfg, &err);
	bool terminal = have_cfg && cfg.process.terminal;
	if (stdio_open(terminal, have_cfg, &stdio, &stdio_err) == 0)
		log_set_fd(stdio.fd[2]);
	else if (ret == 0) {
		err = stdio_err;
		ret = -EIO;
	}
	if (ret < 0) {
		log_msg("%s", err.msg);
		return STATUS_INIT_FAILED;
	}
	return run_workload(&cfg, &stdio);
}

int main(void)
{
	if (getpid() != 1) {
		log_set_fd(STDERR_FILENO);
		log_msg("this is the init of a krun microVM and runs only as its PID 1 (this is "
			"pid %d); doing nothing",
			(int)getpid());
		return STATUS_INIT_FAILED;
	}
	log_set_fd(reserve_std_fds() ? STDERR_FILENO : -1);
	int root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	report_and_power_off(root_fd, run());
}
