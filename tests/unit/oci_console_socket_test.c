/* src/oci/console_socket.c: host ptys, and the pty master sent to a console socket served
 * here the way conmon and containerd's shim serve theirs. */
#include "oci/console_socket.h"
#include "util/util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

static char dir[] = "/tmp/krun-console-test-XXXXXX";

static char *tmp_path(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", dir, name);
	return p;
}

/* A listening socket at path; a path longer than sun_path is bound under a short name,
 * then renamed. */
static int listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	cleanup_free char *short_path = tmp_path("s");
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	unlink(short_path);
	strcpy(a.sun_path, short_path);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0 ||
	    rename(short_path, path) < 0) {
		perror("listen_at");
		close(s);
		return -1;
	}
	return s;
}

/* Receives one message; returns the fd it carried (-1: none), the payload in buf. */
static int recv_fd(int sock, char *buf, size_t size, ssize_t *len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c;
	int fd = -1;

	*len = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	c = CMSG_FIRSTHDR(&msg);
	if (*len >= 0 && c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static bool cloexec(int fd)
{
	return fcntl(fd, F_GETFD) & FD_CLOEXEC;
}

static void raw(int fd)
{
	struct termios t;

	tcgetattr(fd, &t);
	cfmakeraw(&t);
	tcsetattr(fd, TCSANOW, &t);
}

static bool transfer(int from, int to, const char *text)
{
	char buf[64] = { 0 };
	size_t len = strlen(text);

	return write(from, text, len) == (ssize_t)len &&
	       read(to, buf, sizeof(buf) - 1) == (ssize_t)len && memcmp(buf, text, len) == 0;
}

/* What the test expects from a call that fails: the message, or "(success)". */
static const char *msg_of(int ret, krun_error_t *err)
{
	static char msg[512];

	snprintf(msg, sizeof(msg), "%s", ret == 0 ? "(success)" : (*err)->msg);
	krun_error_release(err);
	return msg;
}

static void test_pty_open(void)
{
	cleanup_close int m = -1, s = -1, m2 = -1, s2 = -1;
	krun_error_t err = NULL;
	struct winsize ws = { 0 };
	int m3 = -1, s3 = -1;

	ok(pty_open(&m, &s, 0, 0, &err) == 0, "pty_open");
	ok(isatty(m) && isatty(s), "both ends are terminals");
	ok(cloexec(m) && cloexec(s), "both are O_CLOEXEC");
	ok(ioctl(s, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 0 && ws.ws_col == 0,
	   "no size given: the pty keeps 0x0");
	ok(pty_open(&m2, &s2, 40, 132, &err) == 0, "pty_open with a size");
	ok(ioctl(s2, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 40 && ws.ws_col == 132,
	   "the slave has the size asked for");
	is_str(msg_of(pty_open(&m3, &s3, 70000, 80, &err), &err),
	       "pty size 70000x80 is out of range", "a size beyond the tty's limits is refused");
}

/* In a fresh session without a controlling terminal, opening the pty must not give it one. */
static void test_noctty(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		krun_error_t err = NULL;
		int m, s;

		if (setsid() < 0 || pty_open(&m, &s, 0, 0, &err) < 0)
			_exit(2);
		_exit(open("/dev/tty", O_RDWR) < 0 && errno == ENXIO ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
	       "the slave is opened O_NOCTTY: it does not become our controlling terminal");
}

static void send_receive(const char *path, const char *name, const char *want_payload,
			 const char *what)
{
	cleanup_close int listener = listen_at(path), client = -1, server = -1, got = -1;
	cleanup_close int m = -1, s = -1;
	krun_error_t err = NULL;
	char buf[64] = { 0 }, label[256];
	int ptn = -1, got_ptn = -2;
	ssize_t len;

	snprintf(label, sizeof(label), "%s: connects", what);
	ok(console_socket_connect(path, &client, &err) == 0, label);
	krun_error_release(&err);
	server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	ok(cloexec(client), "the connected socket is O_CLOEXEC");
	ok(pty_open(&m, &s, 0, 0, &err) == 0, "pty_open");
	ok(console_socket_send_fd(client, m, name, &err) == 0, "console_socket_send_fd");
	got = recv_fd(server, buf, sizeof(buf) - 1, &len);
	ok(got >= 0, "the server received an fd");
	is_str(buf, want_payload, "the payload");
	ioctl(m, TIOCGPTN, &ptn);
	ioctl(got, TIOCGPTN, &got_ptn);
	ok(ptn >= 0 && got_ptn == ptn, "the received fd is the pty's master");
	close(steal_fd(&m));
	raw(s);
	ok(transfer(got, s, "ping"), "a write on the received master appears on the slave");
	ok(transfer(s, got, "pong"), "and back");
}

static void test_console_socket(void)
{
	cleanup_free char *path = tmp_path("console.sock");
	cleanup_free char *long_dir = NULL, *long_path = NULL;
	char component[151];

	send_receive(path, NULL, " ", "a short path");
	unlink(path);
	send_receive(path, "/dev/pts/7", "/dev/pts/7", "with a name");
	memset(component, 'd', sizeof(component) - 1);
	component[sizeof(component) - 1] = '\0';
	long_dir = tmp_path(component);
	mkdir(long_dir, 0700);
	xasprintf(&long_path, "%s/console.sock", long_dir);
	ok(strlen(long_path) > sizeof(((struct sockaddr_un *)0)->sun_path),
	   "the long path is long");
	send_receive(long_path, NULL, " ", "a path longer than sun_path");
}

static void test_connect_errors(void)
{
	cleanup_free char *missing = tmp_path("missing.sock");
	cleanup_free char *long_missing = NULL, *want = NULL, *want_long = NULL;
	krun_error_t err = NULL;
	int fd = -1;

	xasprintf(&want, "console socket `%s`: cannot connect: No such file or directory", missing);
	is_str(msg_of(console_socket_connect(missing, &fd, &err), &err), want,
	       "a missing socket fails, naming it");
	xasprintf(&long_missing, "%s/%0150d/missing.sock", dir, 0);
	xasprintf(&want_long, "console socket `%s`: No such file or directory", long_missing);
	is_str(msg_of(console_socket_connect(long_missing, &fd, &err), &err), want_long,
	       "a long missing path fails, naming it");
	is_str(msg_of(console_socket_connect("", &fd, &err), &err),
	       "the console socket path is empty", "an empty path is refused");
}

/* The peer went away: an error, not a SIGPIPE that would kill us. */
static void test_send_to_closed_peer(void)
{
	cleanup_free char *path = tmp_path("closed.sock");
	cleanup_close int listener = listen_at(path), client = -1, m = -1, s = -1;
	krun_error_t err = NULL;

	ok(console_socket_connect(path, &client, &err) == 0, "connects");
	close(accept(listener, NULL, NULL));
	ok(pty_open(&m, &s, 0, 0, &err) == 0, "pty_open");
	is_str(msg_of(console_socket_send_fd(client, m, NULL, &err), &err),
	       "cannot send the terminal to the console socket: Broken pipe",
	       "sending to a closed peer fails with EPIPE");
}

/* Runs in a child: bit i of the exit code set when check i failed. */
static int controlling_checks(int slave)
{
	krun_error_t err = NULL;
	int fails = 0, tty;

	if (pty_become_controlling(slave, &err) < 0)
		return 1;
	if (getsid(0) != getpid() || tcgetsid(STDIN_FILENO) != getpid())
		fails |= 2;
	tty = open("/dev/tty", O_RDWR);
	if (tty < 0)
		fails |= 4;
	for (int fd = 0; fd <= 2; fd++) {
		if (!isatty(fd) || cloexec(fd))
			fails |= 8;
	}
	if (write(STDOUT_FILENO, "ready", 5) != 5)
		fails |= 16;
	return fails;
}

static int child_status(pid_t pid)
{
	int status;

	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_become_controlling(void)
{
	cleanup_close int m = -1, s = -1;
	krun_error_t err = NULL;
	char buf[16] = { 0 };
	pid_t pid;

	ok(pty_open(&m, &s, 0, 0, &err) == 0, "pty_open");
	pid = fork();
	if (pid == 0)
		_exit(controlling_checks(s));
	is_int(child_status(pid), 0,
	       "the slave becomes the new session's controlling terminal and its stdio");
	ok(read(m, buf, sizeof(buf) - 1) == 5 && strcmp(buf, "ready") == 0,
	   "what the process writes on stdout comes out of the master");
	/* The slave sitting on 0 itself must lose its FD_CLOEXEC there. */
	pid = fork();
	if (pid == 0) {
		close(STDIN_FILENO);
		_exit(fcntl(s, F_DUPFD_CLOEXEC, 0) == 0 ? controlling_checks(0) : 64);
	}
	is_int(child_status(pid), 0, "a slave already on fd 0 works too");
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		_exit(strcmp(msg_of(pty_become_controlling(s, &err), &err),
			     "cannot start a new session for the terminal: Operation not permitted")
			  ? 1
			  : 0);
	}
	is_int(child_status(pid), 0, "a process group leader gets a clear error");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_pty_open();
	test_noctty();
	test_console_socket();
	test_connect_errors();
	test_send_to_closed_peer();
	test_become_controlling();
	{
		cleanup_free char *cmd = NULL;

		xasprintf(&cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return tap_done();
}
