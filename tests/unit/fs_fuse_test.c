/* The FUSE server behind a real mount: /dev/fuse speaks the same wire format as virtio-fs,
 * so this host's kernel plays the guest. The test runs in a private mount namespace (the
 * mount disappears with the process, even when a test fails) and exercises the shared
 * directory through ordinary system calls, checking the results on the backing side. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "devices/fs/server.h"
#include "fs_test_util.h"
#include "tap.h"

#define NTHREADS 4
#define IN_SIZE	 ((1u << 20) + 8192)
#define OUT_SIZE ((1u << 20) + 4096)

static const char init_data[] = "#!/bin/sh\nexec /bin/true\n";
static const char config_data[] = "{\"ociVersion\":\"1.0.2\"}";

static char *backing, *mnt;
static int fuse_fd = -1;
static struct fs_server *srv;
static pthread_t threads[NTHREADS];
static _Atomic int exit_status = -1;

static char *bpath(const char *name)
{
	return fs_test_path(backing, name);
}

static char *mpath(const char *name)
{
	return fs_test_path(mnt, name);
}

/* ---- the server side: threads reading /dev/fuse ---- */

static void on_exit_status(void *opaque, int status)
{
	exit_status = status;
}

/* A deferred request (a lock wait) is done: its reply buffer is the cookie. */
static void on_complete(void *opaque, void *cookie, size_t len)
{
	if (len && write(fuse_fd, cookie, len) < 0 && errno != ENOENT)
		perror("write /dev/fuse");
	free(cookie);
}

static void *serve(void *arg)
{
	krun_error_t err = NULL;
	uint8_t *in = malloc(IN_SIZE), *out = malloc(OUT_SIZE);

	if (fs_server_thread_init(srv, &err) < 0) {
		printf("Bail out! %s\n", err->msg);
		exit(1);
	}
	for (;;) {
		ssize_t n = read(fuse_fd, in, IN_SIZE);
		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue;
		if (n < 0)
			break; /* ENODEV: unmounted */
		struct iovec iv = { in, n }, ov = { out, OUT_SIZE };
		struct fs_msg req = { &iv, 1, n }, rsp = { &ov, 1, OUT_SIZE };
		long len = fs_server_handle(srv, &req, &rsp, out);
		if (len == FS_DEFERRED) {
			out = malloc(OUT_SIZE); /* the old one waits for its reply */
			continue;
		}
		/* ENOENT: the kernel gave up on the request (interrupted). */
		if (len > 0 && write(fuse_fd, out, len) < 0 && errno != ENOENT)
			perror("write /dev/fuse");
	}
	free(in);
	free(out);
	return NULL;
}

static void skip_all(const char *why)
{
	printf("ok 1 - FUSE mount # SKIP %s\n1..1\n", why);
	exit(0);
}

static void setup(void)
{
	static struct virtio_fs_virtual_file vf[2] = {
		{ .name = "init.krun",
		  .data = init_data,
		  .size = sizeof(init_data) - 1,
		  .mode = 0555 },
		{ .name = ".krun_config.json",
		  .data = NULL,
		  .size = sizeof(config_data) - 1,
		  .mode = 0444 },
	};
	krun_error_t err = NULL;
	char opts[256];

	if (access("/dev/fuse", R_OK | W_OK) != 0)
		skip_all("no /dev/fuse");
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		skip_all("cannot make a private mount namespace (not root?)");
	backing = fs_test_tempdir("krun-fs-backing");
	mnt = fs_test_tempdir("krun-fs-mnt");
	chmod(backing, 0755);
	/* The second virtual file is read with pread from an fd. */
	char *cfg_path = fs_test_path(mnt, "../krun-fs-config");
	fs_test_write_file(cfg_path, config_data, sizeof(config_data) - 1);
	vf[1].fd = open(cfg_path, O_RDONLY | O_CLOEXEC);
	unlink(cfg_path);
	free(cfg_path);
	struct virtio_fs_config cfg = {
		.tag = "test",
		.root_path = backing,
		.virtual_files = vf,
		.num_virtual_files = 2,
		.exit_status_fn = on_exit_status,
	};
	if (fs_server_new(&cfg, on_complete, NULL, &srv, &err) < 0) {
		printf("Bail out! %s\n", err->msg);
		exit(1);
	}
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0)
		skip_all("cannot open /dev/fuse");
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions",
		 fuse_fd);
	if (mount("krun-test", mnt, "fuse.krun", MS_NOSUID | MS_NODEV, opts) < 0)
		skip_all("cannot mount a FUSE file system");
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&threads[i], NULL, serve, NULL);
}

