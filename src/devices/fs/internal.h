/* Shared definitions of the FUSE server's files (not an interface outside src/devices/fs). */
#ifndef KRUN_DEVICES_FS_INTERNAL_H
#define KRUN_DEVICES_FS_INTERNAL_H

#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include "devices/fs/htable.h"
#include "devices/fs/server.h"

/* Protocol window: we speak 7.27 (the oldest kernel we accept) up to 7.38 (the structs
 * of <linux/fuse.h> we are built against). */
#define FS_MIN_MINOR 27
#define FS_MAX_MINOR 38

#define FS_MAX_WRITE (1u << 20)
#define FS_PAGE_SIZE 4096u
#define FS_MAX_PAGES (FS_MAX_WRITE / FS_PAGE_SIZE)
/* The largest argument block we copy: SETXATTR (64 KiB value + name) with headroom.
 * WRITE payloads are never copied. */
#define FS_MAX_ARGS  (72u * 1024)
#define FS_XATTR_MAX (64u * 1024)

/* Entry and attribute cache lifetime for real files: the container's files may change on
 * the host under the guest (podman cp, tests writing into the bundle); one second keeps
 * the guest within a second of the host while sparing a round trip on every path walk. */
#define FS_TIMEOUT_SEC 1
/* Virtual files never change. */
#define FS_VIRTUAL_TIMEOUT_SEC 86400

struct fs_lock_owner;
struct fs_lock_wait;

/* A host inode the guest knows, pinned by an O_PATH fd. */
struct fs_inode {
	struct hnode by_id, by_key;
	uint64_t nodeid;
	uint64_t mnt_id; /* statx's: the same file under two mounts is two nodes */
	dev_t dev;
	ino_t ino;
	int fd;	     /* O_PATH | O_NOFOLLOW */
	mode_t type; /* S_IFMT bits */
	bool submount;
	uint64_t nlookup;	      /* the guest's references; guarded by the table lock */
	atomic_uint refs;	      /* the table's (while nlookup > 0) plus one per user */
	pthread_mutex_t lock_mu;      /* guards owners and the lock calls on their fds */
	struct fs_lock_owner *owners; /* POSIX lock owners, one open file each */
};

struct fs_inode_table {
	pthread_mutex_t mu;
	struct htable by_id;  /* nodeid */
	struct htable by_key; /* (mnt_id, st_dev, st_ino); the root is not in it */
	uint64_t next_nodeid;
	struct fs_inode *root;
};

/* An open file or directory (FUSE fh). */
struct fs_handle {
	struct hnode node;
	uint64_t fh;
	atomic_uint refs;
	struct fs_inode *inode;	      /* NULL for a virtual file */
	const struct fs_vfile *vfile; /* set for a virtual file */
	int fd;
	int flags;		/* host open flags */
	pthread_mutex_t dir_mu; /* serialises READDIR on this handle */
};

struct fs_handle_table {
	pthread_mutex_t mu;
	struct htable map;
	uint64_t next_fh;
};

struct fs_vfile {
	char *name;
	const void *data;
	int fd;
	size_t size;
	unsigned mode;
	uint64_t nodeid;
};

/* SETLKW requests that could not be granted at once, retried by one thread. */
struct fs_lock_waiters {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fs_lock_wait *list;
	unsigned count;
	bool kicked; /* a lock was released: retry now */
	bool stop;
	bool running;
	pthread_t thread;
};

struct fs_server {
	int proc_fd; /* /proc/self/fd */
	struct fs_inode_table inodes;
	struct fs_handle_table handles;
	struct fs_lock_waiters waiters;
	struct fs_vfile *vfiles;
	unsigned nvfiles;
	struct timespec vtime; /* timestamps of the virtual files */
	void (*exit_status_fn)(void *opaque, int status);
	void *exit_opaque;
	fs_complete_fn complete;
	void *complete_opaque;
	uid_t euid;
	gid_t egid;
	pthread_mutex_t reset_mu; /* one session reset at a time (DESTROY may race) */
	/* Set by INIT, read by every request after it. */
	atomic_bool initialized;
	uint32_t flags; /* negotiated FUSE_* init flags */
};

