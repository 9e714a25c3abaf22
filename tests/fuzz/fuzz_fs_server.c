/* Fuzzes the FUSE server behind virtio-fs (src/devices/fs) the way a hostile guest kernel
 * talks to it: each input is INIT and then a sequence of requests built from the input
 * (opcode, nodeid, caller, raw arguments, reply space, how the request is split into
 * segments), served by fs_server_handle or fs_server_handle_hiprio against a small tree
 * in a private tmpfs. Nodeids and file handles the server returned are remembered, so
 * later requests of the same input can name them. Between inputs the session is ended
 * with fs_server_reset and the tree is rebuilt when a request may have changed it.
 *
 * Host side effects stay in the tmpfs: it is mounted nodev (no device node the guest makes
 * opens a host device) in a private mount namespace, and its size is capped.
 *
 * Every reply is checked: never longer than the reply space, and its header agrees with
 * the length returned. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "devices/fs/server.h"
#include "fs_test_util.h"
#include "fuzz_util.h"

#define MAX_REQS    16
#define MAX_IDS	    64
#define MAX_ARG	    (72 * 1024)
#define DEFAULT_RSP (8 * 1024 + 64)
#define FULL_RSP    ((1u << 20) + 4096)

static const uint32_t opcodes[] = {
	FUSE_LOOKUP,	   FUSE_FORGET,	       FUSE_GETATTR,
	FUSE_SETATTR,	   FUSE_READLINK,      FUSE_SYMLINK,
	FUSE_MKNOD,	   FUSE_MKDIR,	       FUSE_UNLINK,
	FUSE_RMDIR,	   FUSE_RENAME,	       FUSE_LINK,
	FUSE_OPEN,	   FUSE_READ,	       FUSE_WRITE,
	FUSE_STATFS,	   FUSE_RELEASE,       FUSE_FSYNC,
	FUSE_SETXATTR,	   FUSE_GETXATTR,      FUSE_LISTXATTR,
	FUSE_REMOVEXATTR,  FUSE_FLUSH,	       FUSE_INIT,
	FUSE_OPENDIR,	   FUSE_READDIR,       FUSE_RELEASEDIR,
	FUSE_FSYNCDIR,	   FUSE_GETLK,	       FUSE_SETLK,
	FUSE_SETLKW,	   FUSE_ACCESS,	       FUSE_CREATE,
	FUSE_INTERRUPT,	   FUSE_BMAP,	       FUSE_DESTROY,
	FUSE_IOCTL,	   FUSE_POLL,	       FUSE_NOTIFY_REPLY,
	FUSE_BATCH_FORGET, FUSE_FALLOCATE,     FUSE_READDIRPLUS,
	FUSE_RENAME2,	   FUSE_LSEEK,	       FUSE_COPY_FILE_RANGE,
	FUSE_SETUPMAPPING, FUSE_REMOVEMAPPING, FUSE_SYNCFS,
	FUSE_TMPFILE,
};
#define NOPCODES (sizeof(opcodes) / sizeof(opcodes[0]))

/* Opcodes that leave the tree as it was (the rest may change it). */
static bool read_only(uint32_t op)
{
	switch (op) {
	case FUSE_LOOKUP:
	case FUSE_FORGET:
	case FUSE_GETATTR:
	case FUSE_READLINK:
	case FUSE_READ:
	case FUSE_STATFS:
	case FUSE_RELEASE:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_FLUSH:
	case FUSE_INIT:
	case FUSE_OPENDIR:
	case FUSE_READDIR:
	case FUSE_RELEASEDIR:
	case FUSE_GETLK:
	case FUSE_ACCESS:
	case FUSE_INTERRUPT:
	case FUSE_DESTROY:
	case FUSE_BATCH_FORGET:
	case FUSE_READDIRPLUS:
	case FUSE_LSEEK:
		return true;
	default:
		return false;
	}
}

