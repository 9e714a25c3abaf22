/* Allocation that cannot fail (out of memory is the one abort) and whole-file reads. */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

void oom(void)
{
	static const char msg[] = "krun: out of memory\n";
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more can be done */
	}
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xzalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

int xvasprintf(char **out, const char *fmt, va_list ap)
{
	int ret = vasprintf(out, fmt, ap);

	if (ret < 0)
		oom();
	return ret;
}

int xasprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = xvasprintf(out, fmt, ap);
	va_end(ap);
	return ret;
}

int read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len)
{
	cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	cleanup_free char *buf = NULL;
	size_t used = 0, cap = 4096;

	if (fd < 0)
		return -errno;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;

		if (used == cap) {
			if (cap >= max)
				return -EFBIG;
			cap = cap * 2 > max ? max : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		used += n;
	}
	buf[used] = '\0';
	if (len)
		*len = used;
	*out = steal_ptr(&buf);
	return 0;
}
