/* The host's end of an exec (src/agent/client.c) against a scripted agent in a child
 * process, over a socketpair: start and its failure, stdout and stderr kept apart, stdin
 * and its end, signals, a VM that goes away, a hostile record, and a guest that reads no
 * stdin while it floods stdout (the client must not block on either). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "agent/client.h"
#include "agent/proto.h"
#include "tap.h"

#define HDR sizeof(struct agent_record_header)

static char tmpdir[] = "/tmp/agent_client_test.XXXXXX";

static void put(int fd, uint32_t type, const void *p, size_t len)
{
	struct agent_record_header h = { type, (uint32_t)len };

	if (write(fd, &h, HDR) != (ssize_t)HDR || (len && write(fd, p, len) != (ssize_t)len))
		_exit(90);
}

static void put_u32(int fd, uint32_t type, uint32_t v)
{
	put(fd, type, &v, 4);
}

static bool read_full(int fd, void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = read(fd, (char *)buf + off, len - off);
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

/* The next record from the client (payload into buf, NUL-terminated); type 0 at the end. */
static uint32_t get(int fd, char *buf, size_t size, uint32_t *len)
{
	struct agent_record_header h;

	if (!read_full(fd, &h, HDR) || h.len >= size || !read_full(fd, buf, h.len))
		return 0;
	buf[h.len] = '\0';
	*len = h.len;
	return h.type;
}

enum script { PLAIN, FAIL, STDIN, SIGNAL, GONE, HOSTILE, FLOOD, REFUSED, OLD_AGENT };

/* The agent's side, in the child. Exits 0 when the client sent what it should. */
static int agent(int fd, enum script s)
{
	static char buf[AGENT_RECORD_MAX + 1];
	uint32_t len, type;

	if (s == REFUSED) /* as the bridge's end when the guest refused the connection */
		return 0;
	put_u32(fd, AGENT_READY,
		s == OLD_AGENT ? AGENT_PROTOCOL_VERSION + 1 : AGENT_PROTOCOL_VERSION);
	if (s == OLD_AGENT)
		return 0;
	type = get(fd, buf, sizeof(buf), &len);

	if (type != AGENT_EXEC || !strstr(buf, "\"args\""))
		return 10;
	if (s == FAIL) {
		put(fd, AGENT_ERROR, "\x7f\0\0\0not found: prog", 4 + 16);
		return 0;
	}
	put_u32(fd, AGENT_STARTED, 42);
	switch (s) {
	case PLAIN:
		put(fd, AGENT_STDOUT, "hello", 5);
		put(fd, AGENT_STDERR, "warn", 4);
		put_u32(fd, AGENT_EXIT, 3 << 8);
		return 0;
	case STDIN: {
		char got[64] = "";
		size_t n = 0;
		while ((type = get(fd, buf, sizeof(buf), &len)) == AGENT_STDIN && n + len < 64) {
			memcpy(got + n, buf, len);
			n += len;
		}
		put_u32(fd, AGENT_EXIT, 0);
		return type == AGENT_STDIN_EOF && !strcmp(got, "abc") ? 0 : 11;
	}
	case SIGNAL:
		while ((type = get(fd, buf, sizeof(buf), &len)) != AGENT_SIGNAL)
			if (type == 0)
				return 12;
		put_u32(fd, AGENT_EXIT, *(uint32_t *)buf); /* killed by it */
		return *(uint32_t *)buf == SIGUSR1 ? 0 : 13;
	case GONE:
		return 0;
	case HOSTILE: {
		struct agent_record_header h = { AGENT_STDOUT, AGENT_RECORD_MAX + 1 };
		return write(fd, &h, HDR) == HDR ? 0 : 14;
	}
	case FLOOD:
		/* 4 MiB out before reading a byte of the client's stdin. */
		memset(buf, 'x', AGENT_RECORD_MAX);
		for (int i = 0; i < 64; i++)
			put(fd, AGENT_STDOUT, buf, AGENT_RECORD_MAX);
		put_u32(fd, AGENT_EXIT, 0);
		while (get(fd, buf, sizeof(buf), &len))
			;
		return 0;
	default:
		return 20;
	}
}

struct outcome {
	int ready_ret, start_ret, relay_ret, status, agent_status;
	pid_t pid;
	char *why, out[64], err[64];
	off_t out_size;
};