struct req_buf {
	uint8_t *req, *rsp;
	size_t rsp_len;
	struct iovec in_iov[4], out_iov[2];
	bool deferred;
	bool shared; /* rsp is F.full_rsp */
};

static struct {
	char *dir; /* the mount point */
	char *root;
	int vfile_fd;
	struct fs_server *srv;
	bool debug; /* $FUZZ_DEBUG: print each request and its result */
	/* per input */
	uint64_t nodeids[MAX_IDS], fhs[MAX_IDS];
	unsigned nnodeids, nfhs;
	uint64_t unique;
	struct req_buf bufs[MAX_REQS + 1];
	unsigned nbufs;
	bool dirty;
	uint8_t *full_rsp;
	pthread_mutex_t done_mu;
} F = {
	.done_mu = PTHREAD_MUTEX_INITIALIZER,
};

static void on_complete(void *opaque, void *cookie, size_t len)
{
	struct req_buf *b = cookie;

	pthread_mutex_lock(&F.done_mu);
	if (!b->deferred)
		fuzz_fail("completion of a request that was not deferred");
	if (len > b->rsp_len)
		fuzz_fail("deferred reply of %zu bytes in %zu", len, b->rsp_len);
	if (len && (len < sizeof(struct fuse_out_header) ||
		    ((struct fuse_out_header *)b->rsp)->len != len))
		fuzz_fail("deferred reply header disagrees with its length %zu", len);
	b->deferred = false;
	pthread_mutex_unlock(&F.done_mu);
}

static void remember(uint64_t *tab, unsigned *n, uint64_t v)
{
	if (*n < MAX_IDS && v)
		tab[(*n)++] = v;
}

/* Nodeids and handles the reply gave the guest. */
static void learn(uint32_t op, const uint8_t *payload, size_t len)
{
	const struct fuse_entry_out *e = (const void *)payload;

	switch (op) {
	case FUSE_LOOKUP:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_SYMLINK:
	case FUSE_LINK:
		if (len >= sizeof(*e))
			remember(F.nodeids, &F.nnodeids, e->nodeid);
		break;
	case FUSE_CREATE:
		if (len >= sizeof(*e) + sizeof(struct fuse_open_out)) {
			remember(F.nodeids, &F.nnodeids, e->nodeid);
			remember(F.fhs, &F.nfhs, ((const struct fuse_open_out *)(e + 1))->fh);
		}
		break;
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		if (len >= sizeof(struct fuse_open_out))
			remember(F.fhs, &F.nfhs, ((const struct fuse_open_out *)payload)->fh);
		break;
	case FUSE_READDIRPLUS:
		for (size_t off = 0; off + FUSE_NAME_OFFSET_DIRENTPLUS <= len;) {
			const struct fuse_direntplus *d = (const void *)(payload + off);
			remember(F.nodeids, &F.nnodeids, d->entry_out.nodeid);
			size_t next = FUSE_DIRENTPLUS_SIZE(d);
			if (next == 0 || d->dirent.namelen > 255)
				break;
			off += next;
		}
		break;
	}
}

/* A nodeid or handle the input picks: mostly one the server gave out. */
static uint64_t pick(struct fuzz_in *in, const uint64_t *tab, unsigned n, uint64_t dflt)
{
	uint8_t sel = fin_u8(in);

	if (sel == 0xff)
		return fin_u64(in);
	if (sel >= 0xf0)
		return sel - 0xf0; /* small raw values: 0, the root, the virtual files... */
	return n ? tab[sel % n] : dflt;
}

/* Splits the request bytes into up to four segments at points the input picks. */
static unsigned split(struct fuzz_in *in, struct req_buf *b, size_t len, bool do_split)
{
	unsigned n = 0;
	size_t off = 0;

	if (do_split) {
		unsigned cuts = 1 + fin_u8(in) % 3;
		for (unsigned i = 0; i < cuts && off < len; i++) {
			size_t seg = fin_u16(in) % (len - off + 1);
			b->in_iov[n++] = (struct iovec){ b->req + off, seg };
			off += seg;
		}
	}
	b->in_iov[n++] = (struct iovec){ b->req + off, len - off };
	return n;
}

