/* The exec agent of the guest init, on the build host: the test stands where the host's
 * bridge stands (one end of a socketpair per connection) and drives real processes
 * through the agent's records: output, status, stdin with back-pressure both ways, a
 * terminal, signals, failures to start, malformed records, hang-ups, many at once. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../../init/agent.h"
#include "../../init/log.h"
#include "agent/proto.h"
#include "tap.h"

/* ok() with a formatted name: what was got goes into the line. */
#define okf(cond, ...)                                                                             \
	({                                                                                         \
		int _c = !!(cond);                                                                 \
		char _name[512];                                                                   \
		snprintf(_name, sizeof(_name), __VA_ARGS__);                                       \
		ok(_c, _name);                                                                     \
	})

static struct loop loop;
static struct agent agent;

/* What one connection brought back. */
struct result {
	char out[1 << 21], err[4096];
	size_t out_len, err_len;
	bool started, exited, failed, closed;
	int records;	      /* taken so far */
	bool ready_first;     /* the first record was READY, version 1 */
	uint32_t pid, status; /* the wait status (EXIT) or the exit status (ERROR) */
	char msg[1100];
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void put_record(int fd, uint32_t type, const void *p, size_t len)
{
	struct agent_record_header h = { type, (uint32_t)len };
	struct pollfd pfd = { fd, POLLOUT, 0 };
	uint8_t buf[sizeof(h) + AGENT_RECORD_MAX];
	size_t off = 0;

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, len);
	while (off < sizeof(h) + len) {
		ssize_t n = send(fd, buf + off, sizeof(h) + len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			return;
		else if (poll(&pfd, 1, 0) == 0)
			loop_dispatch(&loop, 10, &(struct init_error){ 0 });
	}
}

static void exec_json(int fd, const char *json)
{
	put_record(fd, AGENT_EXEC, json, strlen(json));
}

static char json[4096];

/* {"process": ...} running sh -c SCRIPT as root in / (terminal when tty). */
static const char *sh(const char *script, bool tty)
{
	snprintf(json, sizeof(json),
		 "{\"process\":{\"args\":[\"/bin/sh\",\"-c\",\"%s\"],\"cwd\":\"/\","
		 "\"env\":[\"PATH=/usr/bin:/bin\"],\"terminal\":%s}}",
		 script, tty ? "true" : "false");
	return json;
}

/* Takes whole records from the host's end of the connection (non-blocking). */
struct reader {
	uint8_t buf[sizeof(struct agent_record_header) + AGENT_RECORD_MAX];
	size_t len;
};

static void take(struct result *r, uint32_t type, const uint8_t *p, uint32_t len)
{
	if (r->records++ == 0)
		r->ready_first = type == AGENT_READY && len == 4 &&
				 *(const uint32_t *)p == AGENT_PROTOCOL_VERSION;
	switch (type) {
	case AGENT_STARTED:
		r->started = len == 4;
		memcpy(&r->pid, p, 4);
		break;
	case AGENT_STDOUT:
		if (r->out_len + len <= sizeof(r->out)) {
			memcpy(r->out + r->out_len, p, len);
			r->out_len += len;
		}
		break;
	case AGENT_STDERR:
		if (r->err_len + len < sizeof(r->err)) {
			memcpy(r->err + r->err_len, p, len);
			r->err_len += len;
		}
		break;
	case AGENT_EXIT:
		r->exited = len == 4;
		memcpy(&r->status, p, 4);
		break;
	case AGENT_ERROR:
		r->failed = len >= 4;
		memcpy(&r->status, p, 4);
		snprintf(r->msg, sizeof(r->msg), "%.*s", (int)(len - 4), (const char *)p + 4);
		break;
	}
}

static void read_records(int fd, struct reader *rd, struct result *r)
{
	for (;;) {
		ssize_t n = recv(fd, rd->buf + rd->len, sizeof(rd->buf) - rd->len, MSG_DONTWAIT);
		if (n == 0)
			r->closed = true;
		if (n <= 0)
			return;
		rd->len += (size_t)n;
		struct agent_record_header h;
		while (rd->len >= sizeof(h)) {
			memcpy(&h, rd->buf, sizeof(h));
			if (rd->len < sizeof(h) + h.len)
				break;
			take(r, h.type, rd->buf + sizeof(h), h.len);
			rd->len -= sizeof(h) + h.len;
			memmove(rd->buf, rd->buf + sizeof(h) + h.len, rd->len);
		}
	}
}

/* One turn of init: the loop, then the children it would reap. */
static void turn(int timeout_ms)
{
	struct init_error err = { 0 };
	int wstatus;
	pid_t pid;

	loop_dispatch(&loop, timeout_ms, &err);
	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
		agent_reaped(&agent, pid, wstatus);
}

/* Turns until the connection closes (or `seconds` pass). */
static void pump(int fd, struct reader *rd, struct result *r, double seconds)
{
	double end = now_s() + seconds;

	while (!r->closed && now_s() < end) {
		turn(5);
		read_records(fd, rd, r);
	}
}

/* Starts a connection: returns the host's end. */
static int connect_agent(void)
{
	struct init_error err = { 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (agent_adopt(&agent, sv[1], &err) < 0)
		printf("# adopt: %s\n", err.msg);
	return sv[0];
}

static struct result *run(const char *exec, const char *input, bool eof)
{
	static struct reader rd;
	struct result *r = calloc(1, sizeof(*r));
	int fd = connect_agent();

	rd.len = 0;
	exec_json(fd, exec);
	if (input)
		put_record(fd, AGENT_STDIN, input, strlen(input));
	if (eof)
		put_record(fd, AGENT_STDIN_EOF, NULL, 0);
	pump(fd, &rd, r, 10);
	close(fd);
	return r;
}

static void test_output_and_status(void)
{
	struct result *r = run(sh("echo out; echo err >&2; exit 3", false), NULL, false);

	ok(r->ready_first, "the first record is READY with the protocol's version");
	ok(r->started && r->pid > 0, "STARTED carries the process' pid");
	ok(r->out_len == 4 && !memcmp(r->out, "out\n", 4), "stdout comes as STDOUT");
	ok(r->err_len == 4 && !memcmp(r->err, "err\n", 4), "stderr comes as STDERR, apart");
	ok(r->exited && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 3 && r->closed,
	   "EXIT carries the wait status (exit 3), then the connection ends");
	free(r);
}

/* A document exactly as krun exec writes it (src/oci/exec_process.c, all fields): the
 * agent takes every one it knows (rlimits, env, user) and passes over the rest. */
static void test_host_document(void)
{
	struct result *r = run(
	    "{\"process\":{\"terminal\":false,\"args\":[\"/bin/sh\",\"-c\",\"ulimit -Hn; id -u; "
	    "echo $K\"],\"env\":[\"PATH=/usr/bin:/bin\",\"K=v\"],\"cwd\":\"/\",\"user\":{\"uid\":0,"
	    "\"gid\":0,\"umask\":18,\"additionalGids\":[]},\"rlimits\":[{\"type\":\"RLIMIT_"
	    "NOFILE\","
	    "\"soft\":1024,\"hard\":4096}],\"noNewPrivileges\":false,\"capabilities\":{"
	    "\"bounding\":[\"CAP_CHOWN\"],\"effective\":[],\"inheritable\":[],\"permitted\":[],"
	    "\"ambient\":[]}}}",
	    NULL, false);

	r->out[r->out_len < sizeof(r->out) ? r->out_len : 0] = '\0';
	if (!ok(r->exited && !strcmp(r->out, "4096\n0\nv\n"),
		"krun exec's document: its rlimits, user and env apply"))
		printf("#   got output of %zu bytes\n", r->out_len);
	free(r);
}

static void test_stdin(void)
{
	struct result *r =
	    run("{\"process\":{\"args\":[\"/bin/cat\"],\"cwd\":\"/\"}}", "hello agent", true);

	ok(r->out_len == 11 && !memcmp(r->out, "hello agent", 11) && r->exited &&
	       WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0,
	   "STDIN reaches the process and STDIN_EOF ends its input (cat)");
	free(r);
}

/* 1 MiB through cat, sent before anything is read back: the agent must hold stdin while
 * cat's output waits for us, and never block on either. */
static void test_backpressure(void)
{
	static char chunk[AGENT_RECORD_MAX];
	static struct reader rd;
	struct result *r = calloc(1, sizeof(*r));
	int fd = connect_agent();
	bool same = true;

	rd.len = 0;
	exec_json(fd, "{\"process\":{\"args\":[\"/bin/cat\"],\"cwd\":\"/\"}}");
	for (int i = 0; i < 16; i++) {
		memset(chunk, 'a' + i, sizeof(chunk));
		put_record(fd, AGENT_STDIN, chunk, sizeof(chunk));
		read_records(fd, &rd, r);
	}
	put_record(fd, AGENT_STDIN_EOF, NULL, 0);
	pump(fd, &rd, r, 20);
	for (size_t i = 0; i < r->out_len && same; i++)
		same = r->out[i] == 'a' + (char)(i / sizeof(chunk));
	okf(r->out_len == 16 * sizeof(chunk) && same && r->exited,
	    "1 MiB through cat arrives whole and in order (got %zu bytes)", r->out_len);
	close(fd);
	free(r);
}

static void test_failures(void)
{
	struct result *r =
	    run("{\"process\":{\"args\":[\"/nonexistent/prog\"],\"cwd\":\"/\"}}", NULL, false);
	okf(r->failed && r->status == 127 && strstr(r->msg, "/nonexistent/prog") && r->closed,
	    "a program that does not exist: ERROR 127 naming it (%.200s)", r->msg);
	free(r);
	r = run("{\"process\":{\"args\":[\"/\"],\"cwd\":\"/\"}}", NULL, false);
	okf(r->failed && r->status == 126, "a directory as the program: ERROR 126 (%.200s)",
	    r->msg);
	free(r);
	r = run("{\"process\":{\"args\":[\"/bin/true\"],\"cwd\":\"/nonexistent-dir\"}}", NULL,
		false);
	okf(r->failed && r->status == 125 && strstr(r->msg, "nonexistent-dir"),
	    "a missing working directory: ERROR 125 naming it (%.200s)", r->msg);
	free(r);
	r = run("{\"process\":{\"args\":[\"/bin/true\"", NULL, false);
	okf(r->failed && r->status == 125 && strstr(r->msg, "JSON"),
	    "a truncated EXEC: ERROR 125 (%.200s)", r->msg);
	free(r);
	r = run("{\"process\":{\"args\":[]}}", NULL, false);
	okf(r->failed && r->status == 125 && !r->started, "no args: ERROR 125 (%.200s)", r->msg);
	free(r);
}

static struct result *raw(const void *bytes, size_t len)
{
	static struct reader rd;
	struct result *r = calloc(1, sizeof(*r));
	int fd = connect_agent();

	rd.len = 0;
	if (write(fd, bytes, len) != (ssize_t)len)
		abort();
	pump(fd, &rd, r, 5);
	close(fd);
	return r;
}

static void test_malformed(void)
{
	struct agent_record_header big = { AGENT_EXEC, AGENT_RECORD_MAX + 1 };
	struct agent_record_header stdin_first = { AGENT_STDIN, 0 };
	struct agent_record_header unknown = { 999, 0 };
	struct result *r = raw(&big, sizeof(big));

	ok(r->failed && r->closed && strstr(r->msg, "64 KiB"), "a record over 64 KiB: ERROR");
	free(r);
	r = raw(&stdin_first, sizeof(stdin_first));
	ok(r->failed && r->closed && strstr(r->msg, "first record"),
	   "a first record that is not EXEC: ERROR");
	free(r);
	r = raw(&unknown, sizeof(unknown));
	ok(r->failed && r->closed, "a record of unknown type: ERROR");
	free(r);
}

static void test_signal(void)
{
	static struct reader rd;
	struct result *r = calloc(1, sizeof(*r));
	int fd = connect_agent();
	uint32_t term = SIGTERM;

	rd.len = 0;
	exec_json(fd, sh("exec sleep 100", false));
	while (!r->started && !r->closed)
		pump(fd, &rd, r, 0.05);
	put_record(fd, AGENT_SIGNAL, &term, 4);
	pump(fd, &rd, r, 10);
	ok(r->exited && WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGTERM,
	   "SIGNAL reaches the process; EXIT says it was killed by it");
	close(fd);
	free(r);
}

/* The host hanging up kills the process: nobody stands for it any more. */
static void test_hangup(void)
{
	static struct reader rd;
	struct result *r = calloc(1, sizeof(*r));
	int fd = connect_agent(), wstatus = 0;
	pid_t pid;

	rd.len = 0;
	exec_json(fd, sh("exec sleep 100", false));
	while (!r->started && !r->closed)
		pump(fd, &rd, r, 0.05);
	close(fd);
	for (int i = 0; i < 100; i++)
		loop_dispatch(&loop, 10, &(struct init_error){ 0 });
	pid = waitpid((pid_t)r->pid, &wstatus, 0);
	ok(pid == (pid_t)r->pid && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL &&
	       agent.nconns == 0,
	   "a host that hangs up: the process is killed and the connection freed");
	free(r);
}

/* A process that leaves a child holding its stdout still ends its exec at once. */
static void test_left_behind(void)
{
	double t0 = now_s();
	struct result *r = run(sh("sleep 3 & echo done", false), NULL, false);

	okf(r->exited && r->out_len == 5 && now_s() - t0 < 2,
	    "a background child holding stdout does not hold the EXIT (%.1f s)", now_s() - t0);
	free(r);
}

static void test_terminal(void)
{
	static struct reader rd;
	struct result *r = calloc(1, sizeof(*r));
	int fd = connect_agent();
	uint16_t size[2] = { 30, 100 };

	rd.len = 0;
	exec_json(fd, sh("read x; stty size; test -t 0 && test -t 1 && echo TTY-$x", true));
	while (!r->started && !r->closed)
		pump(fd, &rd, r, 0.05);
	put_record(fd, AGENT_WINSIZE, size, 4);
	put_record(fd, AGENT_STDIN, "go\n", 3);
	pump(fd, &rd, r, 10);
	r->out[r->out_len < sizeof(r->out) ? r->out_len : sizeof(r->out) - 1] = '\0';
	ok(r->exited && strstr(r->out, "30 100") && strstr(r->out, "TTY-go") && r->err_len == 0,
	   "a terminal: the process' stdin and stdout are it, WINSIZE sets its size, all "
	   "output comes as STDOUT");
	close(fd);
	free(r);
}

static void test_many(void)
{
	enum { N = 20 };
	static struct reader rd[N];
	static struct result res[N];
	int fds[N], good = 0;
	char script[64];

	for (int i = 0; i < N; i++) {
		fds[i] = connect_agent();
		snprintf(script, sizeof(script), "sleep 0.2; echo %d; exit %d", i, i);
		exec_json(fds[i], sh(script, false));
	}
	for (double end = now_s() + 20; now_s() < end;) {
		int closed = 0;
		turn(5);
		for (int i = 0; i < N; i++) {
			read_records(fds[i], &rd[i], &res[i]);
			closed += res[i].closed;
		}
		if (closed == N)
			break;
	}
	for (int i = 0; i < N; i++) {
		char want[8];
		snprintf(want, sizeof(want), "%d\n", i);
		good += res[i].exited && WEXITSTATUS(res[i].status) == (uint32_t)i &&
			res[i].out_len == strlen(want) && !memcmp(res[i].out, want, strlen(want));
		close(fds[i]);
	}
	okf(good == N, "%d of %d concurrent execs got their own output and status", good, N);
}

static void test_close(void)
{
	static struct reader rd;
	struct result *r = calloc(1, sizeof(*r));
	int fd = connect_agent(), wstatus = 0;

	rd.len = 0;
	exec_json(fd, sh("exec sleep 100", false));
	while (!r->started && !r->closed)
		pump(fd, &rd, r, 0.05);
	agent_close(&agent);
	read_records(fd, &rd, r);
	ok(waitpid((pid_t)r->pid, &wstatus, 0) == (pid_t)r->pid && WIFSIGNALED(wstatus) &&
	       r->closed && !r->exited && agent.nconns == 0,
	   "agent_close (the workload exited): the process is killed, the connection ends "
	   "without EXIT");
	close(fd);
	free(r);
}

static void test_limit(void)
{
	struct init_error err = { 0 };
	int fds[AGENT_MAX_CONNS], sv[2], adopted = 0;

	for (int i = 0; i < AGENT_MAX_CONNS; i++)
		fds[i] = connect_agent();
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	okf(agent_adopt(&agent, sv[1], &err) == -EMFILE && agent.nconns == AGENT_MAX_CONNS,
	    "connection %d is refused (%.200s)", AGENT_MAX_CONNS + 1, err.msg);
	adopted = (int)agent.nconns;
	close(sv[0]);
	for (int i = 0; i < AGENT_MAX_CONNS; i++)
		close(fds[i]);
	for (int i = 0; i < 10 * adopted && agent.nconns; i++)
		turn(5);
	ok(agent.nconns == 0, "idle connections whose host hung up are freed");
}

int main(void)
{
	struct init_error err = { 0 };

	signal(SIGPIPE, SIG_IGN); /* init, PID 1, is immune to it */
	log_set_fd(-1);
	if (loop_open(&loop, &err) < 0)
		return 1;
	agent_init(&agent, &loop);
	test_output_and_status();
	test_host_document();
	test_stdin();
	test_backpressure();
	test_failures();
	test_malformed();
	test_signal();
	test_hangup();
	test_left_behind();
	test_terminal();
	test_many();
	test_close();
	agent_init(&agent, &loop);
	test_limit();
	return tap_done();
}
