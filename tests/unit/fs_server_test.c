/* The FUSE server fed directly with crafted requests: protocol negotiation, malformed and
 * hostile requests, name and symlink escapes, inode and handle lifetimes, virtual files,
 * the exit-status ioctl and deferred lock waits. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "devices/fs/server.h"
#include "fs_test_util.h"
#include "tap.h"

#define NO_REPLY 1000 /* do_req's result when the server wrote no reply */
#define RSP_SIZE ((1u << 20) + 4096)

static struct fs_server *srv;
static char *root;
static uint64_t next_unique = 1;
static uint32_t req_uid, req_gid; /* the caller's ids in the next requests */
static _Alignas(8) uint8_t rsp[RSP_SIZE];
static size_t rsp_payload; /* payload bytes of the last reply */
static int exit_status = -1;
static bool private_mounts; /* the test runs in its own mount namespace */

/* Deferred completions. */
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int done_count;
static size_t done_len;
static int done_error;

static void on_exit_status(void *opaque, int status)
{
	exit_status = status;
}

static void on_complete(void *opaque, void *cookie, size_t len)
{
	pthread_mutex_lock(&done_mu);
	done_count++;
	done_len = len;
	done_error =
	    len >= sizeof(struct fuse_out_header) ? ((struct fuse_out_header *)cookie)->error : 0;
	pthread_cond_broadcast(&done_cv);
	pthread_mutex_unlock(&done_mu);
}

static int wait_done(int count)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&done_mu);
	while (done_count < count && ret == 0)
		ret = pthread_cond_timedwait(&done_cv, &done_mu, &ts);
	pthread_mutex_unlock(&done_mu);
	return ret == 0;
}

/* Sends raw request bytes with `space` bytes of reply space (into `out`). Returns the
 * reply's error, or NO_REPLY. */
static int send_raw(const void *req, size_t len, void *out, size_t space, void *cookie)
{
	struct iovec in_iov = { (void *)req, len }, out_iov = { out, space };
	struct fs_msg m_in = { &in_iov, 1, len }, m_out = { &out_iov, 1, space };
	long n = fs_server_handle(srv, &m_in, &m_out, cookie);

	if (n == FS_DEFERRED)
		return FS_DEFERRED;
	if (n == 0)
		return NO_REPLY;
	struct fuse_out_header *oh = out;
	if ((size_t)n != oh->len || n < (long)sizeof(*oh))
		return -9999; /* inconsistent reply */
	rsp_payload = n - sizeof(*oh);
	return oh->error;
}

/* A request made of the header and up to three argument pieces. */
static int req3(uint32_t op, uint64_t nodeid, const void *a, size_t alen, const void *b,
		size_t blen, const void *c, size_t clen)
{
	static _Alignas(8) uint8_t buf[128 * 1024];
	struct fuse_in_header h = { .opcode = op,
				    .unique = next_unique++,
				    .nodeid = nodeid,
				    .uid = req_uid,
				    .gid = req_gid };
	size_t len = sizeof(h);

	memcpy(buf + len, a, alen), len += alen;
	memcpy(buf + len, b, blen), len += blen;
	memcpy(buf + len, c, clen), len += clen;
	h.len = len;
	memcpy(buf, &h, sizeof(h));
	return send_raw(buf, len, rsp, sizeof(rsp), rsp);
}

static int req(uint32_t op, uint64_t nodeid, const void *a, size_t alen)
{
	return req3(op, nodeid, a, alen, "", 0, "", 0);
}

static void *payload(void)
{
	return rsp + sizeof(struct fuse_out_header);
}

static int lookup(uint64_t parent, const char *name, struct fuse_entry_out *e)
{
	int ret = req(FUSE_LOOKUP, parent, name, strlen(name) + 1);
	if (ret == 0 && e)
		memcpy(e, payload(), sizeof(*e));
	return ret;
}

static uint64_t open_file(uint64_t nodeid, uint32_t flags)
{
	struct fuse_open_in in = { .flags = flags };
	if (req(FUSE_OPEN, nodeid, &in, sizeof(in)) != 0)
		return 0;
	return ((struct fuse_open_out *)payload())->fh;
}

