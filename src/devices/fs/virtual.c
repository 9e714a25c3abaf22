/* Virtual read-only files in the root directory (the guest init, the OCI config). They
 * have fixed nodeids right after the root's, are found by LOOKUP in the root only, shadow
 * a real file of the same name, are owned by root and never change. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "devices/fs/internal.h"
#include "devices/virtio/virtqueue.h"
#include "util/util.h"

/* st_ino of virtual files: far from the inode numbers of real file systems. */
#define VFILE_INO_BASE 0xfffffffe00000000ULL

static uint64_t vfile_index(const struct fs_server *srv, const struct fs_vfile *vf)
{
	return (uint64_t)(vf - srv->vfiles);
}

int fs_vfiles_init(struct fs_server *srv, const struct virtio_fs_config *cfg, krun_error_t *err)
{
	/* One spare entry: an empty list is still an allocation. */
	srv->vfiles = xzalloc((cfg->num_virtual_files + 1) * sizeof(*srv->vfiles));
	for (unsigned i = 0; i < cfg->num_virtual_files; i++) {
		const struct virtio_fs_virtual_file *v = &cfg->virtual_files[i];
		const char *name = v->name ? v->name : "";
		if (fs_check_name(name, strlen(name)) < 0 || fs_vfile_by_name(srv, name))
			return krun_make_error(err, EINVAL, "virtual file name `%s`", name);
		if (!v->data && v->fd < 0)
			return krun_make_error(err, EINVAL, "virtual file `%s` has no contents",
					       name);
		struct fs_vfile *vf = &srv->vfiles[srv->nvfiles++];
		vf->name = xstrdup(name);
		vf->data = v->data;
		vf->fd = v->fd;
		vf->size = v->size;
		vf->mode = v->mode & 0777;
		vf->nodeid = FUSE_ROOT_ID + 1 + i;
	}
	return 0;
}

void fs_vfiles_free(struct fs_server *srv)
{
	for (unsigned i = 0; i < srv->nvfiles; i++)
		free(srv->vfiles[i].name);
	free(srv->vfiles);
	srv->vfiles = NULL;
	srv->nvfiles = 0;
}

const struct fs_vfile *fs_vfile_by_nodeid(const struct fs_server *srv, uint64_t nodeid)
{
	if (nodeid <= FUSE_ROOT_ID || nodeid - FUSE_ROOT_ID > srv->nvfiles)
		return NULL;
	return &srv->vfiles[nodeid - FUSE_ROOT_ID - 1];
}

const struct fs_vfile *fs_vfile_by_name(const struct fs_server *srv, const char *name)
{
	for (unsigned i = 0; i < srv->nvfiles; i++)
		if (strcmp(srv->vfiles[i].name, name) == 0)
			return &srv->vfiles[i];
	return NULL;
}

static void vfile_attr(const struct fs_server *srv, const struct fs_vfile *vf, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = VFILE_INO_BASE + vfile_index(srv, vf);
	a->size = vf->size;
	a->blocks = (vf->size + 511) / 512;
	a->atime = a->mtime = a->ctime = srv->vtime.tv_sec;
	a->atimensec = a->mtimensec = a->ctimensec = srv->vtime.tv_nsec;
	a->mode = S_IFREG | vf->mode;
	a->nlink = 1;
	a->blksize = FS_PAGE_SIZE;
}

void fs_vfile_entry(const struct fs_server *srv, const struct fs_vfile *vf,
		    struct fuse_entry_out *e)
{
	memset(e, 0, sizeof(*e));
	e->nodeid = vf->nodeid;
	e->entry_valid = e->attr_valid = FS_VIRTUAL_TIMEOUT_SEC;
	vfile_attr(srv, vf, &e->attr);
}

static int vfile_open(struct fs_req *r, const struct fs_vfile *vf)
{
	const struct fuse_open_in *in = (const void *)r->arg;
	struct fuse_open_out out = { .open_flags = FOPEN_KEEP_CACHE };

	if ((in->flags & O_ACCMODE) != O_RDONLY || (in->flags & O_TRUNC))
		return -EACCES;
	out.fh = fs_handle_add(&r->srv->handles, NULL, vf, -1, O_RDONLY);
	return fs_reply(r, &out, sizeof(out));
}

static int vfile_access(struct fs_req *r, const struct fs_vfile *vf)
{
	const struct fuse_access_in *in = (const void *)r->arg;

	if ((in->mask & W_OK) || ((in->mask & X_OK) && !(vf->mode & 0111)))
		return -EACCES;
	return fs_reply(r, NULL, 0);
}

static int vfile_xattr_list(struct fs_req *r)
{
	const struct fuse_getxattr_in *in = (const void *)r->arg;
	struct fuse_getxattr_out out = { 0 };

	return in->size ? fs_reply(r, NULL, 0) : fs_reply(r, &out, sizeof(out));
}

/* The opcodes that name a virtual file by nodeid. */
int fs_virtual_request(struct fs_req *r, const struct fs_vfile *vf)
{
	struct fuse_attr_out attr = { .attr_valid = FS_VIRTUAL_TIMEOUT_SEC };

	switch (r->h.opcode) {
	case FUSE_GETATTR:
		vfile_attr(r->srv, vf, &attr.attr);
		return fs_reply(r, &attr, sizeof(attr));
	case FUSE_OPEN:
		return vfile_open(r, vf);
	case FUSE_ACCESS:
		return vfile_access(r, vf);
	case FUSE_GETXATTR:
		return -ENODATA;
	case FUSE_LISTXATTR:
		return vfile_xattr_list(r);
	case FUSE_STATFS:
		r->ino = r->srv->inodes.root;
		return fs_op_statfs(r);
	case FUSE_IOCTL:
		return -ENOTTY;
	case FUSE_READLINK:
		return -EINVAL;
	case FUSE_SETATTR:
	case FUSE_SETXATTR:
	case FUSE_REMOVEXATTR:
		return -EPERM;
	default: /* directory operations */
		return -ENOTDIR;
	}
}

int fs_vfile_read(struct fs_req *r, const struct fs_handle *h, const struct fuse_read_in *in)
{
	const struct fs_vfile *vf = h->vfile;
	size_t hdr = sizeof(struct fuse_out_header);
	size_t n = 0;

	if (in->offset < vf->size)
		n = vf->size - in->offset < in->size ? vf->size - in->offset : in->size;
	if (n && vf->data) {
		iov_from_buf(r->rsp->iov, r->rsp->n, hdr, (const char *)vf->data + in->offset, n);
	} else if (n) {
		struct iovec iov[IOV_MAX];
		int cnt = fs_iov_slice(r->rsp, hdr, n, iov);
		ssize_t got = cnt < 0 ? -1 : preadv(vf->fd, iov, cnt, in->offset);
		if (got < 0)
			return cnt < 0 ? -EINVAL : -errno;
		n = got;
	}
	fs_reply_header(r, 0, n);
	return 0;
}

off_t fs_vfile_lseek(const struct fs_vfile *vf, uint64_t off, uint32_t whence)
{
	if (whence == SEEK_SET)
		return off;
	if (whence == SEEK_END)
		return off > INT64_MAX - vf->size ? -EINVAL : (off_t)(vf->size + off);
	if (off >= vf->size)
		return -ENXIO;
	return whence == SEEK_DATA ? (off_t)off : (off_t)vf->size;
}