static void teardown(void)
{
	is_int(umount2(mnt, MNT_DETACH), 0, "unmount");
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(threads[i], NULL);
	fs_server_free(srv);
	fs_test_rmtree(backing);
	rmdir(mnt);
}

/* ---- helpers ---- */

static ssize_t read_all(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size);
	close(fd);
	return n;
}

static bool file_is(const char *path, const char *want)
{
	char buf[4096];
	ssize_t n = read_all(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return false;
	buf[n] = 0;
	return strcmp(buf, want) == 0;
}

/* Runs fn in a child process; returns its exit status (0 = success). */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(fn(arg));
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- tests ---- */

static void test_basic_io(void)
{
	char *m = mpath("hello"), *b = bpath("hello");
	int fd = open(m, O_CREAT | O_WRONLY | O_EXCL, 0644);

	ok(fd >= 0, "create through the mount");
	is_int(write(fd, "hello ", 6), 6, "write");
	close(fd);
	fd = open(m, O_WRONLY | O_APPEND);
	is_int(write(fd, "world", 5), 5, "append");
	close(fd);
	ok(file_is(b, "hello world"), "the backing file has the data");
	ok(file_is(m, "hello world"), "read back through the mount");
	is_int(open(m, O_CREAT | O_EXCL | O_WRONLY, 0644), -1, "O_EXCL on an existing file");
	is_int(errno, EEXIST, "EEXIST");
	fd = open(m, O_WRONLY | O_TRUNC);
	close(fd);
	struct stat st;
	is_int(stat(b, &st) == 0 ? st.st_size : -1, 0, "O_TRUNC truncates");
	is_int(unlink(m), 0, "unlink");
	ok(access(b, F_OK) != 0, "gone from the backing directory");
	free(m);
	free(b);
}

static uint64_t checksum_fd(int fd, size_t size)
{
	static char buf[1 << 20];
	uint64_t h = 1469598103934665603ULL;
	size_t done = 0;

	while (done < size) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return 0;
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (uint8_t)buf[i]) * 1099511628211ULL;
		done += n;
	}
	return h;
}

static uint64_t checksum(const char *path, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t h = fd < 0 ? 0 : checksum_fd(fd, size);
	close(fd);
	return h;
}

static bool write_pattern(const char *path, size_t size, uint32_t seed)
{
	static uint32_t buf[1 << 18];
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	bool good = fd >= 0;

	for (size_t done = 0; good && done < size; done += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf) / 4; i++)
			buf[i] = seed = seed * 1103515245 + 12345;
		good = write(fd, buf, sizeof(buf)) == sizeof(buf);
	}
	close(fd);
	return good;
}

static void test_big_file(void)
{
	const size_t size = 64u << 20;
	char *m = mpath("big"), *b = bpath("big"), *b2 = bpath("big2"), *m2 = mpath("big2");

	ok(write_pattern(m, size, 1), "write 64 MiB through the mount");
	uint64_t h = checksum(b, size);
	ok(h != 0 && h == checksum(m, size), "same checksum through the mount and the backing");
	ok(write_pattern(b2, size, 2), "write 64 MiB on the backing side");
	h = checksum(b2, size);
	ok(h != 0 && h == checksum(m2, size), "read it back through the mount");
	unlink(b);
	unlink(b2);
	free(m);
	free(b);
	free(m2);
	free(b2);
}

