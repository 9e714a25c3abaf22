/* Extended attributes: SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR. The path-based calls
 * name the inode as "N" relative to the serving thread's working directory, /proc/self/fd:
 * the magic link leads to the inode itself, and stops at a symlink instead of following
 * it, so symlinks and special files work without being opened. */
#include <errno.h>
#include <stdlib.h>
#include <sys/xattr.h>
#include "devices/fs/internal.h"
#include "util/util.h"

static int inode_path(const struct fs_req *r, char name[16])
{
	if (!fs_thread_ready())
		return -EIO; /* a relative name would resolve somewhere else */
	fs_inode_proc_name(r->ino, name);
	return 0;
}

int fs_op_setxattr(struct fs_req *r)
{
	const struct fuse_setxattr_in *in = (const void *)r->arg;
	/* The extended struct only when the guest was told we take it. */
	size_t off =
	    (r->srv->flags & FUSE_SETXATTR_EXT) ? sizeof(*in) : FUSE_COMPAT_SETXATTR_IN_SIZE;
	const char *name;
	size_t len;
	char path[16];
	int ret;

	ret = fs_arg_string(r, &off, &name, &len);
	if (ret < 0)
		return ret;
	if (in->size != r->arg_len - off || in->size > FS_XATTR_MAX)
		return -EINVAL;
	ret = inode_path(r, path);
	if (ret < 0)
		return ret;
	if (setxattr(path, name, r->arg + off, in->size, (int)in->flags) < 0)
		return -errno;
	return fs_reply(r, NULL, 0);
}

/* A size-0 request asks for the size; otherwise the value must fit in `size` (and in the
 * reply space), or the answer is ERANGE. */
static int reply_sized(struct fs_req *r, uint32_t size, const char *name)
{
	struct fuse_getxattr_out out = { 0 };
	char path[16];
	int ret = inode_path(r, path);
	ssize_t n;

	if (ret)
		return ret;
	if (size == 0) {
		n = name ? getxattr(path, name, NULL, 0) : listxattr(path, NULL, 0);
		if (n < 0)
			return -errno;
		out.size = n;
		return fs_reply(r, &out, sizeof(out));
	}
	size_t space = r->rsp->len - sizeof(struct fuse_out_header);
	size_t cap = size < FS_XATTR_MAX ? size : FS_XATTR_MAX;
	if (cap > space)
		return -ERANGE;
	cleanup_free char *buf = xmalloc(cap);
	n = name ? getxattr(path, name, buf, cap) : listxattr(path, buf, cap);
	if (n < 0)
		return -errno;
	return fs_reply(r, buf, n);
}

int fs_op_getxattr(struct fs_req *r)
{
	const struct fuse_getxattr_in *in = (const void *)r->arg;
	size_t off = sizeof(*in), len;
	const char *name;
	int ret = fs_arg_string(r, &off, &name, &len);

	return ret ? ret : reply_sized(r, in->size, name);
}

int fs_op_listxattr(struct fs_req *r)
{
	const struct fuse_getxattr_in *in = (const void *)r->arg;

	return reply_sized(r, in->size, NULL);
}

int fs_op_removexattr(struct fs_req *r)
{
	const char *name;
	size_t off = 0, len;
	char path[16];
	int ret = fs_arg_string(r, &off, &name, &len);

	if (ret || (ret = inode_path(r, path)))
		return ret;
	if (removexattr(path, name) < 0)
		return -errno;
	return fs_reply(r, NULL, 0);
}
