/* Opcodes that change the namespace: MKNOD, MKDIR, SYMLINK, UNLINK, RMDIR, RENAME,
 * RENAME2, LINK. Every name is one validated component relative to its parent's O_PATH fd,
 * and new inodes are made with the caller's fsuid/fsgid. Virtual files in the root are
 * read-only names: they can be neither replaced nor removed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "devices/fs/internal.h"

enum new_kind { NEW_NODE, NEW_DIR, NEW_SYMLINK };

struct new_inode {
	enum new_kind kind;
	const char *name;
	mode_t mode;
	dev_t rdev;
	const char *target;
};

static int make_inode(const struct fs_req *r, const struct new_inode *n)
{
	int fd = r->ino->fd, ret;
	struct fs_creds creds;

	ret = fs_creds_enter(r, &creds);
	if (ret < 0)
		return ret;
	if (n->kind == NEW_NODE)
		ret = mknodat(fd, n->name, n->mode, n->rdev);
	else if (n->kind == NEW_DIR)
		ret = mkdirat(fd, n->name, n->mode);
	else
		ret = symlinkat(n->target, fd, n->name);
	ret = ret < 0 ? -errno : 0;
	fs_creds_leave(&creds);
	return ret;
}

/* Creates the inode and replies with its entry. */
static int create_and_reply(struct fs_req *r, const struct new_inode *n)
{
	struct fuse_entry_out e;
	int ret;

	if (fs_is_virtual_name(r->srv, r->ino->nodeid, n->name))
		return -EEXIST;
	ret = make_inode(r, n);
	if (ret < 0)
		return ret;
	ret = fs_lookup(r->srv, r->ino, n->name, &e);
	if (ret < 0)
		return ret;
	return fs_reply(r, &e, sizeof(e));
}

static dev_t decode_dev(uint32_t dev)
{
	/* The kernel's new_decode_dev. */
	return makedev((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
}

/* A node the guest may make on the host: regular files, and FIFOs and sockets (which the
 * guest kernel serves itself; the server never opens them). The one device is overlay's
 * whiteout, a character device 0:0 that opens nothing. Any other device would hand the
 * guest a host device through the next OPEN or CREATE. */
static int check_node_type(mode_t mode, dev_t rdev)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		return 0;
	case S_IFCHR:
		return rdev == 0 ? 0 : -EPERM;
	case S_IFBLK:
		return -EPERM;
	default:
		return -EINVAL;
	}
}

int fs_op_mknod(struct fs_req *r)
{
	const struct fuse_mknod_in *in = (const void *)r->arg;
	struct new_inode n = { NEW_NODE, .mode = in->mode, .rdev = decode_dev(in->rdev) };
	size_t off = sizeof(*in);
	int ret;

	ret = fs_arg_name(r, &off, &n.name);
	if (ret < 0)
		return ret;
	ret = check_node_type(n.mode, n.rdev);
	if (ret < 0)
		return ret;
	return create_and_reply(r, &n);
}

int fs_op_mkdir(struct fs_req *r)
{
	const struct fuse_mkdir_in *in = (const void *)r->arg;
	struct new_inode n = { NEW_DIR, .mode = in->mode & 07777 };
	size_t off = sizeof(*in);
	int ret = fs_arg_name(r, &off, &n.name);

	return ret ? ret : create_and_reply(r, &n);
}

int fs_op_symlink(struct fs_req *r)
{
	struct new_inode n = { NEW_SYMLINK };
	size_t off = 0, len;
	int ret;

	ret = fs_arg_name(r, &off, &n.name);
	if (ret < 0)
		return ret;
	ret = fs_arg_string(r, &off, &n.target, &len);
	if (ret < 0)
		return ret;
	if (len == 0 || len >= PATH_MAX)
		return len ? -ENAMETOOLONG : -ENOENT;
	return create_and_reply(r, &n);
}

static int remove_name(struct fs_req *r, int flags)
{
	const char *name;
	size_t off = 0;
	int ret = fs_arg_name(r, &off, &name);

	if (ret)
		return ret;
	if (fs_is_virtual_name(r->srv, r->ino->nodeid, name))
		return -EACCES;
	if (unlinkat(r->ino->fd, name, flags) < 0)
		return -errno;
	return fs_reply(r, NULL, 0);
}

int fs_op_unlink(struct fs_req *r)
{
	return remove_name(r, 0);
}

int fs_op_rmdir(struct fs_req *r)
{
	return remove_name(r, AT_REMOVEDIR);
}

static int do_rename(struct fs_req *r, uint64_t newdir, uint32_t flags, size_t off)
{
	const char *oldname, *newname;
	int ret = fs_arg_name(r, &off, &oldname);

	if (ret || (ret = fs_arg_name(r, &off, &newname)))
		return ret;
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if (fs_is_virtual_name(r->srv, r->ino->nodeid, oldname) ||
	    fs_is_virtual_name(r->srv, newdir, newname))
		return -EACCES;
	struct fs_inode *dir = fs_inode_get(&r->srv->inodes, newdir);
	if (!dir)
		return -ENOENT;
	if (renameat2(r->ino->fd, oldname, dir->fd, newname, flags) < 0)
		ret = -errno;
	fs_inode_put(dir);
	return ret ? ret : fs_reply(r, NULL, 0);
}

int fs_op_rename(struct fs_req *r)
{
	const struct fuse_rename_in *in = (const void *)r->arg;

	return do_rename(r, in->newdir, 0, sizeof(*in));
}

int fs_op_rename2(struct fs_req *r)
{
	const struct fuse_rename2_in *in = (const void *)r->arg;

	return do_rename(r, in->newdir, in->flags, sizeof(*in));
}

/* The new link is made through /proc/self/fd (AT_SYMLINK_FOLLOW follows the magic link to
 * the inode itself, a symlink included), which needs no CAP_DAC_READ_SEARCH. */
int fs_op_link(struct fs_req *r)
{
	const struct fuse_link_in *in = (const void *)r->arg;
	struct fuse_entry_out e;
	const char *name;
	size_t off = sizeof(*in);
	char src[16];
	int ret = fs_arg_name(r, &off, &name);

	if (ret)
		return ret;
	if (fs_vfile_by_nodeid(r->srv, in->oldnodeid))
		return -EPERM;
	if (fs_is_virtual_name(r->srv, r->ino->nodeid, name))
		return -EEXIST;
	struct fs_inode *old = fs_inode_get(&r->srv->inodes, in->oldnodeid);
	if (!old)
		return -ENOENT;
	fs_inode_proc_name(old, src);
	if (old->type == S_IFDIR)
		ret = -EPERM;
	else if (linkat(r->srv->proc_fd, src, r->ino->fd, name, AT_SYMLINK_FOLLOW) < 0)
		ret = -errno;
	fs_inode_put(old);
	if (ret || (ret = fs_lookup(r->srv, r->ino, name, &e)))
		return ret;
	return fs_reply(r, &e, sizeof(e));
}