/* One request being served. */
struct fs_req {
	struct fs_server *srv;
	struct fuse_in_header h;
	struct fs_inode *ino; /* the header's nodeid, for opcodes that name an inode */
	const uint8_t *arg;   /* copy of the opcode's arguments */
	size_t arg_len;
	size_t payload_len;	  /* bulk bytes after the arguments, left in req (WRITE) */
	const struct fs_msg *req; /* the raw request (WRITE reads its payload from here) */
	const struct fs_msg *rsp; /* reply space */
	void *cookie;
	size_t reply_len;
	bool hiprio; /* from the hiprio queue */
};

/* Handler results besides 0 (replied) and a negative errno (error reply). */
#define FS_NOREPLY 1
#define FS_DEFER   2

/* server.c */
int fs_reply(struct fs_req *r, const void *data, size_t len);
void fs_reply_header(struct fs_req *r, int error, size_t payload_len);
int fs_iov_slice(const struct fs_msg *m, size_t skip, size_t len, struct iovec *out);
int fs_arg_string(const struct fs_req *r, size_t *off, const char **s, size_t *len);
int fs_arg_name(const struct fs_req *r, size_t *off, const char **name);
int fs_check_name(const char *name, size_t len);
bool fs_is_virtual_name(const struct fs_server *srv, uint64_t parent, const char *name);

/* inode.c */
void fs_stat_to_attr(const struct stat *st, bool submount, struct fuse_attr *a);
int fs_inode_table_init(struct fs_inode_table *t, int root_fd, uint64_t first_nodeid,
			krun_error_t *err);
void fs_inode_table_destroy(struct fs_inode_table *t);
void fs_inode_table_clear(struct fs_inode_table *t);
struct fs_inode *fs_inode_get(struct fs_inode_table *t, uint64_t nodeid);
void fs_inode_put(struct fs_inode *ino);
/* fstatat of an O_PATH fd, plus the id of the mount it is on (0 if the kernel lacks it). */
int fs_stat_mount(int fd, struct stat *st, uint64_t *mnt_id);
struct fs_inode *fs_inode_intern(struct fs_inode_table *t, int fd, const struct stat *st,
				 uint64_t mnt_id, bool submount);
void fs_inode_forget(struct fs_inode_table *t, uint64_t nodeid, uint64_t nlookup);
int fs_inode_stat(const struct fs_inode *ino, struct stat *st);
int fs_open_type_error(mode_t type);
int fs_reopen_fd(const struct fs_server *srv, int path_fd, mode_t type, int flags);
int fs_inode_reopen(const struct fs_server *srv, const struct fs_inode *ino, int flags);
void fs_inode_proc_name(const struct fs_inode *ino, char name[16]);
int fs_lookup(struct fs_server *srv, struct fs_inode *parent, const char *name,
	      struct fuse_entry_out *e);
int fs_entry_from_fd(struct fs_server *srv, struct fs_inode *parent, int fd,
		     struct fuse_entry_out *e, struct fs_inode **out);
static inline struct fs_inode *fs_inode_ref(struct fs_inode *ino)
{
	atomic_fetch_add(&ino->refs, 1);
	return ino;
}

/* handle.c */
void fs_handle_table_init(struct fs_handle_table *t);
void fs_handle_table_destroy(struct fs_handle_table *t);
void fs_handle_table_clear(struct fs_handle_table *t);
uint64_t fs_handle_add(struct fs_handle_table *t, struct fs_inode *ino, const struct fs_vfile *vf,
		       int fd, int flags);
struct fs_handle *fs_handle_get(struct fs_handle_table *t, uint64_t fh);
/* Kinds of handle an opcode accepts. */
#define FS_H_FILE    (1u << 0)
#define FS_H_DIR     (1u << 1)
#define FS_H_VIRTUAL (1u << 2)
struct fs_handle *fs_req_handle(const struct fs_req *r, uint64_t fh, unsigned kinds);
void fs_handle_put(struct fs_handle *h);
int fs_handle_release(struct fs_handle_table *t, uint64_t fh);

