/* init's small helpers: error messages that name what failed, allocation that cannot fail,
 * whole-file reads and writes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "common.h"

int init_fail(struct init_error *err, int errnum, const char *fmt, ...)
{
	if (err && err->msg[0] == '\0') {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		if (errnum && n >= 0 && (size_t)n < sizeof(err->msg))
			snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
		err->errnum = errnum;
	}
	return errnum ? -errnum : -EINVAL;
}

int init_fail_wrap(struct init_error *err, const char *fmt, ...)
{
	char prefix[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* Shift the message right to make room for "prefix: ", cutting its end if needed. */
	size_t plen = strlen(prefix) + 2;
	size_t mlen = strnlen(err->msg, sizeof(err->msg) - 1);
	if (plen + mlen > sizeof(err->msg) - 1)
		mlen = sizeof(err->msg) - 1 - plen;
	memmove(err->msg + plen, err->msg, mlen);
	err->msg[plen + mlen] = '\0';
	memcpy(err->msg, prefix, plen - 2);
	memcpy(err->msg + plen - 2, ": ", 2);
	return err->errnum ? -err->errnum : -EINVAL;
}

static void *oom(size_t size)
{
	static const char msg[] = "krun-init: out of memory\n";
	(void)size;
	write_all(STDERR_FILENO, msg, sizeof(msg) - 1);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	return p ? p : oom(size);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	return p ? p : oom(size);
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	return p ? p : oom(size);
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	return p ? p : oom(strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	return p ? p : oom(n);
}

char *xstrfmt(const char *fmt, ...)
{
	char *out;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&out, fmt, ap);
	va_end(ap);
	return n < 0 ? oom(0) : out;
}

void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int read_file(const char *path, size_t max, char **out, size_t *len, struct init_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return init_fail(err, errno, "open `%s`", path);
	if (fstat(fd, &st) < 0)
		return init_fail(err, errno, "stat `%s`", path);
	if (!S_ISREG(st.st_mode))
		return init_fail(err, 0, "`%s` is not a regular file", path);
	/* The size is a hint only (pseudo files report 0): grow as needed, and read one byte
	 * past the limit to tell "exactly max" from "too big". */
	size_t cap = (size_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1;
	if (cap < 4096)
		cap = 4096;
	cleanup_free char *buf = xmalloc(cap + 1);
	size_t got = 0;
	while (got <= max) {
		if (got == cap) {
			cap = cap > max / 2 ? max + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return init_fail(err, errno, "read `%s`", path);
		if (n == 0)
			break;
		got += n;
	}
	if (got > max)
		return init_fail(err, EFBIG, "`%s` is larger than %zu bytes", path, max);
	buf[got] = '\0';
	*len = got;
	*out = steal_ptr(&buf);
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}
