/* Request decoding, dispatch and reply encoding. The request is hostile: the header is
 * checked against the bytes actually given, the opcode's arguments are copied out of the
 * (guest-writable) buffers before use, and a reply never grows past the reply space. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "devices/fs/internal.h"
#include "devices/virtio/virtqueue.h"
#include "util/util.h"

/* The init flags we take when the kernel offers them:
 * - ASYNC_READ, PARALLEL_DIROPS, ASYNC_DIO: requests run concurrently on the worker pool;
 * - BIG_WRITES, MAX_PAGES: requests of up to 1 MiB;
 * - POSIX_LOCKS, FLOCK_LOCKS: locks are real host locks, visible across guest processes
 *   and to the host (lock.c);
 * - ATOMIC_O_TRUNC: OPEN honours O_TRUNC itself (no separate SETATTR);
 * - HAS_IOCTL_DIR: the exit-status ioctl is made on the root directory;
 * - AUTO_INVAL_DATA: the guest drops cached pages when it sees the host change mtime or
 *   size, so OPEN can keep the cache (FOPEN_KEEP_CACHE) and host changes still show;
 * - DO_READDIRPLUS, READDIRPLUS_AUTO: listings carry attributes (one round trip for ls -l);
 * - CACHE_SYMLINKS: a symlink's target only changes with its inode;
 * - SUBMOUNTS: a host mount point gets its own st_dev in the guest, so inode numbers of
 *   different host file systems never collide;
 * - HANDLE_KILLPRIV_V2: we clear set-id bits on write, truncate and O_TRUNC exactly as the
 *   VFS does (the host kernel does it, CAP_FSETID dropped), and the guest needs no
 *   security.capability lookup before each write.
 * Not taken: WRITEBACK_CACHE (the guest would own size and mtime and miss host changes),
 * EXPORT_SUPPORT (we answer no "." or ".." lookups but the root's ".."), DONT_MASK (the
 * guest applies its umask), POSIX_ACL, SETXATTR_EXT, SECURITY_CTX, INIT_EXT (no flags2 bit
 * wanted), the splice flags, NO_OPEN(DIR)_SUPPORT, EXPLICIT_INVAL_DATA and MAP_ALIGNMENT
 * (no DAX). */
#define FS_INIT_FLAGS                                                                              \
	(FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |              \
	 FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS |      \
	 FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES |          \
	 FUSE_CACHE_SYMLINKS | FUSE_SUBMOUNTS | FUSE_HANDLE_KILLPRIV_V2)

/* fuse_init_in before 7.36: major, minor, max_readahead, flags. */
#define FS_INIT_IN_COMPAT_SIZE 16

#define OP_INODE   (1u << 0) /* resolve the header's nodeid into r->ino */
#define OP_NOREPLY (1u << 1) /* the kernel expects no reply (FORGET, INTERRUPT) */
#define OP_PREINIT (1u << 2) /* allowed before INIT */
#define OP_PAYLOAD (1u << 3) /* bulk data after the struct, left in place (WRITE, BATCH_FORGET) */
#define OP_HIPRIO  (1u << 4) /* may come on the hiprio queue: never blocks */

struct fs_op {
	int (*fn)(struct fs_req *r);
	uint32_t in_size;  /* the fixed argument struct */
	uint32_t out_size; /* the fixed reply, checked against the reply space up front */
	uint32_t flags;
};

static int op_init(struct fs_req *r);
static int op_destroy(struct fs_req *r);
static int op_interrupt(struct fs_req *r);

