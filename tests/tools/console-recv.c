/* The receiving end of --console-socket for the system tests: listens on SOCKET, takes the
 * pty master sent with SCM_RIGHTS, optionally sets the window size and types TEXT into it,
 * then copies everything the container writes to OUT until the pty closes.
 *   console-recv SOCKET OUT [ROWSxCOLS [TEXT]] */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "console-recv: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(addr.sun_path))
		die("socket");
	strcpy(addr.sun_path, path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)
		die("bind");
	return fd;
}

static int receive_fd(int conn)
{
	char byte, control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(conn, &msg, 0) <= 0)
		die("recvmsg");
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		die("no fd received");
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

int main(int argc, char **argv)
{
	int sock, conn, master, out;
	char buf[4096];
	ssize_t n;

	if (argc < 3)
		return 2;
	sock = listen_on(argv[1]);
	conn = accept(sock, NULL, NULL);
	if (conn < 0)
		die("accept");
	master = receive_fd(conn);
	out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (out < 0)
		die(argv[2]);
	if (argc > 3) {
		struct winsize ws = { 0 };

		if (sscanf(argv[3], "%hux%hu", &ws.ws_row, &ws.ws_col) != 2)
			return 2;
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			die("TIOCSWINSZ");
	}
	if (argc > 4 && write(master, argv[4], strlen(argv[4])) < 0)
		die("write");
	while ((n = read(master, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			die("write out");
	return 0;
}
