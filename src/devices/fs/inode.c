/* The inode table: every host inode the guest has looked up, pinned by an O_PATH fd and
 * identified by (mount, st_dev, st_ino), so hard links and repeated lookups share one FUSE
 * nodeid, while one file bound at two places with different mount flags (a read-only bind
 * of a file that is also reachable read-write) stays two nodes, each keeping its mount's
 * flags. Nodeids come from a 64-bit counter and
 * are never reused, so a stale nodeid from the guest simply fails to resolve. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "devices/fs/internal.h"
#include "util/util.h"

static uint64_t key_hash(uint64_t mnt_id, dev_t dev, ino_t ino)
{
	return hash_u64((uint64_t)ino ^ hash_u64((uint64_t)dev ^ hash_u64(mnt_id)));
}

static struct fs_inode *inode_new(int fd, const struct stat *st, uint64_t mnt_id, bool submount)
{
	struct fs_inode *ino = xzalloc(sizeof(*ino));

	ino->fd = fd;
	ino->mnt_id = mnt_id;
	ino->dev = st->st_dev;
	ino->ino = st->st_ino;
	ino->type = st->st_mode & S_IFMT;
	ino->submount = submount;
	pthread_mutex_init(&ino->lock_mu, NULL);
	return ino;
}

static void inode_free(struct fs_inode *ino)
{
	fs_lock_owners_free(ino);
	close(ino->fd);
	pthread_mutex_destroy(&ino->lock_mu);
	free(ino);
}

void fs_inode_put(struct fs_inode *ino)
{
	if (ino && atomic_fetch_sub(&ino->refs, 1) == 1)
		inode_free(ino);
}

int fs_inode_table_init(struct fs_inode_table *t, int root_fd, uint64_t first_nodeid,
			krun_error_t *err)
{
	uint64_t mnt_id;
	struct stat st;
	int ret = fs_stat_mount(root_fd, &st, &mnt_id);

	if (ret < 0)
		return krun_make_error(err, -ret, "stat the shared directory");
	if (!S_ISDIR(st.st_mode))
		return krun_make_error(err, ENOTDIR, "the shared directory");
	pthread_mutex_init(&t->mu, NULL);
	htable_init(&t->by_id);
	htable_init(&t->by_key);
	t->root = inode_new(root_fd, &st, mnt_id, false);
	t->root->nodeid = FUSE_ROOT_ID;
	t->root->nlookup = 1;
	atomic_init(&t->root->refs, 1);
	htable_add(&t->by_id, &t->root->by_id, hash_u64(FUSE_ROOT_ID));
	t->next_nodeid = first_nodeid;
	return 0;
}

/* Forgets every inode but the root (the guest's references are gone). */
void fs_inode_table_clear(struct fs_inode_table *t)
{
	struct hnode *n;

	pthread_mutex_lock(&t->mu);
	while ((n = htable_pop(&t->by_id))) {
		struct fs_inode *ino = container_of(n, struct fs_inode, by_id);
		if (ino == t->root)
			continue;
		htable_del(&t->by_key, &ino->by_key);
		ino->nlookup = 0;
		fs_inode_put(ino);
	}
	htable_add(&t->by_id, &t->root->by_id, hash_u64(FUSE_ROOT_ID));
	pthread_mutex_unlock(&t->mu);
}

void fs_inode_table_destroy(struct fs_inode_table *t)
{
	fs_inode_table_clear(t);
	fs_inode_put(t->root);
	htable_destroy(&t->by_id);
	htable_destroy(&t->by_key);
	pthread_mutex_destroy(&t->mu);
}

static struct fs_inode *find_by_id(struct fs_inode_table *t, uint64_t nodeid)
{
	for (struct hnode *n = htable_first(&t->by_id, hash_u64(nodeid)); n; n = htable_next(n)) {
		struct fs_inode *ino = container_of(n, struct fs_inode, by_id);
		if (ino->nodeid == nodeid)
			return ino;
	}
	return NULL;
}

