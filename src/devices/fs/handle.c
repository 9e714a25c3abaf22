/* Open files and directories (FUSE fh). A handle number comes from a counter and is never
 * reused; each request holds a reference, so RELEASE racing with a READ on the same fh
 * closes the host fd only when the READ is done. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "devices/fs/internal.h"
#include "util/util.h"

void fs_handle_table_init(struct fs_handle_table *t)
{
	pthread_mutex_init(&t->mu, NULL);
	htable_init(&t->map);
	t->next_fh = 1;
}

static void handle_free(struct fs_handle *h)
{
	if (h->fd >= 0)
		close(h->fd);
	fs_inode_put(h->inode);
	pthread_mutex_destroy(&h->dir_mu);
	free(h);
}

void fs_handle_put(struct fs_handle *h)
{
	if (h && atomic_fetch_sub(&h->refs, 1) == 1)
		handle_free(h);
}

/* Takes ownership of fd and of the caller's reference on ino. Returns the fh. */
uint64_t fs_handle_add(struct fs_handle_table *t, struct fs_inode *ino, const struct fs_vfile *vf,
		       int fd, int flags)
{
	struct fs_handle *h = xzalloc(sizeof(*h));

	h->inode = ino;
	h->vfile = vf;
	h->fd = fd;
	h->flags = flags;
	atomic_init(&h->refs, 1);
	pthread_mutex_init(&h->dir_mu, NULL);
	pthread_mutex_lock(&t->mu);
	h->fh = t->next_fh++;
	htable_add(&t->map, &h->node, hash_u64(h->fh));
	pthread_mutex_unlock(&t->mu);
	return h->fh;
}

static struct fs_handle *find(struct fs_handle_table *t, uint64_t fh)
{
	for (struct hnode *n = htable_first(&t->map, hash_u64(fh)); n; n = htable_next(n)) {
		struct fs_handle *h = container_of(n, struct fs_handle, node);
		if (h->fh == fh)
			return h;
	}
	return NULL;
}

struct fs_handle *fs_handle_get(struct fs_handle_table *t, uint64_t fh)
{
	pthread_mutex_lock(&t->mu);
	struct fs_handle *h = find(t, fh);
	if (h)
		atomic_fetch_add(&h->refs, 1);
	pthread_mutex_unlock(&t->mu);
	return h;
}

static unsigned kind(const struct fs_handle *h)
{
	if (h->vfile)
		return FS_H_VIRTUAL;
	return (h->flags & O_DIRECTORY) ? FS_H_DIR : FS_H_FILE;
}

/* The request's handle if it is of an accepted kind (with a reference), else NULL: the
 * guest's fh is only a number to look up. */
struct fs_handle *fs_req_handle(const struct fs_req *r, uint64_t fh, unsigned kinds)
{
	struct fs_handle *h = fs_handle_get(&r->srv->handles, fh);
	if (h && !(kind(h) & kinds)) {
		fs_handle_put(h);
		return NULL;
	}
	return h;
}

int fs_handle_release(struct fs_handle_table *t, uint64_t fh)
{
	pthread_mutex_lock(&t->mu);
	struct fs_handle *h = find(t, fh);
	if (h)
		htable_del(&t->map, &h->node);
	pthread_mutex_unlock(&t->mu);
	if (!h)
		return -EBADF;
	fs_handle_put(h);
	return 0;
}

void fs_handle_table_clear(struct fs_handle_table *t)
{
	struct hnode *n;

	pthread_mutex_lock(&t->mu);
	while ((n = htable_pop(&t->map)))
		fs_handle_put(container_of(n, struct fs_handle, node));
	pthread_mutex_unlock(&t->mu);
}

void fs_handle_table_destroy(struct fs_handle_table *t)
{
	fs_handle_table_clear(t);
	htable_destroy(&t->map);
	pthread_mutex_destroy(&t->mu);
}
