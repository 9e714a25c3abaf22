/* A vsock backend for the device tests: host port P is the unix socket
 * <dir>/vsock-P.sock. The guest's connection type picks the socket type, so a SEQPACKET
 * connection only reaches a SEQPACKET listener (connect fails with EPROTOTYPE otherwise
 * and the guest gets RST). */
#include "vsock_unix_backend.h"
#include "devices/vsock/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define PATH_FMT "%s/vsock-%u.sock"

struct unix_backend {
	struct vsock_backend b;
	char *dir;
};

static int unix_connect(struct vsock_backend *b, uint32_t host_port, uint32_t guest_port,
			enum vsock_type type)
{
	struct unix_backend *u = container_of(b, struct unix_backend, b);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int st = type == VSOCK_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;

	snprintf(sa.sun_path, sizeof(sa.sun_path), PATH_FMT, u->dir, host_port);
	cleanup_close int fd = socket(AF_UNIX, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (type == VSOCK_SEQPACKET) {
		/* A record the guest may send (up to our buf_alloc) must fit in one send. */
		int size = VSOCK_BUF_ALLOC + 4096;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
	/* A unix connect does not go in progress: it succeeds, or fails with EAGAIN when the
	 * listener's backlog is full, which we report as a refusal like any other. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return steal_fd(&fd);
}

static void unix_destroy(struct vsock_backend *b)
{
	struct unix_backend *u = container_of(b, struct unix_backend, b);

	free(u->dir);
	free(u);
}

static const struct vsock_backend_ops unix_ops = {
	.connect = unix_connect,
	.destroy = unix_destroy,
};

int virtio_vsock_unix_backend_new(const char *dir, struct vsock_backend **out, krun_error_t *err)
{
	struct sockaddr_un sa;
	int need = snprintf(NULL, 0, PATH_FMT, dir, UINT32_MAX);

	if (need < 0 || (size_t)need >= sizeof(sa.sun_path))
		return krun_make_error(err, ENAMETOOLONG, "vsock socket directory `%s`", dir);
	struct unix_backend *u = xzalloc(sizeof(*u));
	u->b.ops = &unix_ops;
	u->dir = xstrdup(dir);
	*out = &u->b;
	return 0;
}
