/* The capabilities the VMM keeps once the guest runs. The guest kernel checks its own
 * processes' capabilities, but a guest kernel is not trusted: whatever the VMM may do for
 * it, a hostile guest may ask. So the VMM keeps what its devices use after boot, and of
 * that only what the container's bounding set grants: a container without CAP_SYS_ADMIN
 * cannot set trusted.* xattrs through virtio-fs, one without CAP_MKNOD cannot create
 * whiteouts, and so on. Set-up needs more (mounts, namespaces, /dev/kvm), but it is over
 * before this runs. Under a user namespace these are the namespace's capabilities. */
#include "confine.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

const struct confine_cap_use confine_cap_uses[] = {
	{ CAP_CHOWN, "virtio-fs: a file's owner and group (SETATTR, chown)" },
	{ CAP_DAC_OVERRIDE, "virtio-fs: the guest's root reads and writes files whatever their "
			    "mode" },
	{ CAP_DAC_READ_SEARCH, "virtio-fs: the guest's root reads files and searches "
			       "directories whatever their mode" },
	{ CAP_FOWNER, "virtio-fs: chmod, times, xattrs and sticky-directory removals on files "
		      "the guest's root does not own" },
	{ CAP_FSETID, "virtio-fs: set-user/group-ID bits kept by chmod and writes (dropped per "
		      "request for the guest's kill-suid writes)" },
	{ CAP_MKNOD, "virtio-fs: overlay whiteouts (the 0:0 character device)" },
	{ CAP_SETUID, "virtio-fs: the guest caller's uid as the thread's fsuid for new files; "
		      "TSI: AF_UNIX connects and binds with the guest socket owner's uid" },
	{ CAP_SETGID, "virtio-fs: the guest caller's gid as the thread's fsgid; TSI: the guest "
		      "socket owner's gids" },
	{ CAP_SETFCAP, "virtio-fs: security.capability xattrs (file capabilities)" },
	{ CAP_SYS_ADMIN, "virtio-fs: trusted.* and security.* xattrs" },
	{ CAP_NET_BIND_SERVICE, "TSI: binds to ports below 1024" },
};
const size_t confine_n_cap_uses = sizeof(confine_cap_uses) / sizeof(confine_cap_uses[0]);

static int last_cap(void)
{
	int n = cap_max_bits();

	return n > 64 ? 63 : n - 1;
}

confine_caps_t confine_caps_all(void)
{
	int last = last_cap();

	return last >= 63 ? ~(confine_caps_t)0 : CONFINE_CAP(last + 1) - 1;
}

confine_caps_t confine_caps_from_names(const char *const *names, size_t n)
{
	confine_caps_t set = 0;
	char lower[64];
	cap_value_t cap;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);

		if (len >= sizeof(lower))
			continue;
		for (size_t j = 0; j <= len; j++)
			lower[j] = (char)tolower((unsigned char)names[i][j]);
		if (cap_from_name(lower, &cap) == 0 && cap >= 0 && cap < 64)
			set |= CONFINE_CAP(cap);
	}
	return set;
}

confine_caps_t confine_caps_kept(confine_caps_t bounding)
{
	confine_caps_t used = 0;

	for (size_t i = 0; i < confine_n_cap_uses; i++)
		used |= CONFINE_CAP(confine_cap_uses[i].cap);
	return used & bounding & confine_caps_all();
}

/* Raw capget/capset and prctl: libcap's first cap_get_proc alone costs more than the rest
 * of this file (measured about 0.6 ms in a fresh process). */
static int capget_v3(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capget, &h, d);
}

static int capset_v3(const struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capset, &h, d);
}

/* Needs CAP_SETPCAP, so it comes before the capset that may drop it. Without CAP_SETPCAP
 * the bounding set stays: it only matters to execve, which the seccomp filter forbids and
 * no_new_privs defuses. Dropping a capability the set lacks is harmless. */
static int drop_bounding(confine_caps_t keep, bool can, krun_error_t *err)
{
	if (!can)
		return 0;
	for (int cap = 0; cap <= last_cap(); cap++)
		if (!(keep & CONFINE_CAP(cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return krun_make_error(err, errno,
					       "drop capability %d from the bounding set", cap);
	return 0;
}

int confine_caps(confine_caps_t keep, krun_error_t *err)
{
	struct __user_cap_data_struct d[2];
	confine_caps_t have;
	int ret;

	if (capget_v3(d) < 0)
		return krun_make_error(err, errno, "read the VMM's capabilities");
	have = d[0].permitted | (confine_caps_t)d[1].permitted << 32;
	keep &= have;
	if ((ret = drop_bounding(keep, have & CONFINE_CAP(CAP_SETPCAP), err)) < 0)
		return ret;
	/* Ambient capabilities would survive an execve; kernels before 4.3 have none. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return krun_make_error(err, errno, "clear the ambient capabilities");
	for (int i = 0; i < 2; i++) {
		d[i].permitted = d[i].effective = (uint32_t)(keep >> (32 * i));
		d[i].inheritable = 0;
	}
	if (capset_v3(d) < 0)
		return krun_make_error(err, errno, "drop the VMM's capabilities");
	return 0;
}