static void test_attributes(void)
{
	char *m = mpath("attrs"), *b = bpath("attrs");
	struct stat sm, sb;
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1100000000, 987654321 } };

	close(open(m, O_CREAT | O_WRONLY, 0666));
	stat(b, &sb);
	is_int(sb.st_mode & 07777, 0644, "the kernel's umask applies, not the server's");
	is_int(chmod(m, 0750), 0, "chmod");
	is_int(chown(m, 1234, 5678), 0, "chown as root");
	is_int(truncate(m, 12345), 0, "truncate");
	is_int(utimensat(AT_FDCWD, m, ts, 0), 0, "utimensat with nanoseconds");
	ok(stat(m, &sm) == 0 && stat(b, &sb) == 0, "stat both sides");
	is_int(sb.st_mode, S_IFREG | 0750, "mode on the backing file");
	ok(sb.st_uid == 1234 && sb.st_gid == 5678, "owner on the backing file");
	ok(sb.st_atim.tv_sec == ts[0].tv_sec && sb.st_atim.tv_nsec == ts[0].tv_nsec, "atime");
	ok(sb.st_mtim.tv_sec == ts[1].tv_sec && sb.st_mtim.tv_nsec == ts[1].tv_nsec, "mtime");
	ok(sm.st_mode == sb.st_mode && sm.st_nlink == sb.st_nlink && sm.st_uid == sb.st_uid &&
	       sm.st_gid == sb.st_gid && sm.st_size == sb.st_size && sm.st_blocks == sb.st_blocks &&
	       sm.st_ino == sb.st_ino,
	   "mode, nlink, owner, size, blocks, inode number are exact");
	ok(sm.st_atim.tv_nsec == sb.st_atim.tv_nsec && sm.st_mtim.tv_nsec == sb.st_mtim.tv_nsec &&
	       sm.st_ctim.tv_sec == sb.st_ctim.tv_sec && sm.st_ctim.tv_nsec == sb.st_ctim.tv_nsec,
	   "timestamps are exact to the nanosecond");
	is_int(sm.st_blksize, sb.st_blksize, "blksize");
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	time_t before = time(NULL);
	is_int(utimensat(AT_FDCWD, m, ts, 0), 0, "utimensat NOW / OMIT");
	stat(b, &sb);
	ok(sb.st_atim.tv_sec >= before && sb.st_mtim.tv_sec == 1100000000, "NOW and OMIT");
	unlink(m);
	free(m);
	free(b);
}

static int create_as_1000(void *arg)
{
	const char *dir = arg;
	char path[4096];

	setfsgid(1000);
	setfsuid(1000);
	umask(0);
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0777);
	snprintf(path, sizeof(path), "%s/d", dir);
	int d = mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	int f = mknod(path, S_IFIFO | 0600, 0);
	snprintf(path, sizeof(path), "%s/l", dir);
	int l = symlink("f", path);
	return fd >= 0 && d == 0 && f == 0 && l == 0 ? 0 : 1;
}

static void test_credentials(void)
{
	char *m = mpath("shared"), *b = bpath("shared");
	struct stat st;

	mkdir(m, 0777);
	chmod(m, 0777);
	is_int(in_child(create_as_1000, m), 0, "uid 1000 creates a file, a dir, a fifo, a link");
	const char *names[] = { "f", "d", "fifo", "l" };
	for (int i = 0; i < 4; i++) {
		char *p = fs_test_path(b, names[i]);
		ok(lstat(p, &st) == 0 && st.st_uid == 1000 && st.st_gid == 1000,
		   "owned by 1000:1000 on the backing side");
		free(p);
	}
	char *f = fs_test_path(b, "f");
	stat(f, &st);
	is_int(st.st_mode & 07777, 0777, "the server's own umask does not mask the mode");
	free(f);
	mkdir(m, 0755);
	free(m);
	free(b);
}

static void test_special_files(void)
{
	char *dev = mpath("null"), *sock = mpath("sock"), *bdev = bpath("null");
	char *a = mpath("wa"), *bwa = bpath("wa"), *wb = mpath("wb");
	struct stat sm, sb;

	is_int(mknod(dev, S_IFCHR | 0600, makedev(1, 3)), -1, "mknod of a character device");
	is_int(errno, EPERM, "is refused with EPERM");
	ok(stat(bdev, &sb) < 0, "nothing on the backing side");
	is_int(mknod(dev, S_IFCHR | 0600, 0), 0, "mknod of a 0:0 whiteout");
	ok(stat(dev, &sm) == 0 && stat(bdev, &sb) == 0, "stat it");
	ok(S_ISCHR(sb.st_mode) && sb.st_rdev == 0, "on the backing side");
	is_int(mknod(sock, S_IFSOCK | 0600, 0), 0, "mknod a socket");
	fs_test_write_file(a, "w", 1);
	is_int(renameat2(AT_FDCWD, a, AT_FDCWD, wb, RENAME_WHITEOUT), 0, "RENAME_WHITEOUT");
	ok(stat(bwa, &sb) == 0 && S_ISCHR(sb.st_mode) && sb.st_rdev == 0, "leaves a whiteout");
	int dfd = open(mnt, O_RDONLY | O_DIRECTORY);
	is_int(fsync(dfd), 0, "fsync of a directory");
	close(dfd);
	unlink(dev);
	unlink(sock);
	unlink(bwa);
	unlink(wb);
	free(dev);
	free(sock);
	free(bdev);
	free(a);
	free(bwa);
	free(wb);
}

