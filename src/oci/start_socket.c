/* The start socket: how `krun start` lets a created container boot and learns how its
 * startContainer hooks went. */
#include "oci/start_socket.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_MAX 4096

/* A socket and the address of <dir>/start.sock. State directories can be deep
 * (containerd's, docker's): the address names the socket through an O_PATH descriptor of
 * the directory (kept in *dirfd), so that it always fits in sun_path. */
static int open_socket(const char *dir, int *dirfd, struct sockaddr_un *addr, krun_error_t *err)
{
	int fd;

	*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return krun_make_error(err, errno, "open `%s`", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return krun_make_error(err, errno, "create a socket");
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/" START_SOCKET, *dirfd);
	return fd;
}

int start_socket_listen(const char *dir, krun_error_t *err)
{
	cleanup_close int dirfd = -1, fd = -1;
	struct sockaddr_un addr;

	fd = open_socket(dir, &dirfd, &addr, err);
	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)
		return krun_make_error(err, errno, "listen on `%s/" START_SOCKET "`", dir);
	return steal_fd(&fd);
}

int start_socket_accept(int listener, krun_error_t *err)
{
	char byte;
	int conn;
	ssize_t n;

	for (;;) {
		conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0 && errno == EINTR)
			continue;
		if (conn < 0)
			return krun_make_error(err, errno, "wait for `start`");
		do
			n = read(conn, &byte, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			return conn;
		close(conn); /* a connection that said nothing is not a start */
	}
}

void start_socket_reply(int conn, const char *error)
{
	if (error && send(conn, error, strlen(error), MSG_NOSIGNAL) < 0) {
		/* start is gone: it has nobody to tell */
	}
	close(conn);
}

static int read_reply(int fd, const char *id, krun_error_t *err)
{
	char reply[REPLY_MAX];
	size_t used = 0;
	ssize_t n;

	while (used < sizeof(reply) - 1) {
		n = read(fd, reply + used, sizeof(reply) - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return krun_make_error(err, errno, "container `%s`: start", id);
		if (n == 0)
			break;
		used += n;
	}
	if (used == 0)
		return 0;
	reply[used] = '\0';
	return krun_make_error(err, 0, "container `%s`: %s", id, reply);
}

int start_socket_trigger(const char *dir, const char *id, krun_error_t *err)
{
	cleanup_close int dirfd = -1, fd = -1;
	struct sockaddr_un addr;

	fd = open_socket(dir, &dirfd, &addr, err);
	if (fd < 0)
		return fd;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (errno == ECONNREFUSED || errno == ENOENT)
			return krun_make_error(err, ESRCH, "container `%s` is not running", id);
		return krun_make_error(err, errno, "container `%s`: connect to its start socket",
				       id);
	}
	if (unlinkat(dirfd, START_SOCKET, 0) < 0)
		return krun_make_error(err, errno, "container `%s`: remove its start socket", id);
	if (send(fd, "1", 1, MSG_NOSIGNAL) != 1)
		return krun_make_error(err, errno, "container `%s`: start", id);
	return read_reply(fd, id, err);
}
