/* Minimal TAP producer for the C unit tests. Each test binary prints "1..N" at the end
 * (tap_done) and exits non-zero when any check failed. */
#ifndef KRUN_TESTS_TAP_H
#define KRUN_TESTS_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed;

static inline int tap_ok(int cond, const char *name, const char *file, int line)
{
	tap_count++;
	if (cond) {
		printf("ok %d - %s\n", tap_count, name);
	} else {
		tap_failed++;
		printf("not ok %d - %s\n#   at %s:%d\n", tap_count, name, file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, name) tap_ok(!!(cond), (name), __FILE__, __LINE__)
#define is_int(got, want, name)                                                                    \
	({                                                                                         \
		long long _g = (got), _w = (want);                                                 \
		int _r = ok(_g == _w, name);                                                       \
		if (!_r)                                                                           \
			printf("#   got %lld, want %lld\n", _g, _w);                               \
		_r;                                                                                \
	})
#define is_str(got, want, name)                                                                    \
	({                                                                                         \
		const char *_g = (got), *_w = (want);                                              \
		int _r = ok(_g && _w && strcmp(_g, _w) == 0, name);                                \
		if (!_r)                                                                           \
			printf("#   got \"%s\", want \"%s\"\n", _g ? _g : "(null)",                \
			       _w ? _w : "(null)");                                                \
		_r;                                                                                \
	})

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