static int do_init(uint32_t major, uint32_t minor, uint32_t flags)
{
	struct fuse_init_in in = { .major = major, .minor = minor, .flags = flags };
	/* 7.27 kernels send the short struct. */
	return req(FUSE_INIT, 0, &in, minor >= 36 ? sizeof(in) : 16);
}

static void new_server(void)
{
	static const char init_data[] = "#!/bin/sh\necho virtual\n";
	static struct virtio_fs_virtual_file vf[] = {
		{ .name = "init.krun", .data = init_data, .fd = -1, .mode = 0555 },
	};
	vf[0].size = strlen(init_data);
	struct virtio_fs_config cfg = {
		.tag = "test",
		.root_path = root,
		.virtual_files = vf,
		.num_virtual_files = 1,
		.exit_status_fn = on_exit_status,
	};
	krun_error_t err = NULL;
	if (fs_server_new(&cfg, on_complete, NULL, &srv, &err) < 0 ||
	    fs_server_thread_init(srv, &err) < 0) {
		printf("Bail out! %s\n", err ? err->msg : "?");
		exit(1);
	}
}

static void test_init(void)
{
	is_int(req(FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 }, 16), -EIO,
	       "requests before INIT fail");
	is_int(do_init(7, 26, 0), -EPROTO, "a 7.26 kernel is refused");
	is_int(do_init(6, 40, 0), -EPROTO, "major 6 is refused");
	is_int(do_init(7, 27, 0xffffffff), 0, "INIT 7.27 (short struct)");
	struct fuse_init_out *out = payload();
	is_int(rsp_payload, sizeof(*out), "init reply size");
	is_int(out->minor, 27, "we answer with the kernel's minor when it is older");
	is_int(out->max_write, 1u << 20, "max_write is 1 MiB");
	is_int(out->max_pages, 256, "max_pages");
	ok(out->flags & FUSE_POSIX_LOCKS, "POSIX locks negotiated");
	ok(out->flags & FUSE_HAS_IOCTL_DIR, "ioctl on directories negotiated");
	ok(!(out->flags & (FUSE_WRITEBACK_CACHE | FUSE_EXPORT_SUPPORT | FUSE_POSIX_ACL |
			   FUSE_SETXATTR_EXT | FUSE_SECURITY_CTX)),
	   "flags we do not implement are not taken");
	is_int(do_init(7, 38, 0), -EPROTO, "a second INIT is refused");
	is_int(req(FUSE_DESTROY, 0, "", 0), 0, "DESTROY");
	is_int(req(FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 }, 16), -EIO,
	       "no requests after DESTROY");
	is_int(do_init(7, 40,
		       FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS | FUSE_DO_READDIRPLUS | FUSE_SUBMOUNTS),
	       0, "INIT again after DESTROY");
	is_int(((struct fuse_init_out *)payload())->minor, 38, "we cap the minor at 38");
}

static void test_malformed(void)
{
	_Alignas(8) uint8_t buf[256] = { 0 };
	struct fuse_in_header *h = (void *)buf;
	uint8_t small[8];

	h->opcode = FUSE_GETATTR;
	h->nodeid = FUSE_ROOT_ID;
	h->len = sizeof(*h) + 16;
	is_int(send_raw(buf, 20, rsp, sizeof(rsp), NULL), -EINVAL, "short header");
	is_int(send_raw(buf, sizeof(*h) + 8, rsp, sizeof(rsp), NULL), -EINVAL,
	       "header len differs from the request");
	h->len = sizeof(*h) + 8;
	is_int(send_raw(buf, h->len, rsp, sizeof(rsp), NULL), -EINVAL, "argument struct too short");
	h->len = sizeof(*h) + 16;
	h->total_extlen = 3;
	is_int(send_raw(buf, h->len, rsp, sizeof(rsp), NULL), -EINVAL,
	       "extensions longer than the request");
	h->total_extlen = 0;
	is_int(send_raw(buf, h->len, rsp, 40, NULL), -EINVAL, "reply space too small for attr_out");
	is_int(send_raw(buf, h->len, small, sizeof(small), NULL), NO_REPLY,
	       "no reply space at all: dropped");
	h->opcode = FUSE_UNLINK;
	h->len = sizeof(*h) + 4;
	memcpy(h + 1, "zzz", 4);
	is_int(send_raw(buf, h->len, small, sizeof(small), NULL), NO_REPLY,
	       "not even a header fits: dropped, and nothing done");
	h->len = sizeof(*h) + 16;
	h->opcode = 9999;
	is_int(send_raw(buf, h->len, rsp, sizeof(rsp), NULL), -ENOSYS, "unknown opcode");
	h->opcode = FUSE_SYNCFS;
	is_int(send_raw(buf, h->len, rsp, sizeof(rsp), NULL), -ENOSYS, "SYNCFS is not ours");
	is_int(req(FUSE_GETATTR, 123456, &(struct fuse_getattr_in){ 0 }, 16), -ENOENT,
	       "nodeid never looked up");
	is_int(req(FUSE_GETATTR, 0, &(struct fuse_getattr_in){ 0 }, 16), -ENOENT, "nodeid 0");
	struct fuse_batch_forget_in bf = { .count = 0x10000000 };
	is_int(req(FUSE_BATCH_FORGET, 0, &bf, sizeof(bf)), NO_REPLY,
	       "BATCH_FORGET with a count beyond its length is dropped");
	is_int(req(FUSE_INTERRUPT, 0, &(struct fuse_interrupt_in){ 42 }, 8), NO_REPLY,
	       "INTERRUPT of nothing: no reply");
}

