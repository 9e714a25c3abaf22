/* Small helpers shared by the host side: allocation that cannot fail (out of memory
 * aborts, which is the one exit allowed below main), cleanup attributes, container_of. */
#ifndef KRUN_UTIL_UTIL_H
#define KRUN_UTIL_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <errno.h>
#include <unistd.h>

#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Reports "out of memory" and aborts: the one failure krun does not return from. */
__attribute__((noreturn)) void oom(void);
void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
int xasprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int xvasprintf(char **out, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}
static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void cleanup_filep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void cleanup_dirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define cleanup_free  __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_file  __attribute__((cleanup(cleanup_filep)))
#define cleanup_dir   __attribute__((cleanup(cleanup_dirp)))

/* Closes *fd if open and marks it closed; errno is kept so a caller can still report the
 * failure that led it here. */
static inline void close_and_reset(int *fd)
{
	if (*fd < 0)
		return;
	int saved = errno;
	close(*fd);
	*fd = -1;
	errno = saved;
}

/* Returns the fd and sets *fdp to -1, handing ownership to the caller. */
static inline int steal_fd(int *fdp)
{
	int fd = *fdp;
	*fdp = -1;
	return fd;
}
/* Returns the pointer and clears *pp, handing ownership to the caller. */
#define steal_ptr(pp)                                                                              \
	({                                                                                         \
		__typeof__(*(pp)) _p = *(pp);                                                      \
		*(pp) = NULL;                                                                      \
		_p;                                                                                \
	})

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
int read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len);

#endif