static size_t reply_space(uint8_t sel)
{
	if (sel == 0)
		return DEFAULT_RSP;
	if (sel == 0xff)
		return FULL_RSP;
	return (size_t)sel * 8 - 8; /* 0 .. 2 KiB: too small for many replies */
}

static bool shared_rsp_deferred(void)
{
	bool busy = false;

	pthread_mutex_lock(&F.done_mu);
	for (unsigned i = 0; i < F.nbufs; i++)
		busy |= F.bufs[i].shared && F.bufs[i].deferred;
	pthread_mutex_unlock(&F.done_mu);
	return busy;
}

/* Sends one request; returns false when the input is used up. */
static bool one_request(struct fuzz_in *in, bool first)
{
	struct req_buf *b = &F.bufs[F.nbufs];
	uint8_t opsel = fin_u8(in), ctl = fin_u8(in);
	uint32_t op;

	if (first)
		op = FUSE_INIT;
	else if (opsel == 0xff)
		op = fin_u32(in);
	else
		op = opcodes[opsel % NOPCODES];
	uint64_t nodeid = pick(in, F.nodeids, F.nnodeids, FUSE_ROOT_ID);
	size_t arg_len = fin_u16(in) % (MAX_ARG + 1);
	/* Beyond the input's bytes only a little zero padding: big zero-filled requests
	 * would cost time and find nothing. */
	if (arg_len > in->left + 256)
		arg_len = in->left + 256;
	if (first && arg_len < 16)
		arg_len = 16;
	if (fin_done(in) && !first)
		return false;

	struct fuse_in_header h = {
		.opcode = op,
		.unique = ++F.unique,
		.nodeid = nodeid,
		.uid = ctl & 4 ? 1000 : 0,
		.gid = ctl & 4 ? 1000 : 0,
		.pid = 42,
	};
	size_t len = sizeof(h) + arg_len;
	b->req = malloc(len);
	uint8_t *arg = b->req + sizeof(h);
	size_t got = fin_bytes(in, arg, arg_len);
	if (first) {
		struct fuse_init_in *init = (void *)arg;
		init->major = FUSE_KERNEL_VERSION;
		if (got < 8)
			init->minor = FUSE_KERNEL_MINOR_VERSION;
	}
	/* Up to three argument fields replaced by a nodeid or handle the server gave. */
	for (unsigned i = 0; i < ((ctl >> 5) & 3); i++) {
		uint8_t where = fin_u8(in);
		size_t off = (where >> 1) * 8;
		uint64_t v = where & 1 ? pick(in, F.fhs, F.nfhs, 1)
				       : pick(in, F.nodeids, F.nnodeids, FUSE_ROOT_ID);
		if (off + 8 <= arg_len)
			memcpy(arg + off, &v, 8);
	}
	h.len = len;
	if (ctl & 16) { /* a header that lies about its lengths */
		uint8_t lie = fin_u8(in);
		h.len += (int8_t)(lie & 0xf0) / 16;
		h.total_extlen = lie & 0x0f;
	}
	memcpy(b->req, &h, sizeof(h));

	b->rsp_len = reply_space(fin_u8(in));
	b->shared = b->rsp_len == FULL_RSP && !shared_rsp_deferred();
	/* One reply space of the full size serves every request that asks for it (an
	 * allocation that large costs more than most requests). */
	b->rsp = b->shared ? F.full_rsp : malloc(b->rsp_len ? b->rsp_len : 1);
	unsigned nin = split(in, b, len, ctl & 128);
	unsigned nout = 1;
	b->out_iov[0] = (struct iovec){ b->rsp, b->rsp_len };
	if ((ctl & 8) && b->rsp_len > 16) { /* the reply space in two segments */
		size_t cut = 16 + fin_u8(in) % (b->rsp_len - 16);
		b->out_iov[0].iov_len = cut;
		b->out_iov[1] = (struct iovec){ b->rsp + cut, b->rsp_len - cut };
		nout = 2;
	}
	F.nbufs++;

	struct fs_msg m_in = { b->in_iov, nin, len }, m_out = { b->out_iov, nout, b->rsp_len };
	bool hiprio = (ctl & 3) == 3;
	long n;
	pthread_mutex_lock(&F.done_mu);
	b->deferred = true; /* until we know it was not */
	pthread_mutex_unlock(&F.done_mu);
	if (hiprio)
		n = fs_server_handle_hiprio(F.srv, &m_in, &m_out);
	else
		n = fs_server_handle(F.srv, &m_in, &m_out, b);
	pthread_mutex_lock(&F.done_mu);
	if (n != FS_DEFERRED || hiprio)
		b->deferred = false;
	pthread_mutex_unlock(&F.done_mu);
	if (F.debug)
		fprintf(stderr, "op %u nodeid %llu args %zu: %ld, error %d\n", op,
			(unsigned long long)nodeid, arg_len, n,
			n > 0 ? ((struct fuse_out_header *)b->rsp)->error : 0);
	if (n == FS_DEFERRED && hiprio)
		fuzz_fail("the hiprio queue deferred a request");
	/* What failed changed nothing: the tree is rebuilt only after a success. */
	F.dirty |= !read_only(op) && (n == FS_DEFERRED || n == 0 ||
				      (n >= (long)sizeof(struct fuse_out_header) &&
				       ((struct fuse_out_header *)b->rsp)->error == 0));
	if (n == FS_DEFERRED)
		return true;
	if (n < 0 || (size_t)n > b->rsp_len)
		fuzz_fail("opcode %u: reply of %ld bytes in %zu", op, n, b->rsp_len);
	if (n == 0)
		return true;
	const struct fuse_out_header *oh = (const void *)b->rsp;
	if ((size_t)n < sizeof(*oh) || oh->len != (uint32_t)n || oh->unique != h.unique)
		fuzz_fail("opcode %u: reply header (len %u) disagrees with %ld", op, oh->len, n);
	if (oh->error > 0 || oh->error < -4095 || (oh->error && oh->len != sizeof(*oh)))
		fuzz_fail("opcode %u: error %d in a reply of %u bytes", op, oh->error, oh->len);
	if (oh->error == 0)
		learn(op, b->rsp + sizeof(*oh), n - sizeof(*oh));
	return true;
}