#define ENTRY sizeof(struct fuse_entry_out)
#define LK_IN sizeof(struct fuse_lk_in)
static const struct fs_op fs_ops[] = {
	[FUSE_LOOKUP] = { fs_op_lookup, 0, ENTRY, OP_INODE },
	[FUSE_FORGET] = { fs_op_forget, sizeof(struct fuse_forget_in), 0, OP_NOREPLY | OP_HIPRIO },
	[FUSE_GETATTR] = { fs_op_getattr, sizeof(struct fuse_getattr_in),
			   sizeof(struct fuse_attr_out), OP_INODE },
	[FUSE_SETATTR] = { fs_op_setattr, sizeof(struct fuse_setattr_in),
			   sizeof(struct fuse_attr_out), OP_INODE },
	[FUSE_READLINK] = { fs_op_readlink, 0, 0, OP_INODE },
	[FUSE_SYMLINK] = { fs_op_symlink, 0, ENTRY, OP_INODE },
	[FUSE_MKNOD] = { fs_op_mknod, sizeof(struct fuse_mknod_in), ENTRY, OP_INODE },
	[FUSE_MKDIR] = { fs_op_mkdir, sizeof(struct fuse_mkdir_in), ENTRY, OP_INODE },
	[FUSE_UNLINK] = { fs_op_unlink, 0, 0, OP_INODE },
	[FUSE_RMDIR] = { fs_op_rmdir, 0, 0, OP_INODE },
	[FUSE_RENAME] = { fs_op_rename, sizeof(struct fuse_rename_in), 0, OP_INODE },
	[FUSE_LINK] = { fs_op_link, sizeof(struct fuse_link_in), ENTRY, OP_INODE },
	[FUSE_OPEN] = { fs_op_open, sizeof(struct fuse_open_in), sizeof(struct fuse_open_out),
			OP_INODE },
	[FUSE_READ] = { fs_op_read, sizeof(struct fuse_read_in), 0, 0 },
	[FUSE_WRITE] = { fs_op_write, sizeof(struct fuse_write_in), sizeof(struct fuse_write_out),
			 OP_PAYLOAD },
	[FUSE_STATFS] = { fs_op_statfs, 0, sizeof(struct fuse_statfs_out), OP_INODE },
	[FUSE_RELEASE] = { fs_op_release, sizeof(struct fuse_release_in), 0, 0 },
	[FUSE_FSYNC] = { fs_op_fsync, sizeof(struct fuse_fsync_in), 0, 0 },
	[FUSE_SETXATTR] = { fs_op_setxattr, FUSE_COMPAT_SETXATTR_IN_SIZE, 0, OP_INODE },
	[FUSE_GETXATTR] = { fs_op_getxattr, sizeof(struct fuse_getxattr_in), 0, OP_INODE },
	[FUSE_LISTXATTR] = { fs_op_listxattr, sizeof(struct fuse_getxattr_in), 0, OP_INODE },
	[FUSE_REMOVEXATTR] = { fs_op_removexattr, 0, 0, OP_INODE },
	[FUSE_FLUSH] = { fs_op_flush, sizeof(struct fuse_flush_in), 0, 0 },
	[FUSE_INIT] = { op_init, FS_INIT_IN_COMPAT_SIZE, sizeof(struct fuse_init_out), OP_PREINIT },
	[FUSE_OPENDIR] = { fs_op_opendir, sizeof(struct fuse_open_in), sizeof(struct fuse_open_out),
			   OP_INODE },
	[FUSE_READDIR] = { fs_op_readdir, sizeof(struct fuse_read_in), 0, 0 },
	[FUSE_RELEASEDIR] = { fs_op_release, sizeof(struct fuse_release_in), 0, 0 },
	[FUSE_FSYNCDIR] = { fs_op_fsyncdir, sizeof(struct fuse_fsync_in), 0, 0 },
	[FUSE_GETLK] = { fs_op_getlk, LK_IN, sizeof(struct fuse_lk_out), 0 },
	[FUSE_SETLK] = { fs_op_setlk, LK_IN, 0, 0 },
	[FUSE_SETLKW] = { fs_op_setlkw, LK_IN, 0, 0 },
	[FUSE_ACCESS] = { fs_op_access, sizeof(struct fuse_access_in), 0, OP_INODE },
	[FUSE_CREATE] = { fs_op_create, sizeof(struct fuse_create_in),
			  ENTRY + sizeof(struct fuse_open_out), OP_INODE },
	[FUSE_INTERRUPT] = { op_interrupt, sizeof(struct fuse_interrupt_in), 0,
			     OP_NOREPLY | OP_HIPRIO },
	[FUSE_DESTROY] = { op_destroy, 0, 0, 0 },
	[FUSE_IOCTL] = { fs_op_ioctl, sizeof(struct fuse_ioctl_in), sizeof(struct fuse_ioctl_out),
			 OP_INODE },
	[FUSE_BATCH_FORGET] = { fs_op_batch_forget, sizeof(struct fuse_batch_forget_in), 0,
				OP_NOREPLY | OP_PAYLOAD | OP_HIPRIO },
	[FUSE_FALLOCATE] = { fs_op_fallocate, sizeof(struct fuse_fallocate_in), 0, 0 },
	[FUSE_READDIRPLUS] = { fs_op_readdirplus, sizeof(struct fuse_read_in), 0, 0 },
	[FUSE_RENAME2] = { fs_op_rename2, sizeof(struct fuse_rename2_in), 0, OP_INODE },
	[FUSE_LSEEK] = { fs_op_lseek, sizeof(struct fuse_lseek_in), sizeof(struct fuse_lseek_out),
			 0 },
	[FUSE_COPY_FILE_RANGE] = { fs_op_copy_file_range, sizeof(struct fuse_copy_file_range_in),
				   sizeof(struct fuse_write_out), 0 },
};

