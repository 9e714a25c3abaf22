/* Directories: OPENDIR, READDIR, READDIRPLUS (RELEASEDIR and FSYNCDIR share the file
 * code). The FUSE offset of an entry is the host's d_off for it, so the guest's next
 * READDIR seeks the host directory to exactly where it stopped consuming. Virtual files
 * are never listed, and a real file they shadow is hidden too. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "devices/fs/internal.h"
#include "devices/virtio/virtqueue.h"
#include "util/util.h"

int fs_op_opendir(struct fs_req *r)
{
	struct fuse_open_out out = { 0 };
	int flags = O_RDONLY | O_DIRECTORY;

	if (r->ino->type != S_IFDIR)
		return -ENOTDIR;
	int fd = fs_inode_reopen(r->srv, r->ino, flags);
	if (fd < 0)
		return fd;
	out.fh = fs_handle_add(&r->srv->handles, fs_inode_ref(r->ino), NULL, fd, flags);
	return fs_reply(r, &out, sizeof(out));
}

struct dir_out {
	uint8_t *buf;
	size_t size, used;
	bool plus;
};

static bool is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Appends one entry; false when the reply is full. READDIRPLUS looks the entry up (one
 * guest reference) except for "." and "..", which the kernel ignores. */
static bool emit(struct fs_req *r, struct fs_inode *dir, const struct dirent64 *d,
		 struct dir_out *o)
{
	size_t namelen = strlen(d->d_name);
	size_t head = o->plus ? sizeof(struct fuse_entry_out) : 0;
	size_t len = FUSE_DIRENT_ALIGN(head + FUSE_NAME_OFFSET + namelen);

	if (len > o->size - o->used)
		return false;
	uint8_t *p = o->buf + o->used;
	memset(p, 0, len);
	if (o->plus && !is_dot(d->d_name) &&
	    fs_lookup(r->srv, dir, d->d_name, (struct fuse_entry_out *)p) < 0)
		memset(p, 0, head); /* vanished meanwhile: a plain entry (nodeid 0) */
	struct fuse_dirent *fd = (struct fuse_dirent *)(p + head);
	fd->ino = d->d_ino;
	fd->off = d->d_off;
	fd->namelen = namelen;
	fd->type = d->d_type;
	memcpy(fd->name, d->d_name, namelen);
	o->used += len;
	return true;
}

static int fill(struct fs_req *r, struct fs_handle *h, uint64_t offset, struct dir_out *o)
{
	/* Read about as many host entries as the reply can hold (a READDIRPLUS entry is
	 * about five times a host one). */
	size_t dsize = o->plus ? o->size / 4 : o->size;
	dsize = dsize < 1024 ? 1024 : dsize > 65536 ? 65536 : dsize;
	cleanup_free char *dbuf = xmalloc(dsize);
	bool root = h->inode->nodeid == FUSE_ROOT_ID;

	if (offset > INT64_MAX)
		return -EINVAL;
	if (lseek(h->fd, (off_t)offset, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		ssize_t n = getdents64(h->fd, dbuf, dsize);
		if (n <= 0)
			return n < 0 && o->used == 0 ? -errno : 0;
		for (ssize_t pos = 0; pos < n;) {
			const struct dirent64 *d = (const void *)(dbuf + pos);
			pos += d->d_reclen;
			if (root && fs_vfile_by_name(r->srv, d->d_name))
				continue;
			if (!emit(r, h->inode, d, o))
				return 0;
		}
	}
}

static int do_readdir(struct fs_req *r, bool plus)
{
	const struct fuse_read_in *in = (const void *)r->arg;
	size_t space = r->rsp->len - sizeof(struct fuse_out_header);
	struct dir_out o = { .plus = plus };

	o.size = in->size < space ? in->size : space;
	if (o.size > FS_MAX_WRITE)
		o.size = FS_MAX_WRITE;
	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_DIR);
	if (!h)
		return -EBADF;
	cleanup_free uint8_t *buf = xmalloc(o.size ? o.size : 1);
	o.buf = buf;
	pthread_mutex_lock(&h->dir_mu);
	int ret = fill(r, h, in->offset, &o);
	pthread_mutex_unlock(&h->dir_mu);
	fs_handle_put(h);
	return ret ? ret : fs_reply(r, o.buf, o.used);
}

int fs_op_readdir(struct fs_req *r)
{
	return do_readdir(r, false);
}

int fs_op_readdirplus(struct fs_req *r)
{
	return do_readdir(r, true);
}
