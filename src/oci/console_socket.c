/* The host pty of a terminal container, and handing its master over --console-socket. */
#include "oci/console_socket.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int pty_open(int *master, int *slave, unsigned rows, unsigned cols, krun_error_t *err)
{
	cleanup_close int m = -1, s = -1;
	int unlock = 0;

	if (rows > USHRT_MAX || cols > USHRT_MAX)
		return krun_make_error(err, 0, "pty size %ux%u is out of range", rows, cols);
	m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return krun_make_error(err, errno, "cannot open /dev/ptmx");
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		return krun_make_error(err, errno, "cannot unlock the new pty");
	/* Through the master rather than by name: right even when /dev/pts is another mount. */
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		return krun_make_error(err, errno, "cannot open the new pty's slave");
	if (rows || cols) {
		struct winsize ws = { .ws_row = rows, .ws_col = cols };

		if (ioctl(m, TIOCSWINSZ, &ws) < 0)
			return krun_make_error(err, errno, "cannot set the pty size");
	}
	*master = steal_fd(&m);
	*slave = steal_fd(&s);
	return 0;
}

int pty_become_controlling(int slave, krun_error_t *err)
{
	if (setsid() < 0)
		return krun_make_error(err, errno, "cannot start a new session for the terminal");
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return krun_make_error(err, errno, "cannot make the pty the controlling terminal");
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		/* dup2 onto itself would keep the slave's FD_CLOEXEC */
		int ret = fd == slave ? fcntl(fd, F_SETFD, 0) : dup2(slave, fd);

		if (ret < 0)
			return krun_make_error(err, errno, "cannot put the pty on fd %d", fd);
	}
	return 0;
}

int console_socket_connect(const char *path, int *out, krun_error_t *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	cleanup_close int sock = -1, path_fd = -1;

	if (!*path)
		return krun_make_error(err, 0, "the console socket path is empty");
	if (strlen(path) < sizeof(addr.sun_path)) {
		strcpy(addr.sun_path, path);
	} else {
		path_fd = open(path, O_PATH | O_CLOEXEC);
		if (path_fd < 0)
			return krun_make_error(err, errno, "console socket `%s`", path);
		snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d", path_fd);
	}
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return krun_make_error(err, errno, "console socket `%s`: cannot create a socket",
				       path);
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return krun_make_error(err, errno, "console socket `%s`: cannot connect", path);
	*out = steal_fd(&sock);
	return 0;
}

int console_socket_send_fd(int sock, int fd, const char *name, krun_error_t *err)
{
	const char *payload = name && *name ? name : " ";
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = (void *)payload, .iov_len = strlen(payload) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.buf,
			      .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c;
	ssize_t n;

	memset(&control, 0, sizeof(control));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return krun_make_error(err, errno,
				       "cannot send the terminal to the console socket");
	if ((size_t)n != iov.iov_len)
		return krun_make_error(err, 0,
				       "console socket: sent %zd of %zu bytes with the terminal", n,
				       iov.iov_len);
	return 0;
}
