/* File locks for the guest: GETLK, SETLK, SETLKW, and the release of a process's locks on
 * FLUSH and RELEASE.
 *
 * POSIX locks belong to a process and are dropped when it closes any descriptor of the
 * file; the server is a single host process, so classic fcntl locks would merge every
 * guest process into one owner. Instead each (inode, guest lock owner) pair gets its own
 * host open file, and its locks are OFD locks on that file: guest processes conflict with
 * each other (and with host processes) exactly as on a local file system, and FLUSH with
 * the closing owner drops that owner's locks. flock() locks (FUSE_LK_FLOCK) belong to the
 * open file, so they go on the handle's own host file.
 *
 * A SETLKW that cannot be granted at once must not hold a serving thread: it is deferred
 * to one waiter thread that retries every pending lock, at once when a lock is released
 * through us, otherwise with a backoff up to 64 ms (for locks held on the host). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "devices/fs/internal.h"
#include "devices/virtio/virtqueue.h"
#include "util/util.h"

#define MAX_WAITS      1024
#define WAIT_IOV       16
#define MAX_BACKOFF_MS 64
#define WAIT_DROPPED   1 /* a wait's result when it ends without a reply */

struct fs_lock_owner {
	struct fs_lock_owner *next;
	uint64_t owner;
	int fd;
	unsigned refs;	      /* the inode's list and each pending wait; under lock_mu */
	uint64_t last_fh;     /* the handle of its last lock; under lock_mu */
	_Atomic uint32_t pid; /* guest pid of its last lock, reported by GETLK */
};

struct fs_lock_wait {
	struct fs_lock_wait *next;
	uint64_t unique;
	struct fs_handle *h;
	struct fs_lock_owner *lo; /* a POSIX lock's owner; NULL for flock */
	struct flock fl;
	int flock_op;
	uint32_t pid;
	void *cookie;
	struct iovec rsp[WAIT_IOV]; /* the reply space of the header */
	unsigned nrsp;
	int result;
};

static bool busy(int err)
{
	return err == EAGAIN || err == EACCES;
}

static int to_flock(const struct fuse_file_lock *lk, struct flock *fl)
{
	if (lk->type != F_RDLCK && lk->type != F_WRLCK && lk->type != F_UNLCK)
		return -EINVAL;
	if (lk->start > INT64_MAX || lk->end > INT64_MAX || lk->end < lk->start)
		return -EINVAL;
	*fl = (struct flock){
		.l_type = lk->type,
		.l_whence = SEEK_SET,
		.l_start = lk->start,
		.l_len = lk->end == INT64_MAX ? 0 : lk->end - lk->start + 1,
	};
	return 0;
}

/* ---- owners (ino->lock_mu held) ---- */

static struct fs_lock_owner *owner_find(struct fs_inode *ino, uint64_t owner)
{
	for (struct fs_lock_owner *lo = ino->owners; lo; lo = lo->next)
		if (lo->owner == owner)
			return lo;
	return NULL;
}

/* The owner's open file, created on first use, with a reference for the caller. It is
 * read-write when we may, so that one file takes both lock types. */
static int owner_open(struct fs_server *srv, struct fs_handle *h, uint64_t owner,
		      struct fs_lock_owner **out)
{
	struct fs_inode *ino = h->inode;
	struct fs_lock_owner *lo = owner_find(ino, owner);

	if (!lo) {
		int fd = fs_inode_reopen(srv, ino, O_RDWR);
		if (fd < 0)
			fd = fs_inode_reopen(srv, ino, h->flags & O_ACCMODE);
		if (fd < 0)
			return fd;
		lo = xzalloc(sizeof(*lo));
		lo->owner = owner;
		lo->fd = fd;
		lo->refs = 1;
		lo->next = ino->owners;
		ino->owners = lo;
	}
	lo->refs++;
	*out = lo;
	return 0;
}

static void owner_put(struct fs_lock_owner *lo)
{
	if (--lo->refs == 0) {
		close(lo->fd); /* drops whatever OFD locks are left */
		free(lo);
	}
}

static void owner_unlink(struct fs_inode *ino, struct fs_lock_owner *lo)
{
	for (struct fs_lock_owner **p = &ino->owners; *p; p = &(*p)->next) {
		if (*p == lo) {
			*p = lo->next;
			owner_put(lo);
			return;
		}
	}
}

void fs_lock_owners_free(struct fs_inode *ino)
{
	while (ino->owners) {
		struct fs_lock_owner *lo = ino->owners;
		ino->owners = lo->next;
		close(lo->fd);
		free(lo);
	}
}