static void test_rename_link_symlink(void)
{
	char *a = mpath("ra"), *bb = mpath("rb"), *l = mpath("rl"), *s = mpath("rs");
	struct stat s1, s2;
	char buf[64];

	fs_test_write_file(a, "A", 1);
	fs_test_write_file(bb, "B", 1);
	is_int(renameat2(AT_FDCWD, a, AT_FDCWD, bb, RENAME_NOREPLACE), -1, "RENAME_NOREPLACE");
	is_int(errno, EEXIST, "EEXIST");
	is_int(renameat2(AT_FDCWD, a, AT_FDCWD, bb, RENAME_EXCHANGE), 0, "RENAME_EXCHANGE");
	ok(file_is(a, "B") && file_is(bb, "A"), "contents swapped");
	is_int(rename(a, bb), 0, "rename over");
	ok(access(a, F_OK) != 0 && file_is(bb, "B"), "replaced");
	is_int(link(bb, l), 0, "hard link");
	ok(stat(bb, &s1) == 0 && stat(l, &s2) == 0 && s1.st_ino == s2.st_ino && s1.st_nlink == 2,
	   "same inode, nlink 2");
	is_int(symlink("target/../x", s), 0, "symlink");
	ssize_t n = readlink(s, buf, sizeof(buf));
	ok(n == 11 && memcmp(buf, "target/../x", 11) == 0, "readlink");
	char *bs = bpath("rs");
	n = readlink(bs, buf, sizeof(buf));
	ok(n == 11 && memcmp(buf, "target/../x", 11) == 0, "the backing symlink");
	unlink(bb);
	unlink(l);
	unlink(s);
	free(bs);
	free(a);
	free(bb);
	free(l);
	free(s);
}

static void test_xattrs(void)
{
	char *m = mpath("x"), *b = bpath("x");
	char buf[64];

	fs_test_write_file(m, "x", 1);
	is_int(setxattr(m, "user.krun", "value1", 6, 0), 0, "setxattr");
	is_int(getxattr(m, "user.krun", NULL, 0), 6, "size probe");
	is_int(getxattr(m, "user.krun", buf, 3), -1, "buffer too small");
	is_int(errno, ERANGE, "ERANGE");
	ok(getxattr(b, "user.krun", buf, sizeof(buf)) == 6 && memcmp(buf, "value1", 6) == 0,
	   "on the backing file");
	ssize_t n = listxattr(m, buf, sizeof(buf));
	ok(n > 0 && memmem(buf, n, "user.krun", 10), "listxattr");
	is_int(setxattr(m, "user.krun", "v", 1, XATTR_CREATE), -1, "XATTR_CREATE on existing");
	is_int(removexattr(m, "user.krun"), 0, "removexattr");
	is_int(getxattr(b, "user.krun", buf, sizeof(buf)), -1, "removed on the backing file");
	unlink(m);
	free(m);
	free(b);
}