static void test_names(void)
{
	char long_name[300];
	struct fuse_entry_out e;

	char *sub = fs_test_path(root, "sub");
	is_int(mkdir(sub, 0755), 0, "mkdir sub in the shared directory");
	free(sub);
	is_int(req(FUSE_LOOKUP, FUSE_ROOT_ID, "sub", 3), -EINVAL, "unterminated name");
	is_int(lookup(FUSE_ROOT_ID, "", NULL), -EINVAL, "empty name");
	is_int(lookup(FUSE_ROOT_ID, "sub/..", NULL), -EINVAL, "name with a slash");
	is_int(lookup(FUSE_ROOT_ID, ".", NULL), -EINVAL, "name \".\"");
	memset(long_name, 'a', 256);
	long_name[256] = 0;
	is_int(lookup(FUSE_ROOT_ID, long_name, NULL), -ENAMETOOLONG, "name of 256 bytes");
	is_int(lookup(FUSE_ROOT_ID, "..", &e), 0, "\"..\" of the root");
	is_int(e.nodeid, FUSE_ROOT_ID, "the root's parent is the root");
	is_int(lookup(FUSE_ROOT_ID, "sub", &e), 0, "lookup sub");
	is_int(lookup(e.nodeid, "..", NULL), -EINVAL, "\"..\" of a directory is refused");
	is_int(req3(FUSE_MKDIR, FUSE_ROOT_ID, &(struct fuse_mkdir_in){ 0755 }, 8, "../x", 5, "", 0),
	       -EINVAL, "MKDIR ../x");
	is_int(req3(FUSE_RENAME, FUSE_ROOT_ID, &(struct fuse_rename_in){ FUSE_ROOT_ID }, 8, "sub",
		    4, "..", 3),
	       -EINVAL, "RENAME to ..");
}

/* Symlinks in the shared directory that point outside of it. */
static void test_escapes(void)
{
	struct fuse_entry_out e;
	char *path;

	path = fs_test_path(root, "evil");
	is_int(symlink("/", path), 0, "symlink evil -> /");
	free(path);
	path = fs_test_path(root, "up");
	is_int(symlink("../../..", path), 0, "symlink up -> ../../..");
	free(path);
	const char *links[] = { "evil", "up" };
	for (int i = 0; i < 2; i++) {
		is_int(lookup(FUSE_ROOT_ID, links[i], &e), 0, "lookup a symlink");
		ok(S_ISLNK(e.attr.mode), "it is the symlink itself, not its target");
		is_int(lookup(e.nodeid, "etc", NULL), -ENOTDIR, "nothing is found through it");
		is_int(req(FUSE_OPENDIR, e.nodeid, &(struct fuse_open_in){ 0 }, 8), -ENOTDIR,
		       "OPENDIR of the symlink");
		is_int(req(FUSE_OPEN, e.nodeid, &(struct fuse_open_in){ O_RDONLY }, 8), -EINVAL,
		       "OPEN of the symlink");
		is_int(
		    req3(FUSE_MKDIR, e.nodeid, &(struct fuse_mkdir_in){ 0755 }, 8, "x", 2, "", 0),
		    -ENOTDIR, "MKDIR under the symlink");
		is_int(req(FUSE_READLINK, e.nodeid, "", 0), 0, "READLINK");
		is_int(rsp_payload, strlen(i ? "../../.." : "/"), "the guest gets the target");
	}
	is_int(lookup(FUSE_ROOT_ID, "evil/etc", NULL), -EINVAL, "a path through the symlink");
	path = fs_test_path(root, "../outside");
	ok(access(path, F_OK) != 0, "nothing was created outside");
	free(path);
}

