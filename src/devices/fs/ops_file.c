/* Opcodes on open files: OPEN, CREATE, READ, WRITE, FLUSH, RELEASE(DIR), FSYNC,
 * FALLOCATE, LSEEK, COPY_FILE_RANGE, IOCTL. Data moves with preadv/pwritev straight
 * between the file and the request's own segments (guest memory): no bounce buffer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "devices/fs/internal.h"
#include "util/util.h"
#include "devices/virtio/virtqueue.h"

/* The guest's open flags that mean something on the host. O_NOFOLLOW would stop the
 * reopen through /proc/self/fd; O_DIRECT would demand aligned guest buffers. */
static int host_open_flags(uint32_t flags)
{
	return (int)(flags & (O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC)) | O_CLOEXEC;
}

/* Whether the guest asks for an O_TRUNC that kills set-id bits (HANDLE_KILLPRIV_V2): the
 * open then runs with CAP_FSETID dropped, and the host kernel kills them. */
static bool kills_suid(uint32_t open_flags, int flags)
{
	return (flags & O_TRUNC) && (open_flags & FUSE_OPEN_KILL_SUIDGID);
}

int fs_op_open(struct fs_req *r)
{
	const struct fuse_open_in *in = (const void *)r->arg;
	int flags = host_open_flags(in->flags), fd, ret;
	bool kill = kills_suid(in->open_flags, flags);

	if (r->ino->type != S_IFREG)
		return r->ino->type == S_IFDIR ? -EISDIR : -EINVAL;
	if (kill && (ret = fs_fsetid_drop()) < 0)
		return ret;
	fd = fs_inode_reopen(r->srv, r->ino, flags);
	if (kill)
		fs_fsetid_restore();
	if (fd < 0)
		return fd;
	/* Our own writes go through the guest's page cache; changes made on the host show up
	 * through AUTO_INVAL_DATA when the attributes are refreshed (1 s). */
	struct fuse_open_out out = { .open_flags = FOPEN_KEEP_CACHE };
	out.fh = fs_handle_add(&r->srv->handles, fs_inode_ref(r->ino), NULL, fd, flags);
	return fs_reply(r, &out, sizeof(out));
}

/* CREATE of a name that exists (no O_EXCL) opens only a regular file: the name is pinned
 * with O_PATH and its type checked before anything opens it for I/O, so a FIFO (which
 * would block the thread) or a device node is never opened. */
