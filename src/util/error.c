/* Error objects: a message naming what failed, with the errno it came from. */
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

static int status_ret(int status)
{
	return status ? -status : -EINVAL;
}

int krun_make_error(krun_error_t *err, int errnum, const char *fmt, ...)
{
	cleanup_free char *base = NULL;
	va_list ap;

	if (errnum < 0)
		errnum = -errnum;
	if (!err || *err)
		return status_ret(errnum);

	va_start(ap, fmt);
	xvasprintf(&base, fmt, ap);
	va_end(ap);

	*err = xzalloc(sizeof(**err));
	(*err)->status = errnum;
	if (errnum)
		xasprintf(&(*err)->msg, "%s: %s", base, strerror(errnum));
	else
		(*err)->msg = steal_ptr(&base);
	return status_ret(errnum);
}

int krun_error_wrap(krun_error_t *err, const char *fmt, ...)
{
	cleanup_free char *ctx = NULL;
	char *msg;
	va_list ap;

	if (!err || !*err)
		return -EINVAL;
	va_start(ap, fmt);
	xvasprintf(&ctx, fmt, ap);
	va_end(ap);
	xasprintf(&msg, "%s: %s", ctx, (*err)->msg);
	free((*err)->msg);
	(*err)->msg = msg;
	return status_ret((*err)->status);
}

void krun_error_release(krun_error_t *err)
{
	if (!err || !*err)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}
