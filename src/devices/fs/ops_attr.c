/* Opcodes about one inode and its attributes: LOOKUP, FORGET, BATCH_FORGET, GETATTR,
 * SETATTR, READLINK, STATFS, ACCESS. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "devices/fs/internal.h"
#include "devices/virtio/virtqueue.h"

int fs_op_lookup(struct fs_req *r)
{
	struct fuse_entry_out e;
	const char *name;
	size_t len, off = 0;
	int ret = fs_arg_string(r, &off, &name, &len);

	if (ret)
		return ret;
	if (r->ino->nodeid == FUSE_ROOT_ID) {
		const struct fs_vfile *vf = fs_vfile_by_name(r->srv, name);
		if (vf) {
			fs_vfile_entry(r->srv, vf, &e);
			return fs_reply(r, &e, sizeof(e));
		}
		/* The root is its own parent, as in any chroot. */
		if (strcmp(name, "..") == 0) {
			struct stat st;
			ret = fs_inode_stat(r->ino, &st);
			if (ret < 0)
				return ret;
			memset(&e, 0, sizeof(e));
			e.nodeid = FUSE_ROOT_ID;
			e.entry_valid = e.attr_valid = FS_TIMEOUT_SEC;
			fs_stat_to_attr(&st, false, &e.attr);
			return fs_reply(r, &e, sizeof(e));
		}
	}
	off = 0;
	ret = fs_arg_name(r, &off, &name);
	if (ret < 0)
		return ret;
	ret = fs_lookup(r->srv, r->ino, name, &e);
	if (ret < 0)
		return ret;
	return fs_reply(r, &e, sizeof(e));
}

int fs_op_forget(struct fs_req *r)
{
	const struct fuse_forget_in *in = (const void *)r->arg;

	fs_inode_forget(&r->srv->inodes, r->h.nodeid, in->nlookup);
	return FS_NOREPLY;
}

/* The entries follow in the request itself (a /dev/fuse kernel sends up to a page-full
 * per buffer): they are read one at a time rather than copied. */
int fs_op_batch_forget(struct fs_req *r)
{
	const struct fuse_batch_forget_in *in = (const void *)r->arg;
	size_t off = sizeof(struct fuse_in_header) + sizeof(*in);
	struct fuse_forget_one one;

	if (in->count > r->payload_len / sizeof(one))
		return FS_NOREPLY;
	for (uint32_t i = 0; i < in->count; i++, off += sizeof(one)) {
		iov_to_buf(r->req->iov, r->req->n, off, &one, sizeof(one));
		fs_inode_forget(&r->srv->inodes, one.nodeid, one.nlookup);
	}
	return FS_NOREPLY;
}

static int reply_attr(struct fs_req *r)
{
	struct fuse_attr_out out = { .attr_valid = FS_TIMEOUT_SEC };
	struct stat st;
	int ret = fs_inode_stat(r->ino, &st);

	if (ret)
		return ret;
	fs_stat_to_attr(&st, r->ino->submount, &out.attr);
	return fs_reply(r, &out, sizeof(out));
}

int fs_op_getattr(struct fs_req *r)
{
	return reply_attr(r);
}