static void test_lifetimes(void)
{
	struct fuse_entry_out a, b, l;
	char *path, *path2;

	path = fs_test_path(root, "file");
	path2 = fs_test_path(root, "hardlink");
	is_int(fs_test_write_file(path, "hello world", 11), 0, "a file");
	is_int(link(path, path2), 0, "and a hard link to it");
	is_int(lookup(FUSE_ROOT_ID, "file", &a), 0, "lookup file");
	is_int(lookup(FUSE_ROOT_ID, "file", &b), 0, "lookup file again");
	is_int(lookup(FUSE_ROOT_ID, "hardlink", &l), 0, "lookup its hard link");
	ok(a.nodeid == b.nodeid && a.nodeid == l.nodeid, "one nodeid for one host inode");
	is_int(a.attr.nlink, 2, "nlink");
	is_int(a.attr.size, 11, "size");

	uint64_t fh = open_file(a.nodeid, O_RDONLY);
	ok(fh != 0, "OPEN");
	struct fuse_forget_in f = { 3 };
	is_int(req(FUSE_FORGET, a.nodeid, &f, sizeof(f)), NO_REPLY, "FORGET all references");
	is_int(req(FUSE_GETATTR, a.nodeid, &(struct fuse_getattr_in){ 0 }, 16), -ENOENT,
	       "the nodeid is gone");
	struct fuse_read_in rd = { .fh = fh, .size = 100 };
	is_int(req(FUSE_READ, a.nodeid, &rd, sizeof(rd)), 0, "the open handle still reads");
	ok(rsp_payload == 11 && memcmp(payload(), "hello world", 11) == 0, "data");

	rd.size = RSP_SIZE;
	is_int(req(FUSE_READ, a.nodeid, &rd, sizeof(rd)), -EINVAL,
	       "READ larger than the reply space");
	rd.size = 10;
	rd.offset = UINT64_MAX - 4;
	is_int(req(FUSE_READ, a.nodeid, &rd, sizeof(rd)), -EINVAL, "READ offset overflows");
	rd.offset = 0;
	rd.fh = 987654;
	is_int(req(FUSE_READ, a.nodeid, &rd, sizeof(rd)), -EBADF, "bogus fh");
	struct fuse_write_in wr = { .fh = fh, .size = 5 };
	is_int(req3(FUSE_WRITE, a.nodeid, &wr, sizeof(wr), "abc", 3, "", 0), -EINVAL,
	       "WRITE size differs from its payload");
	is_int(req3(FUSE_WRITE, a.nodeid, &wr, sizeof(wr), "abcde", 5, "", 0), -EBADF,
	       "WRITE through a read-only handle");
	struct fuse_release_in rel = { .fh = fh };
	is_int(req(FUSE_RELEASE, a.nodeid, &rel, sizeof(rel)), 0, "RELEASE");
	is_int(req(FUSE_RELEASE, a.nodeid, &rel, sizeof(rel)), -EBADF, "RELEASE twice");
	rd.fh = fh;
	is_int(req(FUSE_READ, a.nodeid, &rd, sizeof(rd)), -EBADF, "READ after RELEASE");

	is_int(lookup(FUSE_ROOT_ID, "file", &b), 0, "lookup after FORGET");
	ok(b.nodeid != a.nodeid, "a new nodeid: old ones are never reused");
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[2];
	} batch = { { 2 }, { { 999999, 5 }, { b.nodeid, 1 } } };
	is_int(req(FUSE_BATCH_FORGET, 0, &batch, sizeof(batch)), NO_REPLY, "BATCH_FORGET");
	is_int(req(FUSE_GETATTR, b.nodeid, &(struct fuse_getattr_in){ 0 }, 16), -ENOENT,
	       "forgets the known nodeid, ignores the unknown one");
	free(path);
	free(path2);
}