struct fs_inode *fs_inode_get(struct fs_inode_table *t, uint64_t nodeid)
{
	pthread_mutex_lock(&t->mu);
	struct fs_inode *ino = find_by_id(t, nodeid);
	if (ino)
		atomic_fetch_add(&ino->refs, 1);
	pthread_mutex_unlock(&t->mu);
	return ino;
}

/* Takes ownership of fd. Returns the inode for st, new or known, with one more guest
 * reference (nlookup) and a reference for the caller. */
struct fs_inode *fs_inode_intern(struct fs_inode_table *t, int fd, const struct stat *st,
				 uint64_t mnt_id, bool submount)
{
	uint64_t hash = key_hash(mnt_id, st->st_dev, st->st_ino);

	pthread_mutex_lock(&t->mu);
	for (struct hnode *n = htable_first(&t->by_key, hash); n; n = htable_next(n)) {
		struct fs_inode *ino = container_of(n, struct fs_inode, by_key);
		if (ino->dev == st->st_dev && ino->ino == st->st_ino && ino->mnt_id == mnt_id) {
			ino->nlookup++;
			atomic_fetch_add(&ino->refs, 1);
			pthread_mutex_unlock(&t->mu);
			close(fd);
			return ino;
		}
	}
	struct fs_inode *ino = inode_new(fd, st, mnt_id, submount);
	ino->nodeid = t->next_nodeid++;
	ino->nlookup = 1;
	atomic_init(&ino->refs, 2);
	htable_add(&t->by_id, &ino->by_id, hash_u64(ino->nodeid));
	htable_add(&t->by_key, &ino->by_key, hash);
	pthread_mutex_unlock(&t->mu);
	return ino;
}

/* The guest dropped nlookup references. Unknown nodeids are ignored (FORGET has no
 * reply), and the root stays. */
void fs_inode_forget(struct fs_inode_table *t, uint64_t nodeid, uint64_t nlookup)
{
	if (nodeid == FUSE_ROOT_ID)
		return;
	pthread_mutex_lock(&t->mu);
	struct fs_inode *ino = find_by_id(t, nodeid);
	if (ino && nlookup < ino->nlookup) {
		ino->nlookup -= nlookup;
		ino = NULL;
	} else if (ino) {
		ino->nlookup = 0;
		htable_del(&t->by_id, &ino->by_id);
		htable_del(&t->by_key, &ino->by_key);
	}
	pthread_mutex_unlock(&t->mu);
	fs_inode_put(ino); /* the table's reference */
}

int fs_stat_mount(int fd, struct stat *st, uint64_t *mnt_id)
{
	struct statx x;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_MNT_ID,
		  &x) < 0)
		return -errno;
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
	st->st_ino = x.stx_ino;
	st->st_mode = x.stx_mode;
	st->st_nlink = x.stx_nlink;
	st->st_uid = x.stx_uid;
	st->st_gid = x.stx_gid;
	st->st_rdev = makedev(x.stx_rdev_major, x.stx_rdev_minor);
	st->st_size = x.stx_size;
	st->st_blksize = x.stx_blksize;
	st->st_blocks = x.stx_blocks;
	st->st_atim.tv_sec = x.stx_atime.tv_sec;
	st->st_atim.tv_nsec = x.stx_atime.tv_nsec;
	st->st_mtim.tv_sec = x.stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = x.stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = x.stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = x.stx_ctime.tv_nsec;
	*mnt_id = (x.stx_mask & STATX_MNT_ID) ? x.stx_mnt_id : 0;
	return 0;
}

