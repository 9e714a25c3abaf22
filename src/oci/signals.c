/* Signal names as `kill` takes them ("TERM", "SIGTERM", "15", "RTMIN+2") and their numbers. */
#include "oci/signals.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_number(const char *text, int min, int max)
{
	char *end;
	long n;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	n = strtol(text, &end, 10);
	return *end || n < min || n > max ? -EINVAL : (int)n;
}

int signal_parse(const char *text)
{
	int n;

	if (*text >= '0' && *text <= '9') {
		return parse_number(text, 1, SIGRTMAX);
	}
	if (!strncasecmp(text, "SIG", 3))
		text += 3;
	if (!strncasecmp(text, "RTMIN+", 6)) {
		n = parse_number(text + 6, 0, SIGRTMAX - SIGRTMIN);
		return n < 0 ? n : SIGRTMIN + n;
	}
	if (!strcasecmp(text, "RTMIN"))
		return SIGRTMIN;
	if (!strcasecmp(text, "RTMAX"))
		return SIGRTMAX;
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		const char *name = sigabbrev_np(sig);

		if (name && !strcasecmp(name, text))
			return sig;
	}
	return -EINVAL;
}
