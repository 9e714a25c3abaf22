/* The VMM's root: an empty read-only tmpfs holding /proc and /dev/null, in a mount
 * namespace of its own, entered before the machine is built so that every device opens
 * what it needs from there.
 *
 * Why not the container root itself: a proc mounted there would be served to the guest by
 * virtio-fs (which crosses mounts beneath the root), and TSI names AF_UNIX sockets as
 * /proc/self/fd/N/NAME and virtio-fs reopens inodes through /proc/self/fd, which need a
 * /proc. Why before the devices and not after: a directory fd keeps its place in the mount
 * tree, and ".." from it climbs wherever that tree goes. The host's /proc/self/fd, opened
 * before, would lead to /proc/sys and /proc/sysrq-trigger, which the host's uid 0 may write
 * without any capability. So the /proc here is a new instance (subset=pid: processes only,
 * hidepid=ptraceable: those this process may trace), and the container root is served from
 * a detached copy of its mount tree (the root with the binds and volumes beneath it), where
 * ".." stops at the copy's top. The host's /dev/null is bound in for TSI's spare fd.
 *
 * When the pid namespace belongs to a user namespace above ours (podman --uidmap), no new
 * proc may be mounted: the /proc the process had is bound instead. Its /proc/sys and
 * sysrq-trigger then answer to a uid that is not the host's root. */
#include "confine.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MNT_SAFE (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* The namespace the VMM left, held until it exits. */
static int previous_ns = -1;

static int detached_fs(const char *type, const char *const *opts, size_t nopts)
{
	cleanup_close int fs = fsopen(type, FSOPEN_CLOEXEC);

	if (fs < 0)
		return -errno;
	for (size_t i = 0; i + 1 < nopts; i += 2)
		if (fsconfig(fs, FSCONFIG_SET_STRING, opts[i], opts[i + 1], 0) < 0)
			return -errno;
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	int mnt = fsmount(fs, FSMOUNT_CLOEXEC, MNT_SAFE);
	return mnt < 0 ? -errno : mnt;
}

/* The empty root with its mount points, read-only before anyone can see it. */
static int empty_root(krun_error_t *err)
{
	static const char *const opts[] = { "mode", "0755", "size", "4k", "nr_inodes", "8" };
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	cleanup_close int mnt = detached_fs("tmpfs", opts, ARRAY_SIZE(opts));
	int fd;

	if (mnt < 0)
		return krun_make_error(err, -mnt, "make the VMM's empty root (tmpfs)");
	if (mkdirat(mnt, "proc", 0555) < 0 || mkdirat(mnt, "dev", 0555) < 0 ||
	    (fd = openat(mnt, "dev/null", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666)) < 0)
		return krun_make_error(err, errno, "prepare the VMM's empty root");
	close(fd);
	if (mount_setattr(mnt, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
		return krun_make_error(err, errno, "make the VMM's root read-only");
	return steal_fd(&mnt);
}

static int proc_tree(krun_error_t *err)
{
	static const char *const opts[] = { "subset", "pid", "hidepid", "ptraceable" };
	int mnt = detached_fs("proc", opts, ARRAY_SIZE(opts));

	if (mnt >= 0)
		return mnt;
	if (mnt != -EPERM)
		return krun_make_error(err, -mnt, "mount a proc for the VMM");
	mnt = open_tree(AT_FDCWD, "/proc", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (mnt < 0)
		return krun_make_error(err, errno, "bind /proc for the VMM");
	return mnt;
}

/* chroot, not pivot_root and a lazy unmount of the old root: any unmount waits for an RCU
 * grace period (measured 1.6 to 13 ms on these machines, the whole set-up budget), and
 * what it would add is little: no descriptor the VMM holds leads into the old tree, and
 * chroot, pivot_root, mount and setns are out of its seccomp filter. */
static int enter(int root, krun_error_t *err)
{
	if (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return krun_make_error(err, errno, "enter the VMM's empty root");
	return 0;
}

/* Everything is taken from the old tree before the new root goes over "/" (any directory
 * would do, since the whole old tree is dropped, and "/" is one that always exists). */
static int assemble(int *tree, krun_error_t *err)
{
	cleanup_close int root = -1, proc = -1, null = -1;

	*tree = open_tree(AT_FDCWD, ".", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (*tree < 0)
		return krun_make_error(err, errno, "copy the container root's mount tree");
	null = open_tree(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (null < 0)
		return krun_make_error(err, errno, "bind /dev/null for the VMM");
	if ((proc = proc_tree(err)) < 0 || (root = empty_root(err)) < 0)
		return proc < 0 ? proc : root;
	if (move_mount(root, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
	    move_mount(proc, "", root, "proc", MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
	    move_mount(null, "", root, "dev/null", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return krun_make_error(err, errno, "assemble the VMM's root");
	return enter(root, err);
}

int confine_root(int root_fd, int *tree, krun_error_t *err)
{
	cleanup_close int old_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	int ret;

	*tree = -1;
	if (old_ns < 0)
		return krun_make_error(err, errno, "open the VMM's mount namespace");
	/* The working directory follows into the new namespace, so the root is found there
	 * even when no name leads to it (directories above it closed to a user namespace). */
	if (fchdir(root_fd) < 0)
		return krun_make_error(err, errno, "enter the container root");
	/* A namespace of our own: the container's may be shared (joined by path), and nothing
	 * done here may propagate back to it or to the host. */
	if (unshare(CLONE_NEWNS) < 0)
		return krun_make_error(err, errno, "make the VMM's mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return krun_make_error(err, errno, "make the VMM's mounts private");
	ret = assemble(tree, err);
	if (ret < 0 && *tree >= 0) {
		close(*tree);
		*tree = -1;
	}
	/* Dropping the container's namespace now would unmount it all, with a grace period
	 * (see enter); it goes with the process. */
	if (ret == 0 && previous_ns < 0)
		previous_ns = steal_fd(&old_ns);
	return ret;
}

/* The one directory the VMM may hold is the detached copy of the container root: any
 * other, opened before the new root, leads back into the host's tree by "..". getdents64
 * into the stack, not opendir: its 32 KiB buffer was most of this check's cost. */
int confine_no_directory_fds(int tree, krun_error_t *err)
{
	cleanup_close int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char buf[4096] __attribute__((aligned(8)));
	struct stat st;
	ssize_t n;

	if (dir < 0)
		return krun_make_error(err, errno, "list the VMM's fds");
	while ((n = getdents64(dir, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			const struct dirent64 *e = (const void *)(buf + off);
			int fd = atoi(e->d_name);

			off += e->d_reclen;
			if (e->d_name[0] == '.' || fd == tree || fd == dir)
				continue;
			if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
				return krun_make_error(
				    err, EBADF, "the VMM holds fd %d, a directory outside its root",
				    fd);
		}
	}
	if (n < 0)
		return krun_make_error(err, errno, "list the VMM's fds");
	return 0;
}