static int open_existing(const struct fs_req *r, const char *name, int flags)
{
	cleanup_close int path_fd = openat(r->ino->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (path_fd < 0)
		return -errno;
	if (fstat(path_fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR; /* as open(2) with O_CREAT */
	return fs_reopen_fd(r->srv, path_fd, st.st_mode & S_IFMT, flags);
}

static int open_or_create(const struct fs_req *r, const char *name, mode_t mode, int flags)
{
	/* Twice at most: the name may vanish between the two calls. */
	for (int tries = 0; tries < 2; tries++) {
		int fd = openat(r->ino->fd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
		if (fd >= 0 || errno != EEXIST || (flags & O_EXCL))
			return fd < 0 ? -errno : fd;
		fd = open_existing(r, name, flags);
		if (fd != -ENOENT)
			return fd;
	}
	return -ENOENT;
}

static int create_file(const struct fs_req *r, const struct fuse_create_in *in, const char *name,
		       int flags)
{
	struct fs_creds creds;
	bool kill = kills_suid(in->open_flags, flags);
	int ret, fd;

	ret = fs_creds_enter(r, &creds);
	if (ret < 0)
		return ret;
	if (kill && (ret = fs_fsetid_drop()) < 0) {
		fs_creds_leave(&creds);
		return ret;
	}
	fd = open_or_create(r, name, in->mode & 07777, flags);
	if (kill)
		fs_fsetid_restore();
	fs_creds_leave(&creds);
	return fd;
}

int fs_op_create(struct fs_req *r)
{
	const struct fuse_create_in *in = (const void *)r->arg;
	struct {
		struct fuse_entry_out entry;
		struct fuse_open_out open;
	} out = { 0 };
	struct fs_inode *ino;
	const char *name;
	size_t off = sizeof(*in);
	char self[16];
	int flags = host_open_flags(in->flags) | (in->flags & O_EXCL);
	int ret = fs_arg_name(r, &off, &name);

	if (ret)
		return ret;
	if (fs_is_virtual_name(r->srv, r->ino->nodeid, name))
		return -EEXIST;
	int fd = create_file(r, in, name, flags);
	if (fd < 0)
		return fd;
	/* The O_PATH fd comes from the file just opened, not from the name again, which
	 * someone may have replaced meanwhile. */
	snprintf(self, sizeof(self), "%d", fd);
	int path_fd = openat(r->srv->proc_fd, self, O_PATH | O_CLOEXEC);
	if (path_fd < 0 ||
	    (ret = fs_entry_from_fd(r->srv, r->ino, path_fd, &out.entry, &ino)) < 0) {
		ret = path_fd < 0 ? -errno : ret;
		close(fd);
		return ret;
	}
	out.open.fh = fs_handle_add(&r->srv->handles, ino, NULL, fd, flags & ~O_EXCL);
	out.open.open_flags = FOPEN_KEEP_CACHE;
	return fs_reply(r, &out, sizeof(out));
}

/* [off, off + len) must be a valid file range. */
static bool range_ok(uint64_t off, uint64_t len)
{
	return off <= INT64_MAX && len <= INT64_MAX - off;
}

int fs_op_read(struct fs_req *r)
{
	const struct fuse_read_in *in = (const void *)r->arg;
	struct iovec iov[IOV_MAX];
	size_t hdr = sizeof(struct fuse_out_header);

	if (in->size > r->rsp->len - hdr || !range_ok(in->offset, in->size))
		return -EINVAL;
	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_FILE | FS_H_VIRTUAL);
	if (!h)
		return -EBADF;
	int ret = 0;
	if (h->vfile) {
		ret = fs_vfile_read(r, h, in);
	} else {
		int n = fs_iov_slice(r->rsp, hdr, in->size, iov);
		ssize_t got = n < 0 ? -1 : preadv(h->fd, iov, n, in->offset);
		if (got < 0)
			ret = n < 0 ? -EINVAL : -errno;
		else
			fs_reply_header(r, 0, got);
	}
	fs_handle_put(h);
	return ret;
}

int fs_op_write(struct fs_req *r)
{
	const struct fuse_write_in *in = (const void *)r->arg;
	struct fuse_write_out out = { 0 };
	struct iovec iov[IOV_MAX];
	size_t skip = sizeof(struct fuse_in_header) + sizeof(*in);
	int ret = 0;

	if (in->size != r->payload_len || !range_ok(in->offset, in->size))
		return -EINVAL;
	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_FILE);
	if (!h)
		return -EBADF;
	/* Page-cache writeback (shared mmap) names a position the host must not move to EOF:
	 * such writes on an O_APPEND file go through a second open without it. */
	int fd = h->fd;
	if ((in->write_flags & FUSE_WRITE_CACHE) && (h->flags & O_APPEND))
		fd = fs_inode_reopen(r->srv, h->inode, h->flags & ~(O_APPEND | O_TRUNC));
	bool kill = in->write_flags & FUSE_WRITE_KILL_SUIDGID;
	if (fd < 0 || (kill && (ret = fs_fsetid_drop()) < 0)) {
		ret = fd < 0 ? fd : ret;
	} else {
		int n = fs_iov_slice(r->req, skip, in->size, iov);
		ssize_t done = n < 0 ? -1 : pwritev(fd, iov, n, in->offset);
		ret = done >= 0 ? 0 : n < 0 ? -EINVAL : -errno;
		out.size = done < 0 ? 0 : done;
		if (kill)
			fs_fsetid_restore();
	}
	if (fd >= 0 && fd != h->fd)
		close(fd);
	fs_handle_put(h);
	return ret ? ret : fs_reply(r, &out, sizeof(out));
}

/* close() of one guest descriptor: its process's POSIX locks on the file go, and the host
 * file system gets its flush (close of a duplicate, where NFS reports write errors). */
int fs_op_flush(struct fs_req *r)
{
	const struct fuse_flush_in *in = (const void *)r->arg;
	int ret = 0;

	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_FILE | FS_H_VIRTUAL);
	if (!h)
		return -EBADF;
	if (!h->vfile) {
		fs_locks_release_owner(r->srv, h->inode, in->lock_owner);
		int dup_fd = dup(h->fd);
		if (dup_fd >= 0 && close(dup_fd) < 0 && errno != EINTR)
			ret = -errno;
	}
	fs_handle_put(h);
	return ret ? ret : fs_reply(r, NULL, 0);
}

/* RELEASE and RELEASEDIR: the guest's last reference to the open file is gone. */
int fs_op_release(struct fs_req *r)
{
	const struct fuse_release_in *in = (const void *)r->arg;
	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_FILE | FS_H_DIR | FS_H_VIRTUAL);

	if (!h)
		return -EBADF;
	if (h->inode)
		fs_locks_release_handle(r->srv, h);
	fs_handle_put(h);
	int ret = fs_handle_release(&r->srv->handles, in->fh);
	return ret ? ret : fs_reply(r, NULL, 0);
}

