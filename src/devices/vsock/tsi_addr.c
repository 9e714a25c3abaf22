/* Addresses: the guest's raw sockaddrs checked against the socket, the privileged-port
 * rule, and AF_UNIX paths, which name files of the container's root and are resolved
 * inside it (openat2 RESOLVE_IN_ROOT: "..", absolute symlinks and the like cannot leave
 * it), then reached through /proc/self/fd so that the kernel does no lookup of its own
 * from the VMM's root. The guest sees its own paths in the names we report. */
#include "devices/vsock/tsi_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include "util/util.h"

#define SUN_OFF offsetof(struct sockaddr_un, sun_path)

int tsi_addr_parse(const struct tsi_sock *s, const struct tsi_addr *a, struct sockaddr_storage *ss,
		   socklen_t *sslen)
{
	sa_family_t family;
	uint32_t len = a->len;

	if (len < sizeof(family) || len > TSI_ADDR_MAX)
		return -EINVAL;
	memcpy(&family, a->sa, sizeof(family));
	if (family != s->family)
		return -EINVAL;
	switch (family) {
	case AF_INET:
		if (len != sizeof(struct sockaddr_in))
			return -EINVAL;
		break;
	case AF_INET6:
		if (len != sizeof(struct sockaddr_in6))
			return -EINVAL;
		break;
	default: /* AF_UNIX: an absolute path, NUL-terminated within len */
		if (len < SUN_OFF + 2 || len > sizeof(struct sockaddr_un) ||
		    a->sa[SUN_OFF] != '/' || !memchr(a->sa + SUN_OFF, 0, len - SUN_OFF))
			return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, a->sa, len);
	*sslen = len;
	return 0;
}