static int temp_fd(const char *name, size_t fill)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)fill) < 0)
		abort();
	return fd;
}

static void drive(enum script s, int in, struct outcome *o)
{
	int sv[2], out = temp_fd("out", 0), err = temp_fd("err", 0);
	krun_error_t kerr = NULL;
	sigset_t forward;
	pid_t child;

	memset(o, 0, sizeof(*o));
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	child = fork();
	if (child == 0) {
		close(sv[0]);
		_exit(agent(sv[1], s));
	}
	close(sv[1]);
	struct agent_client c = {
		.sock = sv[0], .in = in, .out = out, .err = err, .winsize_from = -1
	};
	sigemptyset(&forward);
	sigaddset(&forward, SIGUSR1);
	sigprocmask(SIG_BLOCK, &forward, NULL);
	o->ready_ret = agent_client_await_ready(&c, 10000, &kerr);
	if (o->ready_ret == 0)
		o->start_ret = agent_client_start(&c, "{\"process\":{\"args\":[\"x\"]}}", &o->pid,
						  &o->status, &o->why, &kerr);
	if (o->start_ret == 0 && o->pid > 0) {
		if (s == SIGNAL)
			kill(getpid(), SIGUSR1);
		o->relay_ret = agent_client_relay(&c, &forward, &o->status, &kerr);
	}
	if (kerr)
		printf("# %s\n", kerr->msg);
	krun_error_release(&kerr);
	agent_client_release(&c);
	close(sv[0]);
	waitpid(child, &o->agent_status, 0);
	if (pread(out, o->out, sizeof(o->out) - 1, 0) < 0 ||
	    pread(err, o->err, sizeof(o->err) - 1, 0) < 0)
		abort();
	o->out_size = lseek(out, 0, SEEK_END);
	close(out);
	close(err);
}

static bool agent_ok(const struct outcome *o)
{
	return WIFEXITED(o->agent_status) && WEXITSTATUS(o->agent_status) == 0;
}

int main(void)
{
	struct outcome o;
	int p[2];

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir))
		return 1;
	drive(PLAIN, -1, &o);
	ok(o.ready_ret == 0, "READY with this build's version is awaited first");
	ok(o.start_ret == 0 && o.pid == 42, "start: the guest pid from STARTED");
	ok(!strcmp(o.out, "hello") && !strcmp(o.err, "warn"), "stdout and stderr kept apart");
	ok(o.relay_ret == 0 && o.status == 3 && agent_ok(&o), "exit status 3 from EXIT");

	drive(REFUSED, -1, &o);
	ok(o.ready_ret == -ECONNRESET && o.start_ret == 0,
	   "a connection that ends before READY is told apart (the caller tries again)");

	drive(OLD_AGENT, -1, &o);
	ok(o.ready_ret == -EPROTO && o.start_ret == 0, "another protocol version is refused");

	drive(FAIL, -1, &o);
	ok(o.start_ret == 0 && o.pid == 0 && o.status == 127 && o.why &&
	       !strcmp(o.why, "not found: prog"),
	   "a process that cannot start: its status (127) and the reason");
	free(o.why);

	if (pipe(p) < 0 || write(p[1], "abc", 3) != 3)
		return 1;
	close(p[1]);
	drive(STDIN, p[0], &o);
	close(p[0]);
	ok(o.status == 0 && agent_ok(&o), "stdin goes as STDIN, its end as STDIN_EOF");

	drive(SIGNAL, -1, &o);
	ok(o.status == 128 + SIGUSR1 && agent_ok(&o),
	   "a signal to the proxy reaches the process; killed by it: 128 + its number");

	drive(GONE, -1, &o);
	ok(o.relay_ret == 0 && o.status == 137, "a VM that goes away: 137");

	drive(HOSTILE, -1, &o);
	ok(o.relay_ret == -EPROTO, "a record over 64 KiB from the guest: refused");

	int in = temp_fd("in", 8u << 20);
	drive(FLOOD, in, &o);
	close(in);
	ok(o.status == 0 && o.out_size == 64 * AGENT_RECORD_MAX && agent_ok(&o),
	   "4 MiB of output while the guest reads no stdin: all of it, no deadlock");
	return tap_done();
}
