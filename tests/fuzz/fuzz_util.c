/* Helpers of the harnesses. The event loop's own source is compiled in here, so that a
 * harness can run one turn of it on its own thread (its state is private to that file). */
#include "vm/event_loop.c"
#include "fuzz_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t fin_bytes(struct fuzz_in *in, void *buf, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(buf, in->p, n);
	memset((uint8_t *)buf + n, 0, len - n);
	in->p += n;
	in->left -= n;
	return n;
}

uint8_t fin_u8(struct fuzz_in *in)
{
	uint8_t v;

	fin_bytes(in, &v, sizeof(v));
	return v;
}

uint16_t fin_u16(struct fuzz_in *in)
{
	uint16_t v;

	fin_bytes(in, &v, sizeof(v));
	return v;
}

uint32_t fin_u32(struct fuzz_in *in)
{
	uint32_t v;

	fin_bytes(in, &v, sizeof(v));
	return v;
}

uint64_t fin_u64(struct fuzz_in *in)
{
	uint64_t v;

	fin_bytes(in, &v, sizeof(v));
	return v;
}

int fuzz_loop_poll(struct event_loop *loop, int turns)
{
	struct epoll_event evs[EVENT_BATCH];
	int total = 0;

	for (int i = 0; i < turns; i++) {
		int n = epoll_wait(loop->epfd, evs, EVENT_BATCH, 0);
		if (n <= 0)
			break;
		dispatch(loop, evs, n);
		total += n;
	}
	return total;
}

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz invariant broken: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}