/* creds.c: per-thread credentials */
struct fs_creds {
	bool switched;
	uid_t old_uid;
	gid_t old_gid;
};
int fs_creds_enter(const struct fs_req *r, struct fs_creds *saved);
void fs_creds_leave(struct fs_creds *saved);
int fs_fsetid_drop(void);
void fs_fsetid_restore(void);
bool fs_thread_ready(void);

/* virtual.c */
int fs_vfiles_init(struct fs_server *srv, const struct virtio_fs_config *cfg, krun_error_t *err);
void fs_vfiles_free(struct fs_server *srv);
const struct fs_vfile *fs_vfile_by_nodeid(const struct fs_server *srv, uint64_t nodeid);
const struct fs_vfile *fs_vfile_by_name(const struct fs_server *srv, const char *name);
void fs_vfile_entry(const struct fs_server *srv, const struct fs_vfile *vf,
		    struct fuse_entry_out *e);
int fs_virtual_request(struct fs_req *r, const struct fs_vfile *vf);
int fs_vfile_read(struct fs_req *r, const struct fs_handle *h, const struct fuse_read_in *in);
off_t fs_vfile_lseek(const struct fs_vfile *vf, uint64_t off, uint32_t whence);

/* lock.c */
void fs_lock_waiters_init(struct fs_lock_waiters *w);
void fs_lock_waiters_stop(struct fs_server *srv);
void fs_lock_waiters_destroy(struct fs_lock_waiters *w);
void fs_lock_owners_free(struct fs_inode *ino);
void fs_locks_release_owner(struct fs_server *srv, struct fs_inode *ino, uint64_t owner);
void fs_locks_release_handle(struct fs_server *srv, struct fs_handle *h);
void fs_lock_interrupt(struct fs_server *srv, uint64_t unique);

/* Opcode handlers (ops_*.c, lock.c). */
int fs_op_lookup(struct fs_req *r);
int fs_op_forget(struct fs_req *r);
int fs_op_batch_forget(struct fs_req *r);
int fs_op_getattr(struct fs_req *r);
int fs_op_setattr(struct fs_req *r);
int fs_op_readlink(struct fs_req *r);
int fs_op_statfs(struct fs_req *r);
int fs_op_access(struct fs_req *r);
int fs_op_mknod(struct fs_req *r);
int fs_op_mkdir(struct fs_req *r);
int fs_op_symlink(struct fs_req *r);
int fs_op_unlink(struct fs_req *r);
int fs_op_rmdir(struct fs_req *r);
int fs_op_rename(struct fs_req *r);
int fs_op_rename2(struct fs_req *r);
int fs_op_link(struct fs_req *r);
int fs_op_open(struct fs_req *r);
int fs_op_create(struct fs_req *r);
int fs_op_read(struct fs_req *r);
int fs_op_write(struct fs_req *r);
int fs_op_flush(struct fs_req *r);
int fs_op_release(struct fs_req *r);
int fs_op_fsync(struct fs_req *r);
int fs_op_fallocate(struct fs_req *r);
int fs_op_lseek(struct fs_req *r);
int fs_op_copy_file_range(struct fs_req *r);
int fs_op_ioctl(struct fs_req *r);
int fs_op_opendir(struct fs_req *r);
int fs_op_readdir(struct fs_req *r);
int fs_op_readdirplus(struct fs_req *r);
int fs_op_fsyncdir(struct fs_req *r);
int fs_op_setxattr(struct fs_req *r);
int fs_op_getxattr(struct fs_req *r);
int fs_op_listxattr(struct fs_req *r);
int fs_op_removexattr(struct fs_req *r);
int fs_op_getlk(struct fs_req *r);
int fs_op_setlk(struct fs_req *r);
int fs_op_setlkw(struct fs_req *r);

#endif
