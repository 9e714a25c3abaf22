/* The workload's stdin, stdout and stderr: the console with a terminal, else the named
 * virtio-console ports. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include "log.h"
#include "streams.h"

static bool port_has_name(const char *ports_dir, const char *entry, const char *name)
{
	char path[512], buf[128];

	snprintf(path, sizeof(path), "%s/%s/name", ports_dir, entry);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false; /* the name attribute appears once the host has sent it */
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, name) == 0;
}

int port_find(const char *ports_dir, const char *name, char *dev, size_t dev_size)
{
	DIR *dir = opendir(ports_dir);
	struct dirent *de;
	int ret = -ENOENT;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= dev_size)
			continue;
		if (port_has_name(ports_dir, de->d_name, name)) {
			strcpy(dev, de->d_name);
			ret = 0;
			break;
		}
	}
	closedir(dir);
	return ret;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

unsigned ports_wait(const char *ports_dir, const char *const *names, size_t n, char (*devs)[64],
		    int timeout_ms)
{
	unsigned all = (1u << n) - 1, found = 0;
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		for (size_t i = 0; i < n; i++)
			if (!(found & (1u << i)) &&
			    port_find(ports_dir, names[i], devs[i], 64) == 0)
				found |= 1u << i;
		if (found == all || now_ms() >= deadline)
			return found;
		nanosleep(&(struct timespec){ .tv_nsec = PORTS_POLL_MS * 1000000L }, NULL);
	}
}

static int open_fallback(int index, bool announce, const char *why)
{
	static const char *const streams[] = { "stdin", "stdout", "stderr" };
	const char *path = index == 0 ? "/dev/null" : CONSOLE_PATH;
	int fd = open(path, (index == 0 ? O_RDONLY : O_WRONLY) | O_NOCTTY | O_CLOEXEC);

	if (fd < 0 && index != 0) {
		path = "/dev/null";
		fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	if (announce)
		log_msg("the workload's %s port %s; using `%s` instead", streams[index], why, path);
	return fd;
}

static int open_ports(bool announce, struct stdio_fds *s, struct init_error *err)
{
	static const char *const names[] = { PORT_NAME_STDIN, PORT_NAME_STDOUT, PORT_NAME_STDERR };
	char devs[3][64];
	unsigned found = ports_wait(PORTS_DIR, names, 3, devs, PORTS_WAIT_MS);

	for (int i = 0; i < 3; i++) {
		char path[128], why[160];
		if (found & (1u << i)) {
			snprintf(path, sizeof(path), "/dev/%s", devs[i]);
			s->fd[i] =
			    open(path, (i == 0 ? O_RDONLY : O_WRONLY) | O_NOCTTY | O_CLOEXEC);
			if (s->fd[i] >= 0)
				continue;
			snprintf(why, sizeof(why), "%s cannot be opened (%s)", path,
				 strerror(errno));
		} else {
			snprintf(why, sizeof(why), "`%s` did not appear", names[i]);
		}
		s->fd[i] = open_fallback(i, announce, why);
		if (s->fd[i] < 0)
			return init_fail(err, errno, "open a fallback for fd %d", i);
	}
	return 0;
}

int stdio_open(bool terminal, bool announce, struct stdio_fds *s, struct init_error *err)
{
	*s = (struct stdio_fds){ .fd = { -1, -1, -1 }, .terminal = terminal };
	if (!terminal)
		return open_ports(announce, s, err);
	int fd = open(CONSOLE_PATH, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return init_fail(err, errno, "open the terminal `%s`", CONSOLE_PATH);
	s->fd[0] = s->fd[1] = s->fd[2] = fd;
	return 0;
}

/* dup2 onto `target`; when the fd is already there, only its close-on-exec flag goes. */
static int move_fd(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

int stdio_child_setup(const struct stdio_fds *s, struct init_error *err)
{
	if (setsid() < 0)
		return init_fail(err, errno, "setsid");
	/* Steal the terminal if another session holds it: the workload owns the console. */
	if (s->terminal && ioctl(s->fd[0], TIOCSCTTY, 0) < 0 && ioctl(s->fd[0], TIOCSCTTY, 1) < 0)
		return init_fail(err, errno, "make the console the controlling terminal");
	for (int i = 0; i < 3; i++)
		if (move_fd(s->fd[i], i) < 0)
			return init_fail(err, errno, "set up fd %d", i);
	return 0;
}