static void test_virtual(void)
{
	struct fuse_entry_out e, sub;
	char *path;

	path = fs_test_path(root, "init.krun");
	is_int(fs_test_write_file(path, "real", 4), 0, "a real init.krun to shadow");
	is_int(lookup(FUSE_ROOT_ID, "init.krun", &e), 0, "lookup the virtual file");
	is_int(e.attr.mode, S_IFREG | 0555, "its mode");
	is_int(e.attr.uid, 0, "owned by root");
	is_int(e.attr.size, 23, "its size, not the shadowed file's");
	uint64_t fh = open_file(e.nodeid, O_RDONLY);
	ok(fh, "OPEN read-only");
	struct fuse_read_in rd = { .fh = fh, .offset = 2, .size = 4096 };
	is_int(req(FUSE_READ, e.nodeid, &rd, sizeof(rd)), 0, "READ");
	ok(rsp_payload == 21 && memcmp(payload(), "/bin/sh", 7) == 0, "contents from offset 2");
	struct fuse_write_in wr = { .fh = fh, .size = 1 };
	is_int(req3(FUSE_WRITE, e.nodeid, &wr, sizeof(wr), "x", 1, "", 0), -EBADF, "WRITE to it");
	is_int(open_file(e.nodeid, O_WRONLY), 0, "OPEN for writing fails");
	is_int(req(FUSE_OPEN, e.nodeid, &(struct fuse_open_in){ O_RDWR }, 8), -EACCES, "EACCES");
	is_int(req(FUSE_UNLINK, FUSE_ROOT_ID, "init.krun", 10), -EACCES, "UNLINK refused");
	is_int(req3(FUSE_MKDIR, FUSE_ROOT_ID, &(struct fuse_mkdir_in){ 0755 }, 8, "init.krun", 10,
		    "", 0),
	       -EEXIST, "MKDIR over it");
	is_int(req(FUSE_SETATTR, e.nodeid, &(struct fuse_setattr_in){ .valid = FATTR_MODE }, 88),
	       -EPERM, "SETATTR refused");
	is_int(lookup(e.nodeid, "x", NULL), -ENOTDIR, "it is no directory");
	is_int(lookup(FUSE_ROOT_ID, "sub", &sub), 0, "lookup sub");
	is_int(lookup(sub.nodeid, "init.krun", NULL), -ENOENT, "virtual only in the root");
	is_int(access(path, F_OK), 0, "the shadowed file is untouched");
	free(path);
}

static void test_ioctl(void)
{
	struct fuse_ioctl_in in = { .cmd = 0x7602, .arg = 42, .flags = FUSE_IOCTL_DIR };
	struct fuse_entry_out sub;

	is_int(req(FUSE_IOCTL, FUSE_ROOT_ID, &in, sizeof(in)), 0, "exit-code ioctl on the root");
	is_int(exit_status, 42, "the status reaches exit_status_fn");
	lookup(FUSE_ROOT_ID, "sub", &sub);
	in.arg = 7;
	is_int(req(FUSE_IOCTL, sub.nodeid, &in, sizeof(in)), -ENOTTY, "not on another directory");
	in.cmd = 0x5401;
	is_int(req(FUSE_IOCTL, FUSE_ROOT_ID, &in, sizeof(in)), -ENOTTY, "other ioctls: ENOTTY");
	is_int(exit_status, 42, "status unchanged");
}

static void test_access(void)
{
	struct fuse_access_in in = { .mask = W_OK };
	struct fuse_entry_out sub;

	lookup(FUSE_ROOT_ID, "sub", &sub);
	is_int(req(FUSE_ACCESS, sub.nodeid, &in, sizeof(in)), 0, "ACCESS W_OK as root");
	req_uid = req_gid = 1000;
	is_int(req(FUSE_ACCESS, sub.nodeid, &in, sizeof(in)), -EACCES,
	       "as uid 1000 on a root-owned 0755 directory");
	in.mask = R_OK | X_OK;
	is_int(req(FUSE_ACCESS, sub.nodeid, &in, sizeof(in)), 0, "R_OK|X_OK as uid 1000");
	is_int(req3(FUSE_MKDIR, sub.nodeid, &(struct fuse_mkdir_in){ 0755 }, 8, "m", 2, "", 0),
	       -EACCES, "the host refuses uid 1000 a MKDIR there too");
	req_uid = req_gid = 0;
	in.mask = 0x80;
	is_int(req(FUSE_ACCESS, sub.nodeid, &in, sizeof(in)), -EINVAL, "unknown mask bits");
}