/* The tree every input starts from. */
static void build_tree(void)
{
	char *p;

	char names[4096];
	ssize_t n = listxattr(F.root, names, sizeof(names));

	for (ssize_t off = 0; off < n; off += strlen(names + off) + 1)
		removexattr(F.root, names + off);
	chown(F.root, 0, 0);
	chmod(F.root, 0755);
	fs_test_write_file((p = fs_test_path(F.root, "file")), "hello world\n", 12), free(p);
	setxattr((p = fs_test_path(F.root, "file")), "user.k", "v", 1, 0), free(p);
	mkdir((p = fs_test_path(F.root, "dir")), 0755), free(p);
	fs_test_write_file((p = fs_test_path(F.root, "dir/inner")), "x", 1), free(p);
	symlink("file", (p = fs_test_path(F.root, "link"))), free(p);
	symlink("../../..", (p = fs_test_path(F.root, "up"))), free(p);
	fs_test_write_file((p = fs_test_path(F.root, "init.krun")), "shadowed", 8), free(p);
}

static int remove_below(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (ftw->level > 0)
		remove(path);
	return 0;
}

/* Empties the root in place: the server holds it open. */
static void empty_root(void)
{
	nftw(F.root, remove_below, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void run_input(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };

	F.nnodeids = F.nfhs = F.nbufs = 0;
	F.dirty = false;
	remember(F.nodeids, &F.nnodeids, FUSE_ROOT_ID);
	for (bool first = true; F.nbufs < MAX_REQS && one_request(&in, first); first = false)
		;
	fs_server_reset(F.srv);
	for (unsigned i = 0; i < F.nbufs; i++) {
		if (F.bufs[i].deferred)
			fuzz_fail("a deferred request was never completed");
		free(F.bufs[i].req);
		if (!F.bufs[i].shared)
			free(F.bufs[i].rsp);
	}
	if (F.dirty) {
		empty_root();
		build_tree();
	}
}

/* fs_server_thread_init moves this thread's working directory to /proc/self/fd: the
 * paths libFuzzer was given must not depend on it. */
static void absolute_paths(int argc, char **argv)
{
	static const char *const path_flags[] = { "-artifact_prefix=", "-exact_artifact_path=",
						  "-dict=", "-merge_control_file=",
						  "-features_dir=" };
	char cwd[4096];

	if (!getcwd(cwd, sizeof(cwd)))
		fuzz_fail("getcwd: %s", strerror(errno));
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *path = NULL;
		if (arg[0] != '-')
			path = arg;
		for (size_t k = 0; k < sizeof(path_flags) / sizeof(path_flags[0]); k++)
			if (!strncmp(arg, path_flags[k], strlen(path_flags[k])))
				path = arg + strlen(path_flags[k]);
		if (!path || !*path || path[0] == '/')
			continue;
		char *abs;
		if (asprintf(&abs, "%.*s%s/%s", (int)(path - arg), arg, cwd, path) < 0)
			fuzz_fail("asprintf");
		argv[i] = abs; /* kept for the process's lifetime */
	}
}