static const struct fs_op *find_op(uint32_t opcode)
{
	if (opcode >= ARRAY_SIZE(fs_ops) || !fs_ops[opcode].fn)
		return NULL;
	return &fs_ops[opcode];
}

/* ---- replies ---- */

/* Writes a reply header for `payload_len` bytes (already in place after it). */
void fs_reply_header(struct fs_req *r, int error, size_t payload_len)
{
	struct fuse_out_header out = {
		.len = sizeof(out) + payload_len,
		.error = error,
		.unique = r->h.unique,
	};
	iov_from_buf(r->rsp->iov, r->rsp->n, 0, &out, sizeof(out));
	r->reply_len = out.len;
}

int fs_reply(struct fs_req *r, const void *data, size_t len)
{
	if (len > r->rsp->len - sizeof(struct fuse_out_header))
		return -EINVAL;
	if (len)
		iov_from_buf(r->rsp->iov, r->rsp->n, sizeof(struct fuse_out_header), data, len);
	fs_reply_header(r, 0, len);
	return 0;
}

/* Segments of m covering [skip, skip + len), at most IOV_MAX. Returns their number, or -1
 * when there are more. */
int fs_iov_slice(const struct fs_msg *m, size_t skip, size_t len, struct iovec *out)
{
	int n = 0;

	for (unsigned i = 0; i < m->n && len; i++) {
		size_t seg = m->iov[i].iov_len;
		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		size_t take = seg - skip < len ? seg - skip : len;
		if (n == IOV_MAX)
			return -1;
		out[n].iov_base = (char *)m->iov[i].iov_base + skip;
		out[n++].iov_len = take;
		len -= take;
		skip = 0;
	}
	return n;
}

/* ---- argument parsing ---- */

/* The NUL-terminated string at *off in the arguments; *off moves past it. */
int fs_arg_string(const struct fs_req *r, size_t *off, const char **s, size_t *len)
{
	if (*off >= r->arg_len)
		return -EINVAL;
	const char *start = (const char *)r->arg + *off;
	const char *nul = memchr(start, '\0', r->arg_len - *off);
	if (!nul)
		return -EINVAL;
	*s = start;
	*len = nul - start;
	*off += *len + 1;
	return 0;
}