static int do_fsync(struct fs_req *r, unsigned kinds)
{
	const struct fuse_fsync_in *in = (const void *)r->arg;
	int ret = 0;

	struct fs_handle *h = fs_req_handle(r, in->fh, kinds);
	if (!h)
		return -EBADF;
	if (!h->vfile) {
		bool data_only = in->fsync_flags & FUSE_FSYNC_FDATASYNC;
		if ((data_only ? fdatasync(h->fd) : fsync(h->fd)) < 0)
			ret = -errno;
	}
	fs_handle_put(h);
	return ret ? ret : fs_reply(r, NULL, 0);
}

int fs_op_fsync(struct fs_req *r)
{
	return do_fsync(r, FS_H_FILE | FS_H_VIRTUAL);
}

int fs_op_fsyncdir(struct fs_req *r)
{
	return do_fsync(r, FS_H_DIR);
}

int fs_op_fallocate(struct fs_req *r)
{
	const struct fuse_fallocate_in *in = (const void *)r->arg;
	int ret = 0;

	if (!range_ok(in->offset, in->length))
		return -EINVAL;
	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_FILE);
	if (!h)
		return -EBADF;
	if (fallocate(h->fd, (int)in->mode, in->offset, in->length) < 0)
		ret = -errno;
	fs_handle_put(h);
	return ret ? ret : fs_reply(r, NULL, 0);
}

int fs_op_lseek(struct fs_req *r)
{
	const struct fuse_lseek_in *in = (const void *)r->arg;
	struct fuse_lseek_out out = { 0 };
	int ret = 0;

	/* Only positions that do not depend on the shared host file offset. */
	if (in->offset > INT64_MAX || (in->whence != SEEK_SET && in->whence != SEEK_END &&
				       in->whence != SEEK_DATA && in->whence != SEEK_HOLE))
		return -EINVAL;
	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_FILE | FS_H_VIRTUAL);
	if (!h)
		return -EBADF;
	off_t pos = h->vfile ? fs_vfile_lseek(h->vfile, in->offset, in->whence)
			     : lseek(h->fd, in->offset, in->whence);
	if (pos < 0)
		ret = h->vfile ? (int)pos : -errno;
	out.offset = pos;
	fs_handle_put(h);
	return ret ? ret : fs_reply(r, &out, sizeof(out));
}

int fs_op_copy_file_range(struct fs_req *r)
{
	const struct fuse_copy_file_range_in *in = (const void *)r->arg;
	struct fuse_write_out out = { 0 };
	/* The reply counts bytes in 32 bits; the guest loops for the rest. */
	size_t len = in->len < 0x7ffff000u ? in->len : 0x7ffff000u;
	int ret = 0;

	if (in->flags || !range_ok(in->off_in, len) || !range_ok(in->off_out, len))
		return -EINVAL;
	struct fs_handle *src = fs_req_handle(r, in->fh_in, FS_H_FILE | FS_H_VIRTUAL);
	struct fs_handle *dst = fs_req_handle(r, in->fh_out, FS_H_FILE);
	if (!src || !dst) {
		ret = -EBADF;
	} else if (src->vfile) {
		ret = -EXDEV; /* the guest falls back to reading and writing */
	} else {
		loff_t off_in = in->off_in, off_out = in->off_out;
		ssize_t n = copy_file_range(src->fd, &off_in, dst->fd, &off_out, len, 0);
		ret = n < 0 ? -errno : 0;
		out.size = n < 0 ? 0 : n;
	}
	fs_handle_put(src);
	fs_handle_put(dst);
	return ret ? ret : fs_reply(r, &out, sizeof(out));
}

/* The one ioctl: init reports the workload's exit status on the root directory. */
int fs_op_ioctl(struct fs_req *r)
{
	const struct fuse_ioctl_in *in = (const void *)r->arg;
	struct fuse_ioctl_out out = { 0 };

	if (r->ino->nodeid != FUSE_ROOT_ID || in->cmd != KRUN_IOCTL_EXIT_CODE ||
	    (in->flags & FUSE_IOCTL_UNRESTRICTED))
		return -ENOTTY;
	if (r->srv->exit_status_fn)
		r->srv->exit_status_fn(r->srv->exit_opaque, (int)in->arg);
	return fs_reply(r, &out, sizeof(out));
}