static void new_server(void)
{
	static const char init_data[] = "#!/bin/sh\necho virtual\n";
	static struct virtio_fs_virtual_file vf[2] = {
		{ .name = "init.krun", .data = init_data, .fd = -1, .mode = 0555 },
		{ .name = ".krun_config.json", .fd = -1, .mode = 0444 },
	};
	char buf[5000];
	krun_error_t err = NULL;

	F.vfile_fd = memfd_create("vfile", MFD_CLOEXEC);
	memset(buf, '{', sizeof(buf));
	if (F.vfile_fd < 0 || write(F.vfile_fd, buf, sizeof(buf)) != sizeof(buf))
		fuzz_fail("memfd for the virtual file");
	vf[0].size = strlen(init_data);
	vf[1].fd = F.vfile_fd;
	vf[1].size = sizeof(buf);
	struct virtio_fs_config cfg = {
		.tag = "fuzz", .root_path = F.root, .virtual_files = vf, .num_virtual_files = 2
	};
	if (fs_server_new(&cfg, on_complete, NULL, &F.srv, &err) < 0 ||
	    fs_server_thread_init(F.srv, &err) < 0)
		fuzz_fail("fs_server_new: %s", err->msg);
}

/* A private tmpfs for the tree, when we may mount (the harness usually runs as root). */
static void private_tmpfs(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("fuzz", F.dir, "tmpfs", MS_NODEV | MS_NOSUID | MS_NOEXEC, "size=8m,mode=0755") <
		0)
		fprintf(stderr, "fuzz_fs_server: no private tmpfs (%s): the tree is in %s\n",
			strerror(errno), F.dir);
}

static void cleanup(void)
{
	umount2(F.dir, MNT_DETACH);
	fs_test_rmtree(F.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	absolute_paths(*argc, *argv);
	F.debug = getenv("FUZZ_DEBUG") != NULL;
	F.dir = fs_test_tempdir("krun-fuzz-fs");
	private_tmpfs();
	atexit(cleanup);
	F.root = fs_test_path(F.dir, "root");
	mkdir(F.root, 0755);
	build_tree();
	F.full_rsp = malloc(FULL_RSP);
	new_server();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_input(data, size);
	return 0;
}