static void test_sparse(void)
{
	char *m = mpath("sparse");
	int fd = open(m, O_CREAT | O_RDWR, 0644);
	const off_t hole_end = 8 << 20;
	struct stat st;

	is_int(pwrite(fd, "head", 4, 0), 4, "data at 0");
	is_int(pwrite(fd, "tail", 4, hole_end), 4, "data at 8 MiB");
	fsync(fd);
	off_t hole = lseek(fd, 0, SEEK_HOLE);
	ok(hole > 0 && hole < hole_end, "SEEK_HOLE finds the hole");
	is_int(lseek(fd, hole, SEEK_DATA), hole_end, "SEEK_DATA finds the tail");
	is_int(fallocate(fd, FALLOC_FL_KEEP_SIZE, hole_end + 4096, 65536), 0,
	       "fallocate KEEP_SIZE");
	fstat(fd, &st);
	is_int(st.st_size, hole_end + 4, "size kept");
	is_int(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), 0,
	       "punch a hole");
	char buf[4] = "xxxx";
	is_int(pread(fd, buf, 4, 0), 4, "read the hole");
	ok(memcmp(buf, "\0\0\0\0", 4) == 0, "zeros");
	is_int(ftruncate(fd, 100), 0, "ftruncate");
	fstat(fd, &st);
	is_int(st.st_size, 100, "shrunk");
	close(fd);
	unlink(m);
	free(m);
}

static void test_mmap(void)
{
	char *m = mpath("mapped"), *b = bpath("mapped");
	int fd = open(m, O_CREAT | O_RDWR, 0644);
	char buf[16];

	is_int(ftruncate(fd, 8192), 0, "size the file");
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ok(p != MAP_FAILED, "shared writable mmap");
	memcpy(p + 4096, "mmapped!", 8);
	is_int(msync(p, 8192, MS_SYNC), 0, "msync");
	munmap(p, 8192);
	close(fd);
	int bfd = open(b, O_RDONLY);
	ok(pread(bfd, buf, 8, 4096) == 8 && memcmp(buf, "mmapped!", 8) == 0,
	   "written back to the backing file");
	close(bfd);
	/* Writeback of a shared mapping of an O_APPEND file lands where the page is. */
	fd = open(m, O_RDWR | O_APPEND);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ok(p != MAP_FAILED, "shared writable mmap of an O_APPEND file");
	memcpy(p, "appended", 8);
	is_int(msync(p, 8192, MS_SYNC), 0, "msync");
	munmap(p, 8192);
	close(fd);
	bfd = open(b, O_RDONLY);
	struct stat st;
	ok(pread(bfd, buf, 8, 0) == 8 && memcmp(buf, "appended", 8) == 0 && fstat(bfd, &st) == 0 &&
	       st.st_size == 8192,
	   "at its offset, not at the end");
	close(bfd);
	unlink(m);
	free(m);
	free(b);
}

static void test_readdir(void)
{
	char *bd = bpath("many"), *md = mpath("many");
	const int count = 1500;
	int seen = 0, dots = 0;

	mkdir(bd, 0755);
	for (int i = 0; i < count; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s/entry-with-a-longish-name-%04d", bd, i);
		close(open(name, O_CREAT | O_WRONLY, 0644));
	}
	DIR *d = opendir(md);
	struct dirent *de;
	bool *found = calloc(count, sizeof(bool));
	while (d && (de = readdir(d))) {
		int i;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			dots++;
		else if (sscanf(de->d_name, "entry-with-a-longish-name-%d", &i) == 1 && i >= 0 &&
			 i < count && !found[i])
			found[i] = true, seen++;
	}
	closedir(d);
	is_int(seen, count, "every entry listed once");
	is_int(dots, 2, "with . and ..");
	free(found);
	fs_test_rmtree(bd);
	free(bd);
	free(md);
}

static void test_statfs(void)
{
	struct statfs a, b;

	ok(statfs(mnt, &a) == 0 && statfs(backing, &b) == 0, "statfs");
	ok(a.f_blocks == b.f_blocks && a.f_bsize == b.f_bsize && a.f_files == b.f_files &&
	       a.f_namelen == b.f_namelen,
	   "the backing file system's figures");
}

/* ---- locks ---- */

struct lock_child {
	const char *path;
	int ready[2], go[2];
	bool close_other; /* close a second descriptor instead of unlocking */
};

static int hold_lock(void *arg)
{
	struct lock_child *c = arg;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	int fd = open(c->path, O_RDWR);
	char x;

	if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
		return 1;
	if (write(c->ready[1], "r", 1) != 1 || read(c->go[0], &x, 1) != 1)
		return 2;
	usleep(100000); /* the parent is blocked in F_SETLKW by now */
	if (c->close_other) {
		close(open(c->path, O_RDONLY)); /* POSIX: any close drops the locks */
	} else {
		fl.l_type = F_UNLCK;
		fcntl(fd, F_SETLK, &fl);
	}
	usleep(300000); /* the parent got the lock before this process ends */
	return 0;
}