static void granted(struct fs_lock_owner *lo, uint64_t fh, uint32_t pid)
{
	lo->last_fh = fh;
	atomic_store(&lo->pid, pid);
}

static void owner_release(struct fs_inode *ino, struct fs_lock_owner *lo)
{
	pthread_mutex_lock(&ino->lock_mu);
	owner_put(lo);
	pthread_mutex_unlock(&ino->lock_mu);
}

/* ---- the waiter thread ---- */

static void kick(struct fs_server *srv)
{
	struct fs_lock_waiters *w = &srv->waiters;

	pthread_mutex_lock(&w->mu);
	w->kicked = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void finish(struct fs_server *srv, struct fs_lock_wait *wt)
{
	struct fuse_out_header out = { sizeof(out), wt->result, wt->unique };
	size_t len = 0;

	if (wt->result != WAIT_DROPPED)
		len = iov_from_buf(wt->rsp, wt->nrsp, 0, &out, sizeof(out));
	srv->complete(srv->complete_opaque, wt->cookie, len);
	if (wt->lo)
		owner_release(wt->h->inode, wt->lo);
	fs_handle_put(wt->h);
	free(wt);
}

static int try_lock(struct fs_lock_wait *wt)
{
	if (wt->lo) {
		struct fs_inode *ino = wt->h->inode;
		struct flock fl = wt->fl;
		int ret = 0;
		pthread_mutex_lock(&ino->lock_mu);
		if (fcntl(wt->lo->fd, F_OFD_SETLK, &fl) == 0)
			granted(wt->lo, wt->h->fh, wt->pid);
		else
			ret = busy(errno) ? -EAGAIN : -errno;
		pthread_mutex_unlock(&ino->lock_mu);
		return ret;
	}
	if (flock(wt->h->fd, wt->flock_op | LOCK_NB) == 0)
		return 0;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* Tries every pending lock (w->mu held); returns the finished ones. */
static struct fs_lock_wait *retry_all(struct fs_lock_waiters *w)
{
	struct fs_lock_wait **p = &w->list, *done = NULL;

	while (*p) {
		struct fs_lock_wait *wt = *p;
		int ret = try_lock(wt);
		if (ret == -EAGAIN) {
			p = &wt->next;
			continue;
		}
		*p = wt->next;
		w->count--;
		wt->result = ret;
		wt->next = done;
		done = wt;
	}
	return done;
}

static void wait_ms(struct fs_lock_waiters *w, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

static void *waiter_main(void *arg)
{
	struct fs_server *srv = arg;
	struct fs_lock_waiters *w = &srv->waiters;
	unsigned backoff = 1;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		w->kicked = false;
		struct fs_lock_wait *done = retry_all(w);
		if (done) {
			pthread_mutex_unlock(&w->mu);
			while (done) {
				struct fs_lock_wait *next = done->next;
				finish(srv, done);
				done = next;
			}
			pthread_mutex_lock(&w->mu);
			continue;
		}
		if (!w->list) {
			pthread_cond_wait(&w->cv, &w->mu);
			backoff = 1;
			continue;
		}
		wait_ms(w, backoff);
		backoff = w->kicked ? 1 : backoff * 2;
		if (backoff > MAX_BACKOFF_MS)
			backoff = MAX_BACKOFF_MS;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

void fs_lock_waiters_init(struct fs_lock_waiters *w)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &attr);
	pthread_condattr_destroy(&attr);
}

/* Ends the waiter thread and drops every pending wait. */
void fs_lock_waiters_stop(struct fs_server *srv)
{
	struct fs_lock_waiters *w = &srv->waiters;

	pthread_mutex_lock(&w->mu);
	if (w->running) {
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		pthread_mutex_lock(&w->mu);
		w->running = w->stop = false;
	}
	struct fs_lock_wait *list = w->list;
	w->list = NULL;
	w->count = 0;
	pthread_mutex_unlock(&w->mu);
	while (list) {
		struct fs_lock_wait *next = list->next;
		list->result = WAIT_DROPPED;
		finish(srv, list);
		list = next;
	}
}

void fs_lock_waiters_destroy(struct fs_lock_waiters *w)
{
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

/* The segments of the reply space that hold its header. Returns their number, 0 when
 * the space cannot hold one. */
static unsigned header_space(const struct fs_msg *m, struct iovec *out)
{
	size_t need = sizeof(struct fuse_out_header);
	unsigned n = 0;

	for (unsigned i = 0; i < m->n && need && n < WAIT_IOV; i++) {
		if (!m->iov[i].iov_len)
			continue;
		out[n] = m->iov[i];
		if (out[n].iov_len > need)
			out[n].iov_len = need;
		need -= out[n++].iov_len;
	}
	return need ? 0 : n;
}

/* Queues a lock to be granted later. Takes over the caller's reference on lo. */
static int defer(struct fs_req *r, struct fs_handle *h, struct fs_lock_owner *lo,
		 const struct flock *fl, int flock_op, uint32_t pid)
{
	struct fs_lock_waiters *w = &r->srv->waiters;
	struct fs_lock_wait *wt = xzalloc(sizeof(*wt));
	int ret = FS_DEFER;

	wt->nrsp = header_space(r->rsp, wt->rsp);
	pthread_mutex_lock(&w->mu);
	if (!wt->nrsp || w->count >= MAX_WAITS) {
		ret = wt->nrsp ? -ENOLCK : -EINVAL;
	} else if (!w->running) {
		ret = fs_thread_start(&w->thread, waiter_main, r->srv);
		w->running = ret == 0;
		ret = ret == 0 ? FS_DEFER : -ENOLCK;
	}
	if (ret != FS_DEFER) {
		pthread_mutex_unlock(&w->mu);
		free(wt);
		return ret;
	}
	wt->unique = r->h.unique;
	wt->h = h;
	atomic_fetch_add(&h->refs, 1);
	wt->lo = lo;
	if (fl)
		wt->fl = *fl;
	wt->flock_op = flock_op;
	wt->pid = pid;
	wt->cookie = r->cookie;
	struct fs_lock_wait **tail = &w->list; /* first come, first tried */
	while (*tail)
		tail = &(*tail)->next;
	*tail = wt;
	w->count++;
	w->kicked = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return FS_DEFER;
}

void fs_lock_interrupt(struct fs_server *srv, uint64_t unique)
{
	struct fs_lock_waiters *w = &srv->waiters;
	struct fs_lock_wait *wt = NULL;

	pthread_mutex_lock(&w->mu);
	for (struct fs_lock_wait **p = &w->list; *p; p = &(*p)->next) {
		if ((*p)->unique == unique) {
			wt = *p;
			*p = wt->next;
			w->count--;
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
	if (wt) {
		wt->result = -EINTR;
		finish(srv, wt);
	}
}

/* ---- opcodes ---- */

/* The pid of the guest process that holds the conflicting lock, when it is one of ours:
 * the owner that does not see the conflict itself is the one holding it. */
static uint32_t holder_pid(struct fs_inode *ino, struct fs_lock_owner *self,
			   const struct flock *conflict)
{
	if (conflict->l_pid != -1)
		return 0; /* a host process: its pid means nothing in the guest */
	for (struct fs_lock_owner *lo = ino->owners; lo; lo = lo->next) {
		struct flock probe = { .l_type = F_WRLCK,
				       .l_whence = SEEK_SET,
				       .l_start = conflict->l_start,
				       .l_len = conflict->l_len };
		if (lo != self && fcntl(lo->fd, F_OFD_GETLK, &probe) == 0 &&
		    probe.l_type == F_UNLCK)
			return atomic_load(&lo->pid);
	}
	return 0;
}

int fs_op_getlk(struct fs_req *r)
{
	const struct fuse_lk_in *in = (const void *)r->arg;
	struct fuse_lk_out out = { 0 };
	struct flock fl;
	int ret = to_flock(&in->lk, &fl);

	if (ret || fl.l_type == F_UNLCK)
		return ret ? ret : -EINVAL;
	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_FILE);
	if (!h)
		return -EBADF;
	struct fs_inode *ino = h->inode;
	pthread_mutex_lock(&ino->lock_mu);
	struct fs_lock_owner *lo = owner_find(ino, in->owner);
	/* Without an owner file the owner holds no lock here: any file of ours will do. */
	if (fcntl(lo ? lo->fd : h->fd, F_OFD_GETLK, &fl) < 0) {
		ret = -errno;
	} else if ((out.lk.type = fl.l_type) != F_UNLCK) {
		out.lk.start = fl.l_start;
		out.lk.end = fl.l_len == 0 ? INT64_MAX : fl.l_start + fl.l_len - 1;
		out.lk.pid = holder_pid(ino, lo, &fl);
	}
	pthread_mutex_unlock(&ino->lock_mu);
	fs_handle_put(h);
	return ret ? ret : fs_reply(r, &out, sizeof(out));
}

static int set_posix(struct fs_req *r, struct fs_handle *h, const struct fuse_lk_in *in,
		     const struct flock *fl, bool wait)
{
	struct fs_inode *ino = h->inode;
	struct fs_lock_owner *lo = NULL;
	struct flock l = *fl;
	int ret = 0;

	pthread_mutex_lock(&ino->lock_mu);
	if (l.l_type == F_UNLCK) {
		struct fs_lock_owner *held = owner_find(ino, in->owner);
		if (held && fcntl(held->fd, F_OFD_SETLK, &l) < 0)
			ret = -errno;
	} else if ((ret = owner_open(r->srv, h, in->owner, &lo)) == 0) {
		if (fcntl(lo->fd, F_OFD_SETLK, &l) == 0)
			granted(lo, h->fh, in->lk.pid);
		else
			ret = busy(errno) ? -EAGAIN : -errno;
	}
	pthread_mutex_unlock(&ino->lock_mu);
	if (fl->l_type == F_UNLCK)
		kick(r->srv);
	if (ret == -EAGAIN && wait && (ret = defer(r, h, lo, fl, 0, in->lk.pid)) == FS_DEFER)
		lo = NULL;
	if (lo)
		owner_release(ino, lo);
	return ret;
}

static int set_flock(struct fs_req *r, struct fs_handle *h, short type, bool wait)
{
	int op = type == F_RDLCK ? LOCK_SH : type == F_WRLCK ? LOCK_EX : LOCK_UN;

	if (flock(h->fd, op | LOCK_NB) == 0) {
		if (op == LOCK_UN)
			kick(r->srv);
		return 0;
	}
	if (errno != EWOULDBLOCK || !wait)
		return -errno;
	return defer(r, h, NULL, NULL, op, 0);
}

static int setlk(struct fs_req *r, bool wait)
{
	const struct fuse_lk_in *in = (const void *)r->arg;
	struct flock fl;
	int ret = to_flock(&in->lk, &fl);

	if (ret)
		return ret;
	struct fs_handle *h = fs_req_handle(r, in->fh, FS_H_FILE);
	if (!h)
		return -EBADF;
	if (in->lk_flags & FUSE_LK_FLOCK)
		ret = set_flock(r, h, fl.l_type, wait);
	else
		ret = set_posix(r, h, in, &fl, wait);
	fs_handle_put(h);
	return ret == 0 ? fs_reply(r, NULL, 0) : ret;
}

int fs_op_setlk(struct fs_req *r)
{
	return setlk(r, false);
}

int fs_op_setlkw(struct fs_req *r)
{
	return setlk(r, true);
}

/* Drops every lock of lo (ino->lock_mu held), and lo itself unless a wait needs it. */
static void owner_drop(struct fs_inode *ino, struct fs_lock_owner *lo)
{
	struct flock all = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	fcntl(lo->fd, F_OFD_SETLK, &all);
	if (lo->refs == 1)
		owner_unlink(ino, lo);
}

/* FLUSH: `owner` closed a descriptor of the file, so its POSIX locks on it go. */
void fs_locks_release_owner(struct fs_server *srv, struct fs_inode *ino, uint64_t owner)
{
	pthread_mutex_lock(&ino->lock_mu);
	struct fs_lock_owner *lo = owner_find(ino, owner);
	if (lo)
		owner_drop(ino, lo);
	pthread_mutex_unlock(&ino->lock_mu);
	if (lo)
		kick(srv);
}

/* RELEASE of a handle: the kernel names no owner for the OFD locks (F_OFD_SETLK) taken
 * through it, whose owner is the open file itself. Every owner whose last lock went
 * through this handle goes: that is such an OFD owner, or a process that has closed the
 * file since (its FLUSH already dropped its locks) and locked nothing after. */
void fs_locks_release_handle(struct fs_server *srv, struct fs_handle *h)
{
	struct fs_inode *ino = h->inode;
	bool dropped = false;

	pthread_mutex_lock(&ino->lock_mu);
	for (struct fs_lock_owner *lo = ino->owners, *next; lo; lo = next) {
		next = lo->next;
		if (lo->last_fh == h->fh) {
			owner_drop(ino, lo);
			dropped = true;
		}
	}
	pthread_mutex_unlock(&ino->lock_mu);
	if (dropped)
		kick(srv);
}
