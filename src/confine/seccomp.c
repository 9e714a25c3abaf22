/* Loads the VMM's seccomp allow-list (made at build time: gen_filter.c says what is in it
 * and why) with the process' own tgid put in. */
#include "confine.h"
#include "filter.h"
#include "util/util.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int confine_seccomp(krun_error_t *err)
{
	/* On the stack: a heap allocation here costs more than the copy (page faults). */
	struct sock_filter insns[CONFINE_FILTER_MAX_LEN];
	struct sock_fprog prog = { .len = confine_filter_len, .filter = insns };
	unsigned placeholders = 0;
	long ret;

	if (confine_filter_len > ARRAY_SIZE(insns))
		return krun_make_error(err, EINVAL, "the VMM's seccomp program is too long");
	memcpy(insns, confine_filter, confine_filter_len * sizeof(*insns));
	for (size_t i = 0; i < confine_filter_len; i++)
		if (CONFINE_IS_TGID_PLACEHOLDER(&insns[i])) {
			insns[i].k = (uint32_t)getpid();
			placeholders++;
		}
	if (placeholders != 1)
		return krun_make_error(err, EINVAL, "the VMM's seccomp program is malformed");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return krun_make_error(err, errno, "set no_new_privs on the VMM");
	/* TSYNC: a thread made before would otherwise escape the filter (it fails instead). */
	ret = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (ret != 0)
		return krun_make_error(err, ret < 0 ? errno : EBUSY,
				       "load the VMM's seccomp filter");
	return 0;
}
