/* Shared by the libFuzzer harnesses: reading a fuzz input as a stream of small
 * decisions, and one turn of the event loop on the calling thread. */
#ifndef KRUN_TESTS_FUZZ_UTIL_H
#define KRUN_TESTS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vm/event_loop.h"

/* The input, consumed from the front; reads past its end give zeroes. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

uint8_t fin_u8(struct fuzz_in *in);
uint16_t fin_u16(struct fuzz_in *in);
uint32_t fin_u32(struct fuzz_in *in);
uint64_t fin_u64(struct fuzz_in *in);
/* Copies up to len bytes (zero-filled beyond the input); returns how many were real. */
size_t fin_bytes(struct fuzz_in *in, void *buf, size_t len);
static inline bool fin_done(const struct fuzz_in *in)
{
	return in->left == 0;
}

/* Dispatches the events that are ready now (epoll_wait with no timeout), at most `turns`
 * batches; returns the number of events dispatched. */
int fuzz_loop_poll(struct event_loop *loop, int turns);

/* Aborts with a message: a broken invariant the sanitizers cannot see. */
__attribute__((noreturn)) void fuzz_fail(const char *fmt, ...);

#endif
