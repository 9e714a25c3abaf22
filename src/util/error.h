/* Error objects: every fallible function returns 0 or a negative errno and, on
 * failure, leaves a message naming what failed in *err. */
#ifndef KRUN_UTIL_ERROR_H
#define KRUN_UTIL_ERROR_H

struct krun_error {
	int status; /* positive errno, 0 when the failure has no errno */
	char *msg;
};
typedef struct krun_error *krun_error_t;

/* Fills *err (if err and *err is empty) with the message, followed by ": strerror(errnum)"
 * when errnum is non-zero. Returns -errnum, or -EINVAL when errnum is 0. */
int krun_make_error(krun_error_t *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with "context: ". Returns -status (or -EINVAL). */
int krun_error_wrap(krun_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void krun_error_release(krun_error_t *err);

#endif