static int open_in_root(const struct tsi *t, const char *path, int flags)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC | flags,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = syscall(SYS_openat2, t->root_fd, path, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

static int bind_unix_as_guest(struct tsi_sock *s, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash + 1;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return -EINVAL;
	cleanup_free char *dir = slash == path ? xstrdup("/") : strndup(path, slash - path);
	if (!dir)
		return -ENOMEM;
	cleanup_close int dfd = open_in_root(s->t, dir, O_DIRECTORY);
	if (dfd < 0)
		return dfd;
	int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "/proc/self/fd/%d/%s", dfd, base);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	if (bind(s->host.fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -errno;
	free(s->local_path);
	s->local_path = xstrdup(path);
	return 0;
}

/* The socket file is created as the guest user, in a directory that user may write. */
static int bind_unix(struct tsi_sock *s, const char *path)
{
	struct tsi_saved_ids ids;
	int ret = tsi_ids_enter(&s->creds, &ids);

	if (ret == 0)
		ret = bind_unix_as_guest(s, path);
	tsi_ids_leave(&ids);
	return ret;
}

int tsi_bind(struct tsi_sock *s, const struct sockaddr_storage *ss, socklen_t len)
{
	uint16_t port = 0;

	if (ss->ss_family == AF_UNIX)
		return bind_unix(s, ((const struct sockaddr_un *)ss)->sun_path);
	if (ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	if (port && port < 1024 && !s->t->privileged_ports)
		return -EACCES;
	return bind(s->host.fd, (const struct sockaddr *)ss, len) < 0 ? -errno : 0;
}

static ssize_t connect_or_send(int fd, const struct sockaddr *sa, socklen_t len, const void *buf,
			       size_t buflen)
{
	ssize_t n;

	if (!buf)
		return connect(fd, sa, len) < 0 ? -errno : 0;
	do
		n = sendto(fd, buf, buflen, MSG_DONTWAIT | MSG_NOSIGNAL, sa, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static ssize_t connect_unix_as_guest(struct tsi_sock *s, const char *path, const void *buf,
				     size_t buflen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;

	cleanup_close int fd = open_in_root(s->t, path, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -ECONNREFUSED; /* what connect(2) says of a file that is no socket */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/proc/self/fd/%d", fd);
	ssize_t ret =
	    connect_or_send(s->host.fd, (struct sockaddr *)&sun, sizeof(sun), buf, buflen);
	if (ret >= 0 && !buf) {
		free(s->peer_path);
		s->peer_path = xstrdup(path);
	}
	return ret;
}

/* The path is resolved, and the peer sees the connection or datagram come, as the guest
 * user. */
ssize_t tsi_connect_addr(struct tsi_sock *s, const struct sockaddr_storage *ss, socklen_t len,
			 const void *buf, size_t buflen)
{
	struct tsi_saved_ids ids;
	ssize_t ret;

	if (ss->ss_family != AF_UNIX)
		return connect_or_send(s->host.fd, (const struct sockaddr *)ss, len, buf, buflen);
	ret = tsi_ids_enter(&s->creds, &ids);
	if (ret == 0)
		ret = connect_unix_as_guest(s, ((const struct sockaddr_un *)ss)->sun_path, buf,
					    buflen);
	tsi_ids_leave(&ids);
	return ret;
}

static void unix_name(const char *path, struct tsi_addr *out)
{
	size_t n = path ? strlen(path) + 1 : 0;

	memset(out, 0, sizeof(*out));
	memcpy(out->sa, &(sa_family_t){ AF_UNIX }, sizeof(sa_family_t));
	if (n)
		memcpy(out->sa + SUN_OFF, path, n);
	out->len = SUN_OFF + n;
}

int tsi_getname(struct tsi_sock *s, bool peer, struct tsi_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	if (s->family == AF_UNIX) {
		if (peer && s->state != TS_CONNECTED)
			return -ENOTCONN;
		unix_name(peer ? s->peer_path : s->local_path, out);
		return 0;
	}
	ret = peer ? getpeername(s->host.fd, (struct sockaddr *)&ss, &len)
		   : getsockname(s->host.fd, (struct sockaddr *)&ss, &len);
	if (ret < 0)
		return -errno;
	tsi_addr_from_host(s->t, (struct sockaddr *)&ss, len, out);
	return 0;
}

void tsi_addr_from_host(const struct tsi *t, const struct sockaddr *sa, socklen_t len,
			struct tsi_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family != AF_UNIX) {
		out->len = len > TSI_ADDR_MAX ? TSI_ADDR_MAX : len;
		memcpy(out->sa, sa, out->len);
		return;
	}
	/* A host path means something to the guest only inside its root. */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1] = "";
	if (len > SUN_OFF)
		memcpy(path, ((const struct sockaddr_un *)sa)->sun_path, len - SUN_OFF);
	bool inside = t->root_path && path[0] == '/' && !strncmp(path, t->root_path, t->root_len) &&
		      path[t->root_len] == '/';
	unix_name(inside ? path + t->root_len : NULL, out);
}

static int set_flag(int fd, int level, int name, bool on)
{
	int cur = 0, want = on;
	socklen_t len = sizeof(cur);

	if (getsockopt(fd, level, name, &cur, &len) == 0 && !!cur == on)
		return 0;
	return setsockopt(fd, level, name, &want, sizeof(want)) < 0 ? -errno : 0;
}

int tsi_apply_flags(struct tsi_sock *s, uint32_t flags)
{
	int ret;

	if (flags & ~TSI_F_ALL)
		return -EINVAL;
	s->flags = flags;
	if (s->family == AF_UNIX)
		return 0; /* neither reuse flag means anything for a path */
	ret = set_flag(s->host.fd, SOL_SOCKET, SO_REUSEADDR, flags & TSI_F_REUSEADDR);
	if (ret < 0)
		return ret;
	ret = set_flag(s->host.fd, SOL_SOCKET, SO_REUSEPORT, flags & TSI_F_REUSEPORT);
	if (ret < 0 || s->family != AF_INET6)
		return ret;
	return set_flag(s->host.fd, IPPROTO_IPV6, IPV6_V6ONLY, flags & TSI_F_V6ONLY);
}