/* A directory that is a mount point is flagged so the guest gives it its own st_dev. */
static void test_submount(void)
{
	struct fuse_entry_out sub, mp;
	char *path = fs_test_path(root, "sub/mp");

	mkdir(path, 0755);
	if (!private_mounts || mount("tmpfs", path, "tmpfs", 0, NULL) < 0) {
		ok(1, "# SKIP cannot mount here");
		free(path);
		return;
	}
	lookup(FUSE_ROOT_ID, "sub", &sub);
	is_int(sub.attr.flags & FUSE_ATTR_SUBMOUNT, 0, "a plain directory is no submount");
	is_int(lookup(sub.nodeid, "mp", &mp), 0, "lookup the mount point");
	ok(mp.attr.flags & FUSE_ATTR_SUBMOUNT, "flagged FUSE_ATTR_SUBMOUNT");
	umount2(path, MNT_DETACH);
	free(path);
}

static void test_xattr_sizes(void)
{
	struct fuse_entry_out e;
	struct fuse_getxattr_in g = { .size = 0 };

	lookup(FUSE_ROOT_ID, "sub", &e);
	struct fuse_setxattr_in s = { .size = 5 };
	int ret = req3(FUSE_SETXATTR, e.nodeid, &s, 8, "user.k", 7, "value", 5);
	if (ret == -EOPNOTSUPP) {
		ok(1, "# SKIP user xattrs unsupported here");
		return;
	}
	is_int(ret, 0, "SETXATTR");
	s.size = 9;
	is_int(req3(FUSE_SETXATTR, e.nodeid, &s, 8, "user.k", 7, "value", 5), -EINVAL,
	       "SETXATTR size beyond its payload");
	is_int(req3(FUSE_GETXATTR, e.nodeid, &g, 8, "user.k", 7, "", 0), 0, "size probe");
	is_int(((struct fuse_getxattr_out *)payload())->size, 5, "the size");
	g.size = 2;
	is_int(req3(FUSE_GETXATTR, e.nodeid, &g, 8, "user.k", 7, "", 0), -ERANGE,
	       "too small: ERANGE");
	g.size = 64;
	static _Alignas(8) uint8_t buf[64];
	struct fuse_in_header h = {
		.len = sizeof(h) + 8 + 7, .opcode = FUSE_GETXATTR, .unique = 1, .nodeid = e.nodeid
	};
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &g, 8);
	memcpy(buf + sizeof(h) + 8, "user.k", 7);
	is_int(send_raw(buf, h.len, rsp, 20, NULL), -ERANGE,
	       "asks for 64 bytes but gives reply space for 4: ERANGE");
}

static int mknod_req(const char *name, mode_t mode, dev_t dev)
{
	/* The kernel's new_encode_dev. */
	uint32_t rdev = (minor(dev) & 0xff) | (major(dev) << 8) | ((minor(dev) & ~0xffu) << 12);
	struct fuse_mknod_in in = { .mode = mode, .rdev = rdev };

	return req3(FUSE_MKNOD, FUSE_ROOT_ID, &in, sizeof(in), name, strlen(name) + 1, "", 0);
}

static int create_req(const char *name, uint32_t flags)
{
	struct fuse_create_in in = { .flags = flags, .mode = S_IFREG | 0644 };

	return req3(FUSE_CREATE, FUSE_ROOT_ID, &in, sizeof(in), name, strlen(name) + 1, "", 0);
}

/* A hostile guest makes host device nodes and opens them (MKNOD c 1:11 then CREATE gave
 * it the host's /dev/kmsg), or opens a FIFO to stop a serving thread. */