static pid_t start_holder(struct lock_child *c)
{
	char x;

	if (pipe(c->ready) < 0 || pipe(c->go) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0)
		_exit(hold_lock(c));
	if (read(c->ready[0], &x, 1) != 1)
		return -1;
	return pid;
}

static void test_posix_locks(void)
{
	char *m = mpath("locked");
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 5 };
	int status;

	fs_test_write_file(m, "0123456789", 10);
	for (int round = 0; round < 2; round++) {
		struct lock_child c = { .path = m, .close_other = round == 1 };
		pid_t pid = start_holder(&c);
		ok(pid > 0, "a child holds a write lock on [0, 100)");
		int fd = open(m, O_RDWR);
		struct flock probe = fl;
		is_int(fcntl(fd, F_GETLK, &probe), 0, "F_GETLK");
		ok(probe.l_type == F_WRLCK && probe.l_start == 0 && probe.l_len == 100,
		   "reports the child's lock");
		is_int(probe.l_pid, pid, "and the child's pid");
		struct flock try = fl;
		is_int(fcntl(fd, F_SETLK, &try), -1, "F_SETLK conflicts");
		ok(errno == EAGAIN || errno == EACCES, "EAGAIN");
		is_int(write(c.go[1], "g", 1), 1, "let the child go");
		try = fl;
		is_int(fcntl(fd, F_SETLKW, &try), 0,
		       round ? "F_SETLKW waits until the child closes another descriptor"
			     : "F_SETLKW waits until the child unlocks");
		close(fd);
		waitpid(pid, &status, 0);
	}
	/* Locks from different open files of one process (OFD locks) conflict too. */
	int fd1 = open(m, O_RDWR), fd2 = open(m, O_RDWR);
	struct flock ofd = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	is_int(fcntl(fd1, F_OFD_SETLK, &ofd), 0, "OFD lock on one open file");
	is_int(fcntl(fd2, F_OFD_SETLK, &ofd), -1, "conflicts with another open file");
	close(fd1);
	/* Over /dev/fuse the kernel sends RELEASE in the background (virtio-fs sends it
	 * synchronously), so the server may drop the lock a moment after close returns. */
	int ret = -1;
	for (int i = 0; i < 100 && (ret = fcntl(fd2, F_OFD_SETLK, &ofd)) < 0; i++)
		usleep(10000);
	is_int(ret, 0, "free once the first is closed");
	close(fd2);
	free(m);
}

/* A lock held on the host by another process is seen through the mount. */
static void test_host_lock(void)
{
	char *b = bpath("hostlock"), *m = mpath("hostlock");
	struct lock_child c = { .path = b };

	fs_test_write_file(b, "x", 1);
	pid_t pid = start_holder(&c);
	int fd = open(m, O_RDWR);
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_len = 1 };
	is_int(fcntl(fd, F_SETLK, &fl), -1, "a lock held on the host conflicts");
	fl.l_type = F_WRLCK;
	is_int(fcntl(fd, F_GETLK, &fl), 0, "F_GETLK");
	is_int(fl.l_pid, 0, "a host process's pid is not leaked");
	is_int(write(c.go[1], "g", 1), 1, "let the host process go");
	fl.l_type = F_WRLCK;
	is_int(fcntl(fd, F_SETLKW, &fl), 0, "F_SETLKW polls until the host lock goes");
	close(fd);
	waitpid(pid, NULL, 0);
	free(b);
	free(m);
}

static int wait_lock(void *arg)
{
	int fd = open(arg, O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	return fcntl(fd, F_SETLKW, &fl) == 0 ? 0 : 1;
}

/* A process killed while it waits for a lock: the kernel interrupts the request. */
static void test_lock_interrupt(void)
{
	char *m = mpath("locked");
	int fd = open(m, O_RDWR), status;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	is_int(fcntl(fd, F_SETLK, &fl), 0, "lock the whole file");
	pid_t pid = fork();
	if (pid == 0)
		_exit(wait_lock(m));
	usleep(200000);
	kill(pid, SIGKILL);
	alarm(20);
	ok(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status), "the waiter dies at once");
	alarm(0);
	close(fd);
	free(m);
}