/* A single path component: never empty, ".", ".." or containing '/'. */
int fs_check_name(const char *name, size_t len)
{
	if (len == 0 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int fs_arg_name(const struct fs_req *r, size_t *off, const char **name)
{
	size_t len;
	int ret = fs_arg_string(r, off, name, &len);
	return ret ? ret : fs_check_name(*name, len);
}

bool fs_is_virtual_name(const struct fs_server *srv, uint64_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID && fs_vfile_by_name(srv, name);
}

/* ---- session opcodes ---- */

static int op_init(struct fs_req *r)
{
	struct fs_server *srv = r->srv;
	struct fuse_init_in in = { 0 };
	struct fuse_init_out out = { .major = FUSE_KERNEL_VERSION, .minor = FS_MAX_MINOR };

	/* Kernels before 7.36 send the first 16 bytes only. */
	memcpy(&in, r->arg, r->arg_len < sizeof(in) ? r->arg_len : sizeof(in));
	if (in.major < FUSE_KERNEL_VERSION)
		return -EPROTO;
	if (in.major > FUSE_KERNEL_VERSION) /* it will retry with our major */
		return fs_reply(r, &out, sizeof(out));
	if (in.minor < FS_MIN_MINOR || atomic_load(&srv->initialized))
		return -EPROTO;
	/* Both sides then speak the older minor; from 7.27 on the structs we read differ
	 * only in INIT itself and in SETXATTR (with SETXATTR_EXT, never taken). */
	out.minor = in.minor < FS_MAX_MINOR ? in.minor : FS_MAX_MINOR;
	srv->flags = in.flags & FS_INIT_FLAGS;
	out.max_readahead = in.max_readahead;
	out.flags = srv->flags;
	out.max_background = 256;
	out.congestion_threshold = 192;
	out.max_write = FS_MAX_WRITE;
	out.time_gran = 1;
	out.max_pages = FS_MAX_PAGES;
	atomic_store(&srv->initialized, true);
	return fs_reply(r, &out, sizeof(out));
}

static int op_destroy(struct fs_req *r)
{
	fs_reply(r, NULL, 0);
	fs_server_reset(r->srv);
	return 0;
}

static int op_interrupt(struct fs_req *r)
{
	const struct fuse_interrupt_in *in = (const void *)r->arg;

	/* Only a lock wait can be interrupted; every other request finishes promptly. */
	fs_lock_interrupt(r->srv, in->unique);
	return FS_NOREPLY;
}

/* ---- dispatch ---- */

/* Copies the header and checks it against the request. Returns the opcode's entry. */
static int parse_header(struct fs_req *r, const struct fs_op **op, size_t *args_len)
{
	if (iov_to_buf(r->req->iov, r->req->n, 0, &r->h, sizeof(r->h)) < sizeof(r->h))
		return -EINVAL;
	*op = find_op(r->h.opcode);
	if (r->h.len != r->req->len)
		return -EINVAL;
	size_t ext = (size_t)r->h.total_extlen * 8;
	if (ext > r->h.len - sizeof(r->h))
		return -EINVAL;
	*args_len = r->h.len - sizeof(r->h) - ext;
	if (!*op)
		return -ENOSYS;
	if (r->hiprio && !((*op)->flags & OP_HIPRIO))
		return -EPERM;
	if (!atomic_load(&r->srv->initialized) && !((*op)->flags & OP_PREINIT))
		return -EIO;
	if (*args_len < (*op)->in_size)
		return -EINVAL;
	/* Every reply has a header: with less space than that the request is only dropped. */
	if (!((*op)->flags & OP_NOREPLY) &&
	    r->rsp->len < sizeof(struct fuse_out_header) + (*op)->out_size)
		return -EINVAL;
	return 0;
}

/* Runs the handler on the nodeid's inode, or on the virtual file it names. */
static int run_op(struct fs_req *r, const struct fs_op *op)
{
	if (!(op->flags & OP_INODE))
		return op->fn(r);
	const struct fs_vfile *vf = fs_vfile_by_nodeid(r->srv, r->h.nodeid);
	if (vf)
		return fs_virtual_request(r, vf);
	r->ino = fs_inode_get(&r->srv->inodes, r->h.nodeid);
	if (!r->ino)
		return -ENOENT;
	int ret = op->fn(r);
	fs_inode_put(r->ino);
	return ret;
}

static long handle(struct fs_server *srv, const struct fs_msg *req, const struct fs_msg *rsp,
		   void *cookie, bool hiprio)
{
	struct fs_req r = {
		.srv = srv, .req = req, .rsp = rsp, .cookie = cookie, .hiprio = hiprio
	};
	_Alignas(8) uint8_t small[512];
	cleanup_free uint8_t *big = NULL;
	const struct fs_op *op = NULL;
	size_t args_len = 0;

	int ret = parse_header(&r, &op, &args_len);
	if (ret == 0) {
		r.arg_len = (op->flags & OP_PAYLOAD) ? op->in_size : args_len;
		r.payload_len = args_len - r.arg_len;
		if (r.arg_len > FS_MAX_ARGS) {
			ret = -E2BIG;
		} else {
			uint8_t *buf =
			    r.arg_len <= sizeof(small) ? small : (big = xmalloc(r.arg_len));
			iov_to_buf(req->iov, req->n, sizeof(r.h), buf, r.arg_len);
			r.arg = buf;
			ret = run_op(&r, op);
		}
	}
	if (ret == FS_DEFER)
		return FS_DEFERRED;
	if (ret == FS_NOREPLY || (op && (op->flags & OP_NOREPLY)))
		return 0;
	if (ret < 0) {
		if (rsp->len < sizeof(struct fuse_out_header))
			return 0; /* nowhere to say so */
		fs_reply_header(&r, ret > -4096 ? ret : -EIO, 0);
	}
	return r.reply_len;
}

long fs_server_handle(struct fs_server *srv, const struct fs_msg *req, const struct fs_msg *rsp,
		      void *cookie)
{
	return handle(srv, req, rsp, cookie, false);
}

long fs_server_handle_hiprio(struct fs_server *srv, const struct fs_msg *req,
			     const struct fs_msg *rsp)
{
	return handle(srv, req, rsp, NULL, true);
}

/* ---- lifetime ---- */

int fs_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -ret;
}

static int open_dir(const char *path, int *fd, krun_error_t *err)
{
	*fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return krun_make_error(err, errno, "open `%s`", path);
	return 0;
}

/* The virtual files, then the inode table whose root inode takes root_fd. */
static int init_tables(struct fs_server *srv, const struct virtio_fs_config *cfg, int root_fd,
		       krun_error_t *err)
{
	int ret = fs_vfiles_init(srv, cfg, err);

	if (ret < 0)
		return ret;
	return fs_inode_table_init(&srv->inodes, root_fd, FUSE_ROOT_ID + 1 + srv->nvfiles, err);
}

int fs_server_new(const struct virtio_fs_config *cfg, fs_complete_fn complete, void *opaque,
		  struct fs_server **out, krun_error_t *err)
{
	cleanup_close int proc_fd = -1, root_fd = -1;
	int ret;

	if (!cfg->root_path)
		return krun_make_error(err, EINVAL, "virtio-fs: no shared directory");
	ret = open_dir("/proc/self/fd", &proc_fd, err);
	if (ret < 0)
		return ret;
	ret = open_dir(cfg->root_path, &root_fd, err);
	if (ret < 0)
		return ret;

	struct fs_server *srv = xzalloc(sizeof(*srv));
	srv->complete = complete;
	srv->complete_opaque = opaque;
	srv->exit_status_fn = cfg->exit_status_fn;
	srv->exit_opaque = cfg->opaque;
	srv->euid = geteuid();
	srv->egid = getegid();
	clock_gettime(CLOCK_REALTIME, &srv->vtime);
	ret = init_tables(srv, cfg, root_fd, err);
	if (ret < 0) {
		fs_vfiles_free(srv);
		free(srv);
		return krun_error_wrap(err, "virtio-fs `%s`", cfg->root_path);
	}
	root_fd = -1; /* the root inode owns it */
	srv->proc_fd = steal_fd(&proc_fd);
	fs_handle_table_init(&srv->handles);
	fs_lock_waiters_init(&srv->waiters);
	pthread_mutex_init(&srv->reset_mu, NULL);
	*out = srv;
	return 0;
}

void fs_server_reset(struct fs_server *srv)
{
	pthread_mutex_lock(&srv->reset_mu);
	fs_lock_waiters_stop(srv);
	fs_handle_table_clear(&srv->handles);
	fs_inode_table_clear(&srv->inodes);
	atomic_store(&srv->initialized, false);
	pthread_mutex_unlock(&srv->reset_mu);
}

void fs_server_free(struct fs_server *srv)
{
	if (!srv)
		return;
	fs_lock_waiters_stop(srv);
	fs_lock_waiters_destroy(&srv->waiters);
	fs_handle_table_destroy(&srv->handles);
	fs_inode_table_destroy(&srv->inodes);
	fs_vfiles_free(srv);
	pthread_mutex_destroy(&srv->reset_mu);
	close(srv->proc_fd);
	free(srv);
}