int fs_inode_stat(const struct fs_inode *ino, struct stat *st)
{
	if (fstatat(ino->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* The inode's name in /proc/self/fd, which magic-links to exactly that inode. */
void fs_inode_proc_name(const struct fs_inode *ino, char name[16])
{
	snprintf(name, 16, "%d", ino->fd);
}

/* Why an inode of type `type` is not opened for I/O: only regular files and directories
 * are. A device would be a host device in the guest's hands, and a FIFO would block the
 * serving thread; the guest kernel serves its FIFOs and sockets without opening them here. */
int fs_open_type_error(mode_t type)
{
	switch (type) {
	case S_IFREG:
	case S_IFDIR:
		return 0;
	case S_IFLNK:
		return -ELOOP; /* the magic link would stop at the symlink anyway */
	default:
		return -EACCES;
	}
}

/* Opens the inode behind the O_PATH fd `path_fd` (of type `type`) for I/O through
 * /proc/self/fd. */
int fs_reopen_fd(const struct fs_server *srv, int path_fd, mode_t type, int flags)
{
	char name[16];
	int ret = fs_open_type_error(type);

	if (ret < 0)
		return ret;
	snprintf(name, sizeof(name), "%d", path_fd);
	int fd = openat(srv->proc_fd, name, (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int fs_inode_reopen(const struct fs_server *srv, const struct fs_inode *ino, int flags)
{
	return fs_reopen_fd(srv, ino->fd, ino->type, flags);
}

static uint32_t encode_dev(dev_t dev)
{
	/* The kernel's new_encode_dev: 12-bit major, 20-bit minor. */
	uint32_t maj = major(dev), min = minor(dev);
	return (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12);
}

void fs_stat_to_attr(const struct stat *st, bool submount, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = st->st_size;
	a->blocks = st->st_blocks;
	a->atime = st->st_atim.tv_sec;
	a->mtime = st->st_mtim.tv_sec;
	a->ctime = st->st_ctim.tv_sec;
	a->atimensec = st->st_atim.tv_nsec;
	a->mtimensec = st->st_mtim.tv_nsec;
	a->ctimensec = st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = st->st_nlink > UINT32_MAX ? UINT32_MAX : st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = encode_dev(st->st_rdev);
	a->blksize = st->st_blksize;
	a->flags = submount ? FUSE_ATTR_SUBMOUNT : 0;
}

/* Takes ownership of fd (an O_PATH fd of a child of parent) and fills a FUSE entry for
 * it, taking one guest reference; *out (if given) gets the inode with a reference. */
int fs_entry_from_fd(struct fs_server *srv, struct fs_inode *parent, int fd,
		     struct fuse_entry_out *e, struct fs_inode **out)
{
	uint64_t mnt_id;
	struct stat st;
	int ret = fs_stat_mount(fd, &st, &mnt_id);

	if (ret < 0) {
		close(fd);
		return ret;
	}
	/* A directory on another filesystem is a mount point: the guest gives it its own
	 * st_dev, so inode numbers of different host filesystems cannot collide. */
	bool submount =
	    (srv->flags & FUSE_SUBMOUNTS) && S_ISDIR(st.st_mode) && st.st_dev != parent->dev;
	struct fs_inode *ino = fs_inode_intern(&srv->inodes, fd, &st, mnt_id, submount);

	memset(e, 0, sizeof(*e));
	e->nodeid = ino->nodeid;
	e->entry_valid = FS_TIMEOUT_SEC;
	e->attr_valid = FS_TIMEOUT_SEC;
	fs_stat_to_attr(&st, ino->submount, &e->attr);
	if (out)
		*out = ino;
	else
		fs_inode_put(ino);
	return 0;
}

/* Looks up one validated name in parent. The walk is a single component that must stay
 * beneath parent and never follows a symlink, so nothing outside the root is reached. */
int fs_lookup(struct fs_server *srv, struct fs_inode *parent, const char *name,
	      struct fuse_entry_out *e)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = syscall(SYS_openat2, parent->fd, name, &how, sizeof(how));

	if (fd < 0)
		return -errno;
	return fs_entry_from_fd(srv, parent, fd, e, NULL);
}
