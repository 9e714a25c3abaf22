/* The exec bridge of the VMM (bridge.h). Accepting is cheap and bounded: one connect
 * request per accepted socket, on the event loop thread, and the vsock device's own caps
 * (connections, queued memory) apply to what follows. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "agent/bridge.h"
#include "agent/proto.h"
#include "devices/vsock/vsock.h"
#include "util/util.h"
#include "vm/event_loop.h"

struct agent_bridge {
	struct event_loop *loop;
	struct virtio_device *vsock;
	int listen_fd;
	uid_t owner;
	uint32_t next_port; /* offset in the bridge's host ports */
};

/* State directories can be deep (docker's, containerd's): the socket is named through an
 * O_PATH descriptor of its directory, so that the address always fits in sun_path. */
static int socket_address(const char *path, int *dirfd, struct sockaddr_un *addr, krun_error_t *err)
{
	const char *name = strrchr(path, '/');
	cleanup_free char *dir = NULL;

	if (!name || !name[1])
		return krun_make_error(err, EINVAL, "exec socket path `%s` names no file", path);
	dir = xstrdup(path);
	dir[name == path ? 1 : name - path] = '\0';
	*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return krun_make_error(err, errno, "open `%s`", dir);
	if (snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", *dirfd,
		     name + 1) >= (int)sizeof(addr->sun_path))
		return krun_make_error(err, ENAMETOOLONG, "exec socket name `%s` is too long",
				       name + 1);
	return 0;
}

int agent_socket_listen(const char *path, krun_error_t *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1, dirfd = -1;
	mode_t old;
	int ret;

	ret = socket_address(path, &dirfd, &addr, err);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return krun_make_error(err, errno, "exec socket");
	if (unlinkat(dirfd, strrchr(path, '/') + 1, 0) < 0 && errno != ENOENT)
		return krun_make_error(err, errno, "remove the old `%s`", path);
	/* Created 0600 from the start: a chmod after bind would leave a window. */
	old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (ret < 0 || listen(fd, 64) < 0)
		return krun_make_error(err, errno, "listen on `%s`", path);
	return steal_fd(&fd);
}

static bool peer_allowed(int fd, uid_t owner)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == owner || cred.uid == 0;
}

/* Hands fd to the vsock device on a free host port. The device closes what it is given
 * when it refuses, so each try gets a duplicate; -EBUSY may mean a port still in use
 * (after 4096 execs) or a full table, hence a few tries only. */
static void connect_guest(struct agent_bridge *b, int fd)
{
	for (int tries = 0; tries < 8; tries++) {
		uint32_t port = AGENT_HOST_PORT_BASE + b->next_port;
		int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		b->next_port = (b->next_port + 1) % AGENT_HOST_PORTS;
		if (dup < 0)
			break;
		int ret =
		    virtio_vsock_connect_guest(b->vsock, port, AGENT_VSOCK_PORT, VSOCK_STREAM, dup);
		if (ret != -EBUSY)
			break;
	}
	close(fd); /* the device holds its duplicate, or the peer sees the end */
}

static void on_accept(void *opaque, uint32_t events)
{
	struct agent_bridge *b = opaque;

	for (int i = 0; i < 16; i++) { /* then the loop's other fds get their turn */
		int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (!peer_allowed(fd, b->owner)) {
			close(fd);
			continue;
		}
		connect_guest(b, fd);
	}
}

int agent_bridge_new(struct event_loop *loop, struct virtio_device *vsock, int listen_fd,
		     uid_t owner, struct agent_bridge **out, krun_error_t *err)
{
	struct agent_bridge *b = xzalloc(sizeof(*b));
	int ret;

	*b = (struct agent_bridge){
		.loop = loop, .vsock = vsock, .listen_fd = listen_fd, .owner = owner
	};
	ret = event_loop_add(loop, listen_fd, EPOLLIN, on_accept, b, err);
	if (ret < 0) {
		close(listen_fd);
		free(b);
		return ret;
	}
	*out = b;
	return 0;
}

void agent_bridge_free(struct agent_bridge *b)
{
	if (!b)
		return;
	event_loop_remove(b->loop, b->listen_fd);
	close(b->listen_fd);
	free(b);
}