struct flock_arg {
	int fd;
	_Atomic int done;
};

static void *flock_wait(void *arg)
{
	struct flock_arg *a = arg;
	flock(a->fd, LOCK_EX);
	a->done = 1;
	return NULL;
}

static void test_flock(void)
{
	char *m = mpath("flocked");
	fs_test_write_file(m, "x", 1);
	int fd1 = open(m, O_RDWR), fd2 = open(m, O_RDWR);
	struct flock_arg a = { .fd = fd2 };
	pthread_t t;

	is_int(flock(fd1, LOCK_EX), 0, "flock LOCK_EX");
	is_int(flock(fd2, LOCK_EX | LOCK_NB), -1, "another open file cannot have it");
	is_int(errno, EWOULDBLOCK, "EWOULDBLOCK");
	is_int(flock(fd2, LOCK_SH | LOCK_NB), -1, "nor a shared one");
	pthread_create(&t, NULL, flock_wait, &a);
	usleep(100000);
	is_int(a.done, 0, "a blocking flock waits");
	is_int(flock(fd1, LOCK_UN), 0, "LOCK_UN");
	pthread_join(t, NULL);
	is_int(a.done, 1, "and then gets it");
	close(fd1);
	close(fd2);
	unlink(m);
	free(m);
}

/* ---- virtual files, exit status, coherence, kill-priv ---- */

static void test_virtual_files(void)
{
	char *m = mpath("init.krun"), *c = mpath(".krun_config.json"), *b = bpath("init.krun");
	struct stat st;
	char buf[256];

	fs_test_write_file(b, "the real one", 12);
	ok(stat(m, &st) == 0, "stat /init.krun");
	is_int(st.st_mode, S_IFREG | 0555, "mode");
	is_int(st.st_size, sizeof(init_data) - 1, "size (it shadows the real file)");
	ok(st.st_uid == 0 && st.st_gid == 0 && st.st_nlink == 1, "owned by root");
	ok(file_is(m, init_data), "contents from memory");
	ok(file_is(c, config_data), "contents read from an fd");
	is_int(open(m, O_WRONLY), -1, "open for writing");
	is_int(errno, EACCES, "EACCES");
	is_int(open(c, O_RDONLY | O_TRUNC), -1, "O_TRUNC");
	is_int(unlink(m), -1, "unlink refused");
	is_int(chmod(m, 0777), -1, "chmod refused");
	DIR *d = opendir(mnt);
	struct dirent *de;
	int listed = 0;
	while (d && (de = readdir(d)))
		listed +=
		    !strcmp(de->d_name, "init.krun") || !strcmp(de->d_name, ".krun_config.json");
	closedir(d);
	is_int(listed, 0, "readdir lists neither");
	ssize_t n = read_all(b, buf, sizeof(buf));
	is_int(n, 12, "the shadowed file is intact");
	unlink(b);
	free(m);
	free(c);
	free(b);
}

static void test_exit_ioctl(void)
{
	int fd = open(mnt, O_RDONLY | O_DIRECTORY);
	char *sub = mpath("ioctl-sub");

	is_int(ioctl(fd, 0x7602, 37), 0, "exit-code ioctl on the root");
	is_int(exit_status, 37, "delivered to exit_status_fn");
	close(fd);
	mkdir(sub, 0755);
	fd = open(sub, O_RDONLY | O_DIRECTORY);
	is_int(ioctl(fd, 0x7602, 5), -1, "not on another directory");
	is_int(errno, ENOTTY, "ENOTTY");
	is_int(exit_status, 37, "unchanged");
	close(fd);
	rmdir(sub);
	free(sub);
}

/* A file changed on the host shows through within the 1 s attribute timeout. */
static void test_host_changes(void)
{
	char *m = mpath("coherent"), *b = bpath("coherent");

	fs_test_write_file(b, "version-1", 9);
	ok(file_is(m, "version-1"), "read through the mount");
	usleep(1100000);
	fs_test_write_file(b, "version-2", 9);
	usleep(1100000);
	ok(file_is(m, "version-2"), "a host-side change is seen after the timeout");
	char *b2 = bpath("coherent-new");
	fs_test_write_file(b2, "new", 3);
	char *m2 = mpath("coherent-new");
	ok(file_is(m2, "new"), "a file created on the host is found at once");
	unlink(b);
	unlink(b2);
	free(m);
	free(b);
	free(m2);
	free(b2);
}

