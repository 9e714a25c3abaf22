/* Per-thread credentials of the serving threads. Creating operations run with the guest
 * caller's uid/gid as the thread's fsuid/fsgid (per-thread syscalls), so new files get the
 * caller as owner and the host checks permissions as the guest expects. The kill-suid
 * semantics of HANDLE_KILLPRIV_V2 come from the host kernel itself: a write or truncate
 * the guest flags runs with CAP_FSETID dropped from the thread's effective set.
 *
 * A VMM without CAP_SETUID or CAP_SETGID (its container's bounding set lacks them, see
 * docs/confinement.md) cannot take the caller's ids: it serves every request with its own,
 * so files a guest user creates belong to the VMM's user (the container's root). The guest
 * kernel has already checked the caller's permissions (default_permissions), and the host
 * checks the VMM's own, which is all such a container's root may do anyway. */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "devices/fs/internal.h"

static __thread bool thread_ready;
static __thread bool thread_switches_ids; /* CAP_SETUID and CAP_SETGID in effect */
static __thread struct __user_cap_data_struct thread_caps[_LINUX_CAPABILITY_U32S_3];

static bool has_cap(int cap)
{
	return thread_caps[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap);
}

int fs_server_thread_init(struct fs_server *srv, krun_error_t *err)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };

	/* A private umask (0: the guest applied its own and sends the final mode) and a
	 * private working directory: /proc/self/fd, so "N" names the inode behind fd N in
	 * the path-only calls (xattrs) that have no *at form. */
	if (unshare(CLONE_FS) < 0)
		return krun_make_error(err, errno,
				       "unshare the fs attributes of a virtio-fs thread");
	umask(0);
	if (fchdir(srv->proc_fd) < 0)
		return krun_make_error(err, errno, "enter /proc/self/fd");
	if (syscall(SYS_capget, &hdr, thread_caps) < 0)
		return krun_make_error(err, errno, "read the capabilities of a virtio-fs thread");
	thread_switches_ids = has_cap(CAP_SETUID) && has_cap(CAP_SETGID);
	thread_ready = true;
	return 0;
}

bool fs_thread_ready(void)
{
	return thread_ready;
}

/* Requests from the guest's root, or from our own ids, keep the server's credentials: a
 * VMM that is not root (and cannot switch) still serves a guest whose root creates files. */
int fs_creds_enter(const struct fs_req *r, struct fs_creds *saved)
{
	uid_t uid = r->h.uid;
	gid_t gid = r->h.gid;
	bool same_uid = uid == 0 || uid == r->srv->euid;
	bool same_gid = gid == 0 || gid == r->srv->egid;

	saved->switched = false;
	if ((same_uid && same_gid) || (thread_ready && !thread_switches_ids))
		return 0;
	uid = same_uid ? r->srv->euid : uid;
	gid = same_gid ? r->srv->egid : gid;
	saved->old_gid = setfsgid(gid);
	if ((gid_t)setfsgid(-1) != gid) {
		setfsgid(saved->old_gid);
		return -EPERM;
	}
	saved->old_uid = setfsuid(uid);
	if ((uid_t)setfsuid(-1) != uid) {
		setfsuid(saved->old_uid);
		setfsgid(saved->old_gid);
		return -EPERM;
	}
	saved->switched = true;
	return 0;
}

void fs_creds_leave(struct fs_creds *saved)
{
	if (!saved->switched)
		return;
	setfsuid(saved->old_uid);
	setfsgid(saved->old_gid);
	saved->switched = false;
}

int fs_fsetid_drop(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];

	memcpy(caps, thread_caps, sizeof(caps));
	caps[CAP_TO_INDEX(CAP_FSETID)].effective &= ~CAP_TO_MASK(CAP_FSETID);
	if (syscall(SYS_capset, &hdr, caps) < 0)
		return -errno;
	return 0;
}

void fs_fsetid_restore(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };

	syscall(SYS_capset, &hdr, thread_caps);
}
