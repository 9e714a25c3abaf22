/* The guest user's ids for AF_UNIX connects and binds, so that the host socket's peer
 * (SO_PEERCRED, SCM_CREDENTIALS) and the owner of a socket file it creates are the
 * container's user, not the VMM's, and the host checks the path's permissions as that
 * user. The event loop thread switches its own effective ids around the call, with raw
 * syscalls: Linux credentials are per thread, and only glibc's wrappers broadcast a change
 * to every thread. The real and saved ids stay the VMM's, so switching back needs no
 * privilege; the effective capabilities are cleared meanwhile (euid 0 -> other does that
 * unless SECBIT_NO_SETUID_FIXUP) and restored from a copy after. */
#include "devices/vsock/tsi_internal.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int capget_self(struct __user_cap_data_struct *caps)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return syscall(SYS_capget, &hdr, caps) < 0 ? -errno : 0;
}

static void capset_self(const struct __user_cap_data_struct *caps)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };

	syscall(SYS_capset, &hdr, caps);
}

static void save_groups(struct tsi_saved_ids *saved)
{
	int n = getgroups(0, NULL);

	saved->ngroups = -1;
	saved->groups = NULL;
	if (n < 0)
		return;
	saved->groups = xmalloc((n ? n : 1) * sizeof(gid_t));
	n = getgroups(n, saved->groups);
	if (n < 0) {
		free(saved->groups);
		saved->groups = NULL;
		return;
	}
	/* No supplementary groups of the VMM while acting as the guest user. A user
	 * namespace may forbid setgroups: the VMM's groups then stay, which there are
	 * unmapped ones that grant nothing. */
	if (syscall(SYS_setgroups, 0, NULL) == 0)
		saved->ngroups = n;
}

static void restore_groups(struct tsi_saved_ids *saved)
{
	if (saved->ngroups >= 0)
		syscall(SYS_setgroups, saved->ngroups, saved->groups);
	free(saved->groups);
	saved->groups = NULL;
}

/* EPERM: the VMM may not switch (no CAP_SETUID/CAP_SETGID): it keeps its ids. EINVAL:
 * the id has no mapping in the VMM's user namespace: the call is refused. */
static int switch_error(int e)
{
	return e == EPERM ? 0 : -EPERM;
}

int tsi_ids_enter(const struct tsi_creds *c, struct tsi_saved_ids *saved)
{
	uid_t uid = c->uid;
	gid_t gid = c->gid;
	int ret;

	memset(saved, 0, sizeof(*saved));
	saved->euid = geteuid();
	saved->egid = getegid();
	uid = uid == 0 ? saved->euid : uid;
	gid = gid == 0 ? saved->egid : gid;
	if (uid == saved->euid && gid == saved->egid)
		return 0;
	if (capget_self(saved->caps) < 0)
		return 0;
	save_groups(saved);
	if (syscall(SYS_setresgid, -1, gid, -1) < 0) {
		ret = switch_error(errno);
		restore_groups(saved);
		return ret;
	}
	if (syscall(SYS_setresuid, -1, uid, -1) < 0) {
		ret = switch_error(errno);
		syscall(SYS_setresgid, -1, saved->egid, -1);
		restore_groups(saved);
		return ret;
	}
	if (uid != saved->euid) {
		struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
		memcpy(none, saved->caps, sizeof(none));
		for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
			none[i].effective = 0;
		capset_self(none);
	}
	saved->switched = true;
	return 0;
}

void tsi_ids_leave(struct tsi_saved_ids *saved)
{
	if (!saved->switched)
		return;
	/* The euid first: back to the VMM's, whose capabilities restore the rest. */
	syscall(SYS_setresuid, -1, saved->euid, -1);
	capset_self(saved->caps);
	syscall(SYS_setresgid, -1, saved->egid, -1);
	restore_groups(saved);
	saved->switched = false;
}