static int write_as_1000(void *path)
{
	if (setgid(1000) < 0 || setuid(1000) < 0)
		return 2;
	int fd = open(path, O_WRONLY);
	return fd >= 0 && write(fd, "x", 1) == 1 ? 0 : 1;
}

static int truncate_as_1000(void *path)
{
	if (setgid(1000) < 0 || setuid(1000) < 0)
		return 2;
	return truncate(path, 1) == 0 ? 0 : 1;
}

static int open_trunc_as_1000(void *path)
{
	if (setgid(1000) < 0 || setuid(1000) < 0)
		return 2;
	return open(path, O_WRONLY | O_TRUNC) >= 0 ? 0 : 1;
}

static void test_kill_suid(void)
{
	char *m = mpath("setuid"), *b = bpath("setuid");
	struct stat st;

	fs_test_write_file(m, "#!", 2);
	chmod(m, 04777);
	int fd = open(m, O_WRONLY);
	is_int(write(fd, "y", 1), 1, "root writes");
	close(fd);
	stat(b, &st);
	is_int(st.st_mode & 07777, 04777, "root (CAP_FSETID) keeps the set-uid bit");
	is_int(in_child(write_as_1000, m), 0, "uid 1000 writes");
	stat(b, &st);
	is_int(st.st_mode & 07777, 0777, "the write cleared the set-uid bit");
	chmod(m, 06777);
	is_int(in_child(truncate_as_1000, m), 0, "uid 1000 truncates");
	stat(b, &st);
	is_int(st.st_mode & 07777, 0777, "the truncate cleared set-uid and set-gid");
	chmod(m, 04777);
	is_int(in_child(open_trunc_as_1000, m), 0, "uid 1000 opens with O_TRUNC");
	stat(b, &st);
	is_int(st.st_mode & 07777, 0777, "the open cleared the set-uid bit");
	unlink(b);
	free(m);
	free(b);
}

/* The same files through a bind mount inside the shared directory are the same inodes. */
static void test_bind_mount(void)
{
	char *dir = bpath("orig"), *bind = bpath("bound"), *f = bpath("orig/f");
	char *m1 = mpath("orig/f"), *m2 = mpath("bound/f");
	struct stat s1, s2;

	mkdir(dir, 0755);
	mkdir(bind, 0755);
	fs_test_write_file(f, "f", 1);
	is_int(mount(dir, bind, NULL, MS_BIND, NULL), 0, "bind mount inside the shared dir");
	ok(stat(m1, &s1) == 0 && stat(m2, &s2) == 0 && s1.st_ino == s2.st_ino &&
	       s1.st_dev == s2.st_dev,
	   "one inode through both paths");
	umount2(bind, MNT_DETACH);
	unlink(f);
	rmdir(dir);
	rmdir(bind);
	free(dir);
	free(bind);
	free(f);
	free(m1);
	free(m2);
}

static void test_copy_file_range(void)
{
	char *a = mpath("cfr-a"), *b = mpath("cfr-b"), *bb = bpath("cfr-b");

	fs_test_write_file(a, "copy me please", 14);
	int in = open(a, O_RDONLY), out = open(b, O_CREAT | O_WRONLY, 0644);
	loff_t off_in = 5, off_out = 0;
	is_int(copy_file_range(in, &off_in, out, &off_out, 100, 0), 9, "copy_file_range");
	close(in);
	close(out);
	ok(file_is(bb, "me please"), "copied on the host");
	unlink(a);
	unlink(b);
	free(a);
	free(b);
	free(bb);
}

int main(void)
{
	alarm(600);
	umask(022);
	setup();
	test_basic_io();
	test_big_file();
	test_attributes();
	test_credentials();
	test_special_files();
	test_rename_link_symlink();
	test_xattrs();
	test_sparse();
	test_mmap();
	test_readdir();
	test_statfs();
	test_posix_locks();
	test_host_lock();
	test_lock_interrupt();
	test_flock();
	test_virtual_files();
	test_exit_ioctl();
	test_host_changes();
	test_kill_suid();
	test_bind_mount();
	test_copy_file_range();
	teardown();
	return tap_done();
}
