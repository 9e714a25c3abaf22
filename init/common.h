/* Small helpers of the guest init: error messages that name what failed, allocation that
 * cannot fail, cleanup attributes. The init links nothing of the host side, so it has its
 * own copies of these few conventions (same shapes as src/util). */
#ifndef KRUN_INIT_COMMON_H
#define KRUN_INIT_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Exit statuses the VM reports when the workload did not produce its own. */
#define STATUS_INIT_FAILED    125 /* init could not prepare or start the workload */
#define STATUS_CANNOT_EXECUTE 126 /* the program exists but could not be executed */
#define STATUS_NOT_FOUND      127 /* the program was not found */

/* The first failure wins: later calls do not overwrite the message. A fixed buffer keeps
 * error paths free of allocation; hostile strings quoted in messages get truncated. */
struct init_error {
	int errnum; /* positive errno, 0 when the failure has none */
	char msg[1024];
};

/* Fills err (if still empty) with the message, followed by ": strerror(errnum)" when
 * errnum is non-zero. Returns -errnum, or -EINVAL when errnum is 0. */
int init_fail(struct init_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "context: ". Returns -errnum (or -EINVAL). */
int init_fail_wrap(struct init_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A new string formatted as printf would: the string, not its length. */
char *xstrfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void free_strv(char **v); /* frees a NULL-terminated array of strings and the array */

/* Reads a whole file of at most max bytes into a NUL-terminated buffer. */
int read_file(const char *path, size_t max, char **out, size_t *len, struct init_error *err);

/* Writes all of buf, retrying on EINTR and short writes. Returns 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}
static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void cleanup_strvp(char ***v)
{
	free_strv(*v);
}

/* Closes *fd if open and marks it closed, keeping errno (as src/util's close_and_reset). */
static inline void close_and_reset(int *fd)
{
	int saved = errno;

	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	errno = saved;
}

#define cleanup_free  __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_strv  __attribute__((cleanup(cleanup_strvp)))

/* Returns the pointer and clears *pp, handing ownership to the caller. */
#define steal_ptr(pp)                                                                              \
	({                                                                                         \
		__typeof__(*(pp)) _p = *(pp);                                                      \
		*(pp) = NULL;                                                                      \
		_p;                                                                                \
	})

#endif