static int set_owner(const struct fs_inode *ino, const struct fuse_setattr_in *in)
{
	uid_t uid = (in->valid & FATTR_UID) ? in->uid : (uid_t)-1;
	gid_t gid = (in->valid & FATTR_GID) ? in->gid : (gid_t)-1;

	if (fchownat(ino->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int set_mode(const struct fs_server *srv, const struct fs_inode *ino, uint32_t mode)
{
	char name[16];

	/* Linux has no symlink modes; chmod through the magic link reaches the inode. */
	if (ino->type == S_IFLNK)
		return -EOPNOTSUPP;
	fs_inode_proc_name(ino, name);
	if (fchmodat(srv->proc_fd, name, mode & 07777, 0) < 0)
		return -errno;
	return 0;
}

/* Truncates through the guest's open file when it names one (ftruncate), else through a
 * fresh one. With FATTR_KILL_SUIDGID the host kernel drops set-id bits itself. */
static int set_size(const struct fs_req *r, const struct fuse_setattr_in *in)
{
	struct fs_handle *h = NULL;
	int fd, ret = 0;

	if (in->size > INT64_MAX)
		return -EFBIG;
	if (in->valid & FATTR_FH) {
		h = fs_req_handle(r, in->fh, FS_H_FILE);
		if (!h)
			return -EBADF;
		fd = h->fd;
	} else if (r->ino->type != S_IFREG) {
		return r->ino->type == S_IFDIR ? -EISDIR : -EINVAL;
	} else if ((fd = fs_inode_reopen(r->srv, r->ino, O_WRONLY)) < 0) {
		return fd;
	}
	bool kill = in->valid & FATTR_KILL_SUIDGID;
	if (kill && (ret = fs_fsetid_drop()) < 0)
		goto out;
	if (ftruncate(fd, in->size) < 0)
		ret = -errno;
	if (kill)
		fs_fsetid_restore();
out:
	if (h)
		fs_handle_put(h);
	else
		close(fd);
	return ret;
}

static int guest_time(bool set, bool now, uint64_t sec, uint32_t nsec, struct timespec *ts)
{
	if (now) {
		ts->tv_nsec = UTIME_NOW;
	} else if (!set) {
		ts->tv_nsec = UTIME_OMIT;
	} else {
		if (nsec >= 1000000000u)
			return -EINVAL;
		ts->tv_sec = (int64_t)sec;
		ts->tv_nsec = nsec;
	}
	return 0;
}

static int set_times(const struct fs_inode *ino, const struct fuse_setattr_in *in)
{
	struct timespec ts[2] = { 0 };
	int ret;

	ret = guest_time(in->valid & FATTR_ATIME, in->valid & FATTR_ATIME_NOW, in->atime,
			 in->atimensec, &ts[0]);
	if (ret < 0)
		return ret;
	ret = guest_time(in->valid & FATTR_MTIME, in->valid & FATTR_MTIME_NOW, in->mtime,
			 in->mtimensec, &ts[1]);
	if (ret < 0)
		return ret;
	if (utimensat(ino->fd, "", ts, AT_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

/* In the order the VFS applies them: owner (which may clear set-id bits), then an explicit
 * mode, size, and times last so that a truncate does not overwrite them. The guest kernel
 * checked the permissions (it mounts with default_permissions). */
int fs_op_setattr(struct fs_req *r)
{
	const struct fuse_setattr_in *in = (const void *)r->arg;
	uint32_t times = FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW;
	int ret;

	if (in->valid & (FATTR_UID | FATTR_GID)) {
		ret = set_owner(r->ino, in);
		if (ret < 0)
			return ret;
	}
	if (in->valid & FATTR_MODE) {
		ret = set_mode(r->srv, r->ino, in->mode);
		if (ret < 0)
			return ret;
	}
	if (in->valid & FATTR_SIZE) {
		ret = set_size(r, in);
		if (ret < 0)
			return ret;
	}
	if (in->valid & times) {
		ret = set_times(r->ino, in);
		if (ret < 0)
			return ret;
	}
	return reply_attr(r);
}

int fs_op_readlink(struct fs_req *r)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(r->ino->fd, "", buf, sizeof(buf));

	if (n < 0)
		return -errno;
	return fs_reply(r, buf, n);
}

int fs_op_statfs(struct fs_req *r)
{
	struct fuse_statfs_out out = { 0 };
	struct statvfs sv;

	if (fstatvfs(r->ino->fd, &sv) < 0)
		return -errno;
	out.st.blocks = sv.f_blocks;
	out.st.bfree = sv.f_bfree;
	out.st.bavail = sv.f_bavail;
	out.st.files = sv.f_files;
	out.st.ffree = sv.f_ffree;
	out.st.bsize = sv.f_bsize;
	out.st.namelen = sv.f_namemax;
	out.st.frsize = sv.f_frsize;
	return fs_reply(r, &out, sizeof(out));
}

/* Only sent when the guest mounts without default_permissions: the check runs as the
 * caller's fsuid/fsgid. */
int fs_op_access(struct fs_req *r)
{
	const struct fuse_access_in *in = (const void *)r->arg;
	struct fs_creds creds;
	int ret;

	if (in->mask & ~(uint32_t)(R_OK | W_OK | X_OK))
		return -EINVAL;
	ret = fs_creds_enter(r, &creds);
	if (ret < 0)
		return ret;
	if (faccessat(r->ino->fd, "", in->mask, AT_EMPTY_PATH | AT_EACCESS) < 0)
		ret = -errno;
	fs_creds_leave(&creds);
	return ret ? ret : fs_reply(r, NULL, 0);
}