static void test_special_nodes(void)
{
	struct stat st;
	char *kmsg = fs_test_path(root, "kmsg"), *fifo = fs_test_path(root, "fifo");

	is_int(do_init(7, 38, 0), 0, "a new session");
	is_int(mknod_req("kmsg", S_IFCHR | 0666, makedev(1, 11)), -EPERM,
	       "MKNOD of a character device is refused");
	is_int(mknod_req("sda", S_IFBLK | 0666, makedev(8, 0)), -EPERM,
	       "MKNOD of a block device is refused");
	ok(lstat(kmsg, &st) < 0 && errno == ENOENT, "nothing was made");
	is_int(mknod_req("whiteout", S_IFCHR, 0), 0, "MKNOD of a 0:0 whiteout");
	is_int(mknod_req("gfifo", S_IFIFO | 0600, 0), 0, "MKNOD of a FIFO");
	is_int(mknod_req("gsock", S_IFSOCK | 0600, 0), 0, "MKNOD of a socket");
	is_int(mknod_req("bad", 0170000 | 0600, 0), -EINVAL, "MKNOD of no known type");

	/* Nodes the guest did not make, found in the root (an image may carry them). */
	is_int(mknod(kmsg, S_IFCHR | 0666, makedev(1, 11)), 0, "a host device node in the root");
	is_int(mkfifo(fifo, 0666), 0, "and a FIFO");
	alarm(20); /* a blocked open would otherwise hang the test */
	is_int(create_req("kmsg", O_RDONLY), -EACCES, "CREATE does not open a device node");
	is_int(create_req("fifo", O_WRONLY), -EACCES, "CREATE does not open a FIFO");
	is_int(create_req("whiteout", O_RDWR), -EACCES, "nor the whiteout");
	is_int(create_req("fifo", O_WRONLY | O_EXCL), -EEXIST, "O_EXCL on it: EEXIST");
	is_int(create_req("sub", O_RDONLY), -EISDIR, "CREATE of a directory: EISDIR");
	is_int(create_req("evil", O_RDONLY), -ELOOP, "CREATE through a symlink: ELOOP");
	is_int(create_req("newfile", O_RDWR), 0, "CREATE makes a new file");
	is_int(create_req("newfile", O_RDWR | O_TRUNC), 0, "and opens it when it exists");
	alarm(0);
	struct fuse_entry_out e;
	is_int(lookup(FUSE_ROOT_ID, "kmsg", &e), 0, "LOOKUP of the device node");
	is_int(req(FUSE_OPEN, e.nodeid, &(struct fuse_open_in){ O_RDONLY }, 8), -EINVAL,
	       "OPEN of it is refused");
	unlink(kmsg);
	unlink(fifo);
	free(kmsg);
	free(fifo);
}

/* Sends a request on the hiprio queue. */
static int hiprio_req(uint32_t op, uint64_t nodeid, const void *a, size_t alen)
{
	_Alignas(8) uint8_t buf[256];
	struct fuse_in_header h = {
		.opcode = op, .unique = next_unique++, .nodeid = nodeid, .len = sizeof(h) + alen
	};
	struct iovec in_iov = { buf, h.len }, out_iov = { rsp, sizeof(rsp) };
	struct fs_msg m_in = { &in_iov, 1, h.len }, m_out = { &out_iov, 1, sizeof(rsp) };

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), a, alen);
	long n = fs_server_handle_hiprio(srv, &m_in, &m_out);
	return n == 0 ? NO_REPLY : ((struct fuse_out_header *)rsp)->error;
}

/* The hiprio queue is served by a thread that must never block: a request that may (a
 * CREATE on a FIFO, a lock wait) is refused there. */
static void test_hiprio(void)
{
	struct fuse_entry_out e;
	struct fuse_create_in in = { .flags = O_WRONLY, .mode = S_IFREG | 0644 };
	uint8_t create[sizeof(in) + 8];

	memcpy(create, &in, sizeof(in));
	memcpy(create + sizeof(in), "hp-file", 8);
	is_int(hiprio_req(FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 }, 16), -EPERM,
	       "GETATTR on hiprio is refused");
	is_int(hiprio_req(FUSE_CREATE, FUSE_ROOT_ID, create, sizeof(create)), -EPERM,
	       "CREATE on hiprio is refused");
	char *path = fs_test_path(root, "hp-file");
	ok(access(path, F_OK) != 0, "and did nothing");
	free(path);
	is_int(hiprio_req(FUSE_SETLKW, FUSE_ROOT_ID, &(struct fuse_lk_in){ 0 },
			  sizeof(struct fuse_lk_in)),
	       -EPERM, "SETLKW on hiprio is refused");
	is_int(lookup(FUSE_ROOT_ID, "sub", &e), 0, "lookup sub");
	is_int(hiprio_req(FUSE_FORGET, e.nodeid, &(struct fuse_forget_in){ 1 }, 8), NO_REPLY,
	       "FORGET on hiprio is served");
	is_int(hiprio_req(FUSE_INTERRUPT, 0, &(struct fuse_interrupt_in){ 99 }, 8), NO_REPLY,
	       "INTERRUPT on hiprio is served");
}

