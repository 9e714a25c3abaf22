/* Starting and supervising the workload, on the build host: the real fork/exec path of
 * the guest init with its stdio on temp files, statuses, the exec failure channel, user
 * and limits, signal forwarding and orphan reaping. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../../init/log.h"
#include "../../init/supervisor.h"
#include "../../init/workload.h"
#include "tap.h"

static char dir[] = "/tmp/init_workload_test.XXXXXX";

struct run {
	struct init_process process;
	const char *input;
	char out[4096], err[4096], log[4096];
	int status;
	pid_t pid; /* 0 when the child failed before exec */
};

static int temp_file(const char *name, const char *content)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, content, strlen(content)) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	return fd;
}

static void slurp(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Runs process p like init does (env given as is), signalling ourselves with `signo` once
 * the workload runs (0: none). */
static void run_with(struct run *r, char **env, int signo)
{
	struct stdio_fds stdio = { .fd = { temp_file("in", r->input ? r->input : ""),
					   temp_file("out", ""), temp_file("err", "") } };
	int log_fd = temp_file("log", "");
	struct workload w = { .process = &r->process, .env = env, .stdio = &stdio };
	struct init_error err = { 0 };
	struct supervisor sup;

	log_set_fd(log_fd);
	if (r->process.num_args == 0)
		while (r->process.args[r->process.num_args])
			r->process.num_args++;
	if (!r->process.cwd)
		r->process.cwd = "/";
	ok(supervisor_open(&sup, &err) == 0 && workload_start(&w, &r->pid, &r->status, &err) == 0,
	   "workload started");
	if (r->pid > 0) {
		if (signo)
			kill(getpid(), signo); /* blocked: lands in the supervisor's signalfd */
		ok(supervisor_run(&sup, r->pid, &r->status, &err) == 0, "supervised to the end");
	}
	if (err.msg[0])
		printf("#   %s\n", err.msg);
	supervisor_close(&sup);
	log_set_fd(-1);
	close(stdio.fd[0]);
	slurp(stdio.fd[1], r->out, sizeof(r->out));
	slurp(stdio.fd[2], r->err, sizeof(r->err));
	slurp(log_fd, r->log, sizeof(r->log));
}

static char *base_env[] = { "PATH=/usr/bin:/bin", NULL };

static void test_exit_and_streams(void)
{
	struct run r = { .process.args =
			     (char *[]){ "sh", "-c", "cat; echo out; echo err >&2; exit 3", NULL },
			 .input = "from stdin\n" };
	run_with(&r, base_env, 0);
	is_int(r.status, 3, "the workload's exit code");
	is_str(r.out, "from stdin\nout\n", "stdin and stdout wired");
	is_str(r.err, "err\n", "stderr wired");
	is_str(r.log, "", "init said nothing");

	struct run k = { .process.args = (char *[]){ "sh", "-c", "kill -KILL $$", NULL } };
	run_with(&k, base_env, 0);
	is_int(k.status, 128 + SIGKILL, "killed by SIGKILL: 137");
}

static void test_exec_failures(void)
{
	struct run r = { .process.args = (char *[]){ "no-such-program-krun", NULL } };
	run_with(&r, base_env, 0);
	ok(r.pid == 0, "the child reported a failure before exec");
	is_int(r.status, 127, "not found along PATH: 127");
	is_str(r.log,
	       "krun-init: cannot execute `no-such-program-krun`: No such file or directory\n",
	       "the reason, on init's log (the workload's stderr)");

	close(temp_file("plain.txt", "not a program\n"));
	char path[256];
	snprintf(path, sizeof(path), "%s/plain.txt", dir);
	struct run n = { .process.args = (char *[]){ path, NULL } };
	run_with(&n, base_env, 0);
	is_int(n.status, 126, "not executable: 126");
	ok(strstr(n.log, "Permission denied") != NULL, "says permission denied");

	struct run d = { .process.args = (char *[]){ "/tmp", NULL } };
	run_with(&d, base_env, 0);
	is_int(d.status, 126, "a directory: 126");

	chmod(path, 0755); /* no #! and not ELF: execve refuses the format */
	struct run f = { .process.args = (char *[]){ path, NULL } };
	run_with(&f, base_env, 0);
	is_int(f.status, 126, "exec format error: 126");
	ok(strstr(f.log, "Exec format error") != NULL, "says exec format error");

	struct run p = { .process.args = (char *[]){ "prog-in-dir", NULL } };
	char *env[] = { "PATH=/nonexistent:.", NULL };
	snprintf(path, sizeof(path), "%s/prog-in-dir", dir);
	close(temp_file("prog-in-dir", "#!/bin/sh\necho relative-path-ok\n"));
	chmod(path, 0755);
	p.process.cwd = dir;
	run_with(&p, env, 0);
	is_int(p.status, 0, "found through a relative PATH entry after chdir");
	is_str(p.out, "relative-path-ok\n", "and ran");

	struct run c = { .process.args = (char *[]){ "true", NULL },
			 .process.cwd = "/no/such/dir" };
	run_with(&c, base_env, 0);
	is_int(c.status, 125, "a bad cwd: 125");
	ok(strstr(c.log, "`/no/such/dir`") && strstr(c.log, "No such file"), "names the directory");
}

static void test_env_and_cwd(void)
{
	char *env[] = { "PATH=/usr/bin:/bin", "ONLY=this", NULL };
	struct run r = { .process.args = (char *[]){ "env", NULL } };
	run_with(&r, env, 0);
	is_str(r.out, "PATH=/usr/bin:/bin\nONLY=this\n",
	       "the environment is exactly the given one");

	struct run c = { .process.args = (char *[]){ "pwd", NULL }, .process.cwd = "/usr" };
	run_with(&c, env, 0);
	is_str(c.out, "/usr\n", "cwd applied");
}

static void test_user_and_limits(void)
{
	struct run r = {
		.process.args =
		    (char *[]){ "sh", "-c", "echo $(id -u) $(id -g) $(id -G); umask", NULL },
		.process.user = { .uid = 65534,
				  .gid = 65533,
				  .num_additional_gids = 2,
				  .additional_gids = (uint32_t[]){ 5, 7 },
				  .has_umask = true,
				  .umask = 027 },
	};
	if (geteuid() != 0) {
		ok(1, "# skip user switch needs root");
	} else {
		run_with(&r, base_env, 0);
		is_str(r.out, "65534 65533 65533 5 7\n0027\n", "uid, gid, additional gids, umask");
	}

	struct init_rlimit limits[] = { { RLIMIT_NOFILE, 100, 200 }, { RLIMIT_CORE, 0, 0 } };
	struct run l = { .process.args =
			     (char *[]){ "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c", NULL },
			 .process.rlimits = limits,
			 .process.num_rlimits = 2 };
	run_with(&l, base_env, 0);
	is_str(l.out, "100\n200\n0\n", "rlimits applied in the child");
	struct rlimit mine;
	getrlimit(RLIMIT_NOFILE, &mine);
	ok(mine.rlim_cur != 100, "init's own limits untouched");

	struct init_rlimit too_high[] = { { RLIMIT_NOFILE, 1ull << 40, 1ull << 40 } };
	struct run h = { .process.args = (char *[]){ "true", NULL },
			 .process.rlimits = too_high,
			 .process.num_rlimits = 1 };
	run_with(&h, base_env, 0);
	is_int(h.status, 125, "an rlimit the kernel refuses: 125");
	ok(strstr(h.log, "set RLIMIT_NOFILE") != NULL, "names the limit");

	struct run n = { .process.args =
			     (char *[]){ "grep", "^NoNewPrivs:", "/proc/self/status", NULL },
			 .process.no_new_privileges = true };
	run_with(&n, base_env, 0);
	ok(strstr(n.out, "NoNewPrivs:\t1") != NULL, "noNewPrivileges applied");
}

static void test_signals_and_orphans(void)
{
	static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct init_rlimit no_core[] = { { RLIMIT_CORE, 0, 0 } };

	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		struct run r = { .process.args = (char *[]){ "sleep", "10", NULL },
				 .process.rlimits = no_core,
				 .process.num_rlimits = 1 };
		char name[64];
		run_with(&r, base_env, forwarded[i]);
		snprintf(name, sizeof(name), "%s to init reaches the workload: %d",
			 strsignal(forwarded[i]), 128 + forwarded[i]);
		is_int(r.status, 128 + forwarded[i], name);
	}

	/* The inner shell leaves a sleeper behind: an orphan that init must reap. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	struct run o = { .process.args = (char *[]){
			     "sh", "-c", "sh -c 'sleep 0.05 &'; sleep 0.5; exit 4", NULL } };
	run_with(&o, base_env, 0);
	is_int(o.status, 4, "the workload's status, not the orphan's");
	errno = 0;
	ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "the orphan was reaped");
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* With a terminal, the workload gets it as its controlling tty on 0, 1 and 2. */
static void test_terminal(void)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	ok(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "pty created");
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct stdio_fds stdio = { .fd = { slave, slave, slave }, .terminal = true };
	struct init_process p = {
		.args = (char *[]){ "sh", "-c",
				    "test -t 0 && test -t 2 && echo x >/dev/tty && "
				    "echo ctty-$(ps -o stat= -p $$ | cut -c1-2)",
				    NULL },
		.num_args = 3,
		.cwd = "/",
	};
	struct workload w = { .process = &p, .env = base_env, .stdio = &stdio };
	struct init_error err = { 0 };
	struct supervisor sup;
	pid_t pid;
	int status = -1;

	ok(supervisor_open(&sup, &err) == 0 && workload_start(&w, &pid, &status, &err) == 0 &&
	       pid > 0 && supervisor_run(&sup, pid, &status, &err) == 0,
	   "terminal workload ran");
	supervisor_close(&sup);
	is_int(status, 0, "stdin and stderr are the tty, /dev/tty opens");
	/* The two lines may come in separate reads. */
	char buf[256] = "";
	size_t len = 0;
	struct pollfd pfd = { .fd = master, .events = POLLIN };
	while (len < sizeof(buf) - 1 && !strchr(strstr(buf, "ctty-") ?: "", '\n') &&
	       poll(&pfd, 1, 2000) == 1) {
		ssize_t n = read(master, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
	}
	ok(strstr(buf, "ctty-Ss") != NULL, "a session leader with the terminal as its ctty");
	if (!strstr(buf, "ctty-Ss"))
		printf("#   output: %s\n", buf);
	close(slave);
	close(master);
}

int main(void)
{
	if (!mkdtemp(dir))
		abort();
	test_exit_and_streams();
	test_exec_failures();
	test_env_and_cwd();
	test_user_and_limits();
	test_signals_and_orphans();
	test_terminal();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
	return tap_done();
}