static void test_lock_waits(void)
{
	struct fuse_entry_out e;
	struct fuse_lk_in lk = { .lk = { .start = 0, .end = INT64_MAX, .type = F_WRLCK } };
	static _Alignas(8) uint8_t wait_rsp[3][64];
	static _Alignas(8) uint8_t buf[128];

	lookup(FUSE_ROOT_ID, "file", &e);
	lk.fh = open_file(e.nodeid, O_RDWR);
	lk.owner = 1;
	is_int(req(FUSE_SETLK, e.nodeid, &lk, sizeof(lk)), 0, "owner 1 locks");
	lk.owner = 2;
	is_int(req(FUSE_SETLK, e.nodeid, &lk, sizeof(lk)), -EAGAIN, "owner 2 conflicts");
	is_int(req(FUSE_GETLK, e.nodeid, &lk, sizeof(lk)), 0, "GETLK");
	is_int(((struct fuse_lk_out *)payload())->lk.type, F_WRLCK, "reports the write lock");

	/* SETLKW from owner 2 waits without holding the caller. */
	struct fuse_in_header h = { .len = sizeof(h) + sizeof(lk),
				    .opcode = FUSE_SETLKW,
				    .unique = 5000,
				    .nodeid = e.nodeid };
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &lk, sizeof(lk));
	is_int(send_raw(buf, h.len, wait_rsp[0], 64, wait_rsp[0]), FS_DEFERRED, "SETLKW deferred");
	lk.owner = 1;
	lk.lk.type = F_UNLCK;
	is_int(req(FUSE_SETLK, e.nodeid, &lk, sizeof(lk)), 0, "owner 1 unlocks");
	ok(wait_done(1), "the wait completes");
	is_int(done_error, 0, "with the lock granted");
	is_int(done_len, sizeof(struct fuse_out_header), "reply length");
	is_int(((struct fuse_out_header *)wait_rsp[0])->unique, 5000, "for the right request");

	/* Owner 3 waits for owner 2, and is interrupted. */
	lk.owner = 3;
	lk.lk.type = F_WRLCK;
	h.unique = 5001;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &lk, sizeof(lk));
	is_int(send_raw(buf, h.len, wait_rsp[1], 64, wait_rsp[1]), FS_DEFERRED, "second wait");
	is_int(req(FUSE_INTERRUPT, 0, &(struct fuse_interrupt_in){ 5001 }, 8), NO_REPLY,
	       "INTERRUPT it");
	ok(wait_done(2), "the interrupted wait completes");
	is_int(done_error, -EINTR, "with EINTR");

	/* A wait dropped by the end of the session gets no reply. */
	h.unique = 5002;
	memcpy(buf, &h, sizeof(h));
	is_int(send_raw(buf, h.len, wait_rsp[2], 64, wait_rsp[2]), FS_DEFERRED, "third wait");
	fs_server_reset(srv);
	ok(wait_done(3), "reset ends it");
	is_int(done_len, 0, "without a reply");
}

int main(void)
{
	/* Mounts made by the test stay private to it (the server's fds see this namespace). */
	private_mounts =
	    unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	root = fs_test_tempdir("krun-fs-server");
	new_server();
	test_init();
	test_malformed();
	test_names();
	test_escapes();
	test_lifetimes();
	test_virtual();
	test_ioctl();
	test_access();
	test_submount();
	test_xattr_sizes();
	test_lock_waits();
	test_special_nodes();
	test_hiprio();
	fs_server_free(srv);
	fs_test_rmtree(root);
	free(root);
	return tap_done();
}
