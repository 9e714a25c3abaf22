/* The VMM's confinement (src/confine), each step applied in a forked child: the seccomp
 * allow-list kills what a VMM never calls and lets its own calls through; the capabilities
 * kept follow the container's bounding set (no trusted.* xattr without CAP_SYS_ADMIN), and
 * virtio-fs without CAP_SETUID serves with its own ids; the root is empty but for /proc and
 * /dev/null, and the container root's copy keeps its volumes and no way up. The root and
 * capability checks need root. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "confine/confine.h"
#include "devices/fs/server.h"
#include "util/util.h"
#include "tap.h"

static char tmpdir[] = "/dev/shm/confine-test.XXXXXX";

/* Runs fn in a child; returns its wait status. */
static int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int code = fn(arg);

		fflush(stdout);
		_exit(code);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static bool killed_by_sigsys(int status)
{
	return status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static bool exited_0(int status)
{
	if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (status >= 0 && WIFEXITED(status))
		printf("#   child exited %d\n", WEXITSTATUS(status));
	else if (status >= 0 && WIFSIGNALED(status))
		printf("#   child killed by signal %d\n", WTERMSIG(status));
	return false;
}

static int filtered(void)
{
	krun_error_t err = NULL;

	if (confine_seccomp(&err) < 0) {
		printf("#   %s\n", err->msg);
		return 100;
	}
	return 0;
}

/* ---- what the filter kills ---- */

static int do_execve(void *arg)
{
	char *argv[] = { "/bin/true", NULL };

	return filtered() ?: (execve(argv[0], argv, NULL), 1);
}

static int do_ptrace(void *arg)
{
	return filtered() ?: (ptrace(PTRACE_TRACEME, 0, NULL, NULL), 1);
}

static int do_mount(void *arg)
{
	return filtered() ?: (mount("none", "/mnt", "tmpfs", 0, NULL), 1);
}

static int do_random_ioctl(void *arg)
{
	int fd = open("/dev/null", O_RDONLY);

	return filtered() ?: (ioctl(fd, _IOW(0x99, 0x42, int), 0), 1);
}

static int do_kvm_create_vm(void *arg)
{
	int fd = open("/dev/null", O_RDONLY);

	return filtered() ?: (ioctl(fd, KVM_CREATE_VM, 0), 1);
}

static int do_fork(void *arg)
{
	return filtered() ?: (syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) == 0 ? 0 : 1);
}

static int do_exec_mapping(void *arg)
{
	return filtered()
		   ?: (mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		       1);
}

static int do_netlink(void *arg)
{
	return filtered() ?: (socket(AF_NETLINK, SOCK_RAW, 0), 1);
}

static int do_kill_parent(void *arg)
{
	pid_t parent = getppid();

	return filtered() ?: (syscall(SYS_tgkill, parent, parent, 0), 1);
}

static int do_chroot(void *arg)
{
	return filtered() ?: (chroot("/") == 0 ? 1 : 2);
}

static int do_unshare_ns(void *arg)
{
	return filtered() ?: (unshare(CLONE_NEWNS), 1);
}

static void test_kills(void)
{
	static const struct {
		const char *name;
		int (*fn)(void *);
	} cases[] = {
		{ "execve", do_execve },
		{ "ptrace", do_ptrace },
		{ "mount", do_mount },
		{ "an ioctl the VMM never issues", do_random_ioctl },
		{ "KVM_CREATE_VM (only a running VM's KVM ioctls)", do_kvm_create_vm },
		{ "clone without CLONE_THREAD (fork)", do_fork },
		{ "an executable mapping", do_exec_mapping },
		{ "a netlink socket", do_netlink },
		{ "tgkill of another process", do_kill_parent },
		{ "unshare(CLONE_NEWNS)", do_unshare_ns },
		{ "chroot", do_chroot },
	};
	char name[128];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int status = in_child(cases[i].fn, NULL);

		snprintf(name, sizeof(name), "seccomp: %s kills the process (SIGSYS)",
			 cases[i].name);
		if (!ok(killed_by_sigsys(status), name))
			printf("#   wait status 0x%x\n", status);
	}
}

/* ---- what the VMM itself does ---- */

static void *thread_main(void *arg)
{
	char name[16];

	snprintf(name, sizeof(name), "vcpu%d", 0);
	pthread_setname_np(pthread_self(), name);
	return arg;
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("#   failed: %s (%s)\n", #cond, strerror(errno));                   \
			fflush(stdout);                                                            \
			return __LINE__ % 100 + 1;                                                 \
		}                                                                                  \
	} while (0)

static int file_calls(int dir)
{
	struct stat st;
	char buf[64];
	int fd;

	CHECK((fd = openat(dir, "f", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0);
	CHECK(pwrite(fd, "hello", 5, 0) == 5 && pread(fd, buf, 5, 0) == 5);
	CHECK(fstat(fd, &st) == 0 && fstatat(dir, "f", &st, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(fallocate(fd, 0, 0, 8192) == 0 && ftruncate(fd, 10) == 0 && fsync(fd) == 0);
	CHECK(lseek(fd, 0, SEEK_END) == 10 && fchmod(fd, 0640) == 0);
	CHECK(fsetxattr(fd, "user.k", "v", 1, 0) == 0 || errno == EOPNOTSUPP);
	CHECK(mkdirat(dir, "d", 0700) == 0 && symlinkat("f", dir, "l") == 0);
	CHECK(renameat2(dir, "l", dir, "l1", RENAME_NOREPLACE) == 0);
	/* glibc makes this one renameat */
	CHECK(renameat2(dir, "l1", dir, "l2", 0) == 0);
	CHECK(linkat(dir, "f", dir, "h", 0) == 0 && unlinkat(dir, "h", 0) == 0);
	CHECK(fchownat(dir, "f", getuid(), getgid(), 0) == 0);
	CHECK(readlinkat(dir, "l2", buf, sizeof(buf)) == 1);
	CHECK(flock(fd, LOCK_EX) == 0 && flock(fd, LOCK_UN) == 0);
	CHECK(fchdir(dir) == 0 && unshare(CLONE_FS) == 0);
	setfsuid(getuid());
	setfsgid(getgid());
	close(fd);
	return 0;
}

static int event_calls(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct itimerspec its = { .it_value.tv_nsec = 1000 };
	uint64_t v = 1;
	int ep, efd, tfd;

	CHECK((ep = epoll_create1(EPOLL_CLOEXEC)) >= 0);
	CHECK((efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0);
	CHECK((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) >= 0);
	CHECK(timerfd_settime(tfd, 0, &its, NULL) == 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
	CHECK(write(efd, &v, sizeof(v)) == sizeof(v));
	CHECK(epoll_wait(ep, &ev, 1, 1000) == 1 && read(efd, &v, sizeof(v)) == sizeof(v));
	close(ep);
	close(efd);
	close(tfd);
	return 0;
}

static int socket_calls(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sin);
	int sv[2], s, one = 1;
	char c = 'x';

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(send(sv[0], &c, 1, MSG_NOSIGNAL) == 1 && recv(sv[1], &c, 1, 0) == 1);
	CHECK(shutdown(sv[0], SHUT_WR) == 0);
	CHECK((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) >= 0);
	CHECK(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
	CHECK(bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(s, 1) == 0);
	CHECK(getsockname(s, (struct sockaddr *)&sin, &len) == 0);
	CHECK(accept4(s, NULL, NULL, SOCK_CLOEXEC) < 0 && errno == EAGAIN);
	close(s);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static int do_vmm_calls(void *arg)
{
	int dir = open(arg, O_PATH | O_DIRECTORY | O_CLOEXEC), null = open("/dev/null", O_RDONLY);
	struct kvm_regs regs;
	pthread_t t;
	char buf[16];
	void *p;
	int ret;

	if ((ret = filtered()))
		return ret;
	CHECK(dir >= 0 && (ret = file_calls(dir)) == 0);
	CHECK((ret = event_calls()) == 0 && (ret = socket_calls()) == 0);
	CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0 && pthread_join(t, NULL) == 0);
	CHECK((p = malloc(8 << 20)) != NULL);
	free(p);
	CHECK(getrandom(buf, sizeof(buf), 0) == sizeof(buf));
	CHECK(pthread_kill(pthread_self(), 0) == 0);
	/* A KVM request on something else than a vCPU: refused by the kernel, not killed. */
	CHECK(ioctl(null, KVM_GET_REGS, &regs) < 0 && errno == ENOTTY);
	return 0;
}

static int do_status(void *arg)
{
	char buf[4096];
	ssize_t n;
	int fd, ret;

	if ((ret = filtered()))
		return ret;
	CHECK((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) >= 0);
	CHECK((n = read(fd, buf, sizeof(buf) - 1)) > 0);
	buf[n] = 0;
	CHECK(strstr(buf, "\nSeccomp:\t2\n") && strstr(buf, "\nNoNewPrivs:\t1\n"));
	return 0;
}

static void test_allows(void)
{
	ok(exited_0(in_child(do_vmm_calls, tmpdir)),
	   "seccomp: the VMM's own calls go through (files, epoll, eventfd, timerfd, a thread, "
	   "sockets, KVM_GET_REGS)");
	ok(exited_0(in_child(do_status, NULL)), "seccomp: mode 2 (filter) and no_new_privs set");
}

/* ---- capabilities ---- */

static void test_cap_sets(void)
{
	static const char *const names[] = { "CAP_CHOWN", "cap_sys_admin", "CAP_NO_SUCH_THING" };
	confine_caps_t all = confine_caps_all();
	confine_caps_t no_admin = all & ~CONFINE_CAP(CAP_SYS_ADMIN);

	is_int(confine_caps_from_names(names, 3),
	       CONFINE_CAP(CAP_CHOWN) | CONFINE_CAP(CAP_SYS_ADMIN),
	       "caps: config.json names, any case, unknown ones left out");
	ok(confine_caps_kept(all) & CONFINE_CAP(CAP_SYS_ADMIN),
	   "caps: every capability in the bounding set: SYS_ADMIN kept (trusted.* xattrs)");
	ok(!(confine_caps_kept(no_admin) & CONFINE_CAP(CAP_SYS_ADMIN)),
	   "caps: a bounding set without SYS_ADMIN: not kept");
	ok(!(confine_caps_kept(all) & (CONFINE_CAP(CAP_SYS_PTRACE) | CONFINE_CAP(CAP_SYS_MODULE) |
				       CONFINE_CAP(CAP_NET_ADMIN) | CONFINE_CAP(CAP_SETPCAP) |
				       CONFINE_CAP(CAP_KILL) | CONFINE_CAP(CAP_SYS_CHROOT))),
	   "caps: nothing the VMM does not use, whatever the bounding set");
	is_int(confine_caps_kept(CONFINE_CAP(CAP_NET_BIND_SERVICE) | CONFINE_CAP(CAP_SYS_PTRACE)),
	       CONFINE_CAP(CAP_NET_BIND_SERVICE), "caps: the intersection of both");
}

/* docs/confinement.md's table has one row per capability of confine_cap_uses, no more. */
static void test_doc_table(void)
{
	cleanup_free char *doc = NULL;
	size_t len, rows = 0, found = 0;
	char row[64];

	if (read_file_at(AT_FDCWD, KRUN_TOP_SRCDIR "/docs/confinement.md", 1 << 20, &doc, &len) <
	    0) {
		ok(0, "docs/confinement.md is readable");
		return;
	}
	for (const char *p = doc; (p = strstr(p, "\n| `CAP_")); p++)
		rows++;
	for (size_t i = 0; i < confine_n_cap_uses; i++) {
		char *name = cap_to_name(confine_cap_uses[i].cap);

		for (char *c = name; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		snprintf(row, sizeof(row), "\n| `%s` | ", name);
		found += strstr(doc, row) != NULL;
		cap_free(name);
	}
	ok(rows == confine_n_cap_uses && found == rows,
	   "docs/confinement.md's table lists the capabilities the VMM keeps, and only those");
}

static confine_caps_t status_mask(const char *status, const char *key)
{
	const char *p = strstr(status, key);

	return p ? strtoull(p + strlen(key), NULL, 16) : ~(confine_caps_t)0;
}

/* The child keeps what kept() says of the bounding set in arg, then sets trusted.a on a
 * root-owned file: exit 0 when allowed, 10 on EPERM. */
static int do_caps(void *arg)
{
	confine_caps_t keep = confine_caps_kept(*(confine_caps_t *)arg);
	krun_error_t err = NULL;
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/owned-by-root", tmpdir);
	CHECK((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) >= 0);
	if (confine_caps(keep, &err) < 0) {
		printf("#   %s\n", err->msg);
		return 100;
	}
	CHECK((n = read(fd, buf, sizeof(buf) - 1)) > 0);
	buf[n] = 0;
	CHECK(status_mask(buf, "CapEff:\t") == keep && status_mask(buf, "CapPrm:\t") == keep);
	CHECK(status_mask(buf, "CapBnd:\t") == keep && status_mask(buf, "CapInh:\t") == 0);
	CHECK(status_mask(buf, "CapAmb:\t") == 0);
	if (setxattr(path, "trusted.a", "b", 1, 0) == 0)
		return 0;
	return errno == EPERM ? 10 : 11;
}

static void test_caps(void)
{
	confine_caps_t all = confine_caps_all();
	confine_caps_t no_admin = all & ~CONFINE_CAP(CAP_SYS_ADMIN);
	char path[64];
	int status;

	snprintf(path, sizeof(path), "%s/owned-by-root", tmpdir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	ok(exited_0(in_child(do_caps, &all)),
	   "caps: with SYS_ADMIN in the bounding set, the sets are the kept ones and trusted.* "
	   "xattrs can be set");
	status = in_child(do_caps, &no_admin);
	if (!ok(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 10,
		"caps: without it, setting trusted.a on a root-owned file fails with EPERM"))
		printf("#   wait status 0x%x\n", status);
}

/* ---- virtio-fs without CAP_SETUID/CAP_SETGID ---- */

static int fuse_req(struct fs_server *srv, uint32_t op, uint64_t nodeid, uint32_t uid,
		    const void *a, size_t alen, const char *name, struct fuse_entry_out *out)
{
	_Alignas(8) uint8_t buf[512], rsp[4096];
	struct fuse_in_header h = {
		.opcode = op, .unique = 1, .nodeid = nodeid, .uid = uid, .gid = uid
	};
	size_t nlen = name ? strlen(name) + 1 : 0, len = sizeof(h) + alen + nlen;
	struct iovec in = { buf, len }, o = { rsp, sizeof(rsp) };
	struct fs_msg mi = { &in, 1, len }, mo = { &o, 1, sizeof(rsp) };

	h.len = len;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), a, alen);
	if (name)
		memcpy(buf + sizeof(h) + alen, name, nlen);
	if (fs_server_handle(srv, &mi, &mo, NULL) < (long)sizeof(struct fuse_out_header))
		return -9999;
	if (out)
		memcpy(out, rsp + sizeof(struct fuse_out_header), sizeof(*out));
	return ((struct fuse_out_header *)rsp)->error;
}

/* Guest uid 1000 makes a directory in a 1777 one: exit 0 when it was made, with the owner
 * printed on fd 3 as the exit code 10 + uid / 1000 (10: root, 11: uid 1000). */
static int do_fs_mkdir(void *arg)
{
	confine_caps_t keep = confine_caps_kept(*(confine_caps_t *)arg);
	struct virtio_fs_config cfg = { .tag = "t", .root_path = tmpdir };
	struct fuse_init_in init = { .major = 7, .minor = 31 };
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct fuse_entry_out e;
	struct fs_server *srv;
	krun_error_t err = NULL;
	int ret;

	if (confine_caps(keep, &err) < 0 || fs_server_new(&cfg, NULL, NULL, &srv, &err) < 0 ||
	    fs_server_thread_init(srv, &err) < 0) {
		printf("#   %s\n", err->msg);
		return 100;
	}
	CHECK(fuse_req(srv, FUSE_INIT, 0, 0, &init, sizeof(init), NULL, NULL) == 0);
	CHECK(fuse_req(srv, FUSE_LOOKUP, FUSE_ROOT_ID, 0, "", 0, "shared", &e) == 0);
	ret = fuse_req(srv, FUSE_MKDIR, e.nodeid, 1000, &mk, sizeof(mk), "by-user", &e);
	if (ret < 0) {
		printf("#   MKDIR as uid 1000: %s\n", strerror(-ret));
		return 50;
	}
	return 10 + e.attr.uid / 1000;
}

static void test_fs_ids(void)
{
	confine_caps_t all = confine_caps_all();
	confine_caps_t no_ids = all & ~(CONFINE_CAP(CAP_SETUID) | CONFINE_CAP(CAP_SETGID));
	char path[64];
	int status;

	snprintf(path, sizeof(path), "%s/shared", tmpdir);
	mkdir(path, 0777);
	chmod(path, 01777);
	status = in_child(do_fs_mkdir, &all);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 11,
	       "virtio-fs with CAP_SETUID/SETGID: a guest user's new directory is the user's");
	strcat(path, "/by-user");
	rmdir(path);
	status = in_child(do_fs_mkdir, &no_ids);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 10,
	       "virtio-fs without them: it is still made, owned by the VMM's user");
}

/* ---- virtio-fs under the filter ---- */

static _Alignas(8) uint8_t fs_rsp[1 << 16];

/* One request made of pieces (NULL-terminated pairs of pointer and length); returns the
 * reply's error, the payload in fs_rsp after the header. */
static int fs_op(struct fs_server *srv, uint32_t op, uint64_t nodeid, ...)
{
	_Alignas(8) uint8_t buf[4096];
	struct fuse_in_header h = { .opcode = op, .unique = 7, .nodeid = nodeid };
	size_t len = sizeof(h);
	va_list ap;

	va_start(ap, nodeid);
	for (const void *p; (p = va_arg(ap, const void *));) {
		size_t n = va_arg(ap, size_t);

		memcpy(buf + len, p, n);
		len += n;
	}
	va_end(ap);
	h.len = len;
	memcpy(buf, &h, sizeof(h));
	struct iovec in = { buf, len }, o = { fs_rsp, sizeof(fs_rsp) };
	struct fs_msg mi = { &in, 1, len }, mo = { &o, 1, sizeof(fs_rsp) };
	if (fs_server_handle(srv, &mi, &mo, NULL) < (long)sizeof(struct fuse_out_header))
		return -9999;
	return ((struct fuse_out_header *)fs_rsp)->error;
}

#define FS_OUT(type) ((type *)(fs_rsp + sizeof(struct fuse_out_header)))
#define NAME(s)	     (s), sizeof(s)
#define ARG(v)	     &(v), sizeof(v)
#define FS(...)                                                                                    \
	do {                                                                                       \
		int _e = fs_op(srv, __VA_ARGS__, NULL);                                            \
		if (_e < 0) {                                                                      \
			printf("#   failed: fs_op(%s): %s\n", #__VA_ARGS__, strerror(-_e));        \
			return __LINE__ % 100 + 1;                                                 \
		}                                                                                  \
	} while (0)

static int fs_files(struct fs_server *srv, uint64_t d)
{
	struct fuse_create_in cr = { .flags = O_RDWR | O_CREAT, .mode = S_IFREG | 0644 };
	struct fuse_write_in wr = { .size = 5 };
	struct fuse_read_in rd = { .size = 5 };
	struct fuse_setattr_in sa = { .valid = FATTR_MODE | FATTR_SIZE | FATTR_MTIME | FATTR_ATIME,
				      .mode = S_IFREG | 0600,
				      .size = 3 };
	struct fuse_fallocate_in fa = { .length = 8192 };
	struct fuse_lseek_in ls = { .whence = SEEK_DATA };
	struct fuse_fsync_in fs = { 0 };
	struct fuse_copy_file_range_in cp = { .len = 3 };
	struct fuse_lk_in lk = { .owner = 1, .lk = { .end = 10, .type = F_WRLCK, .pid = 1 } };
	struct fuse_release_in rel = { 0 };
	struct fuse_flush_in fl = { .lock_owner = 1 };
	uint64_t f, f2, fh, fh2;

	FS(FUSE_CREATE, d, ARG(cr), NAME("file"));
	f = FS_OUT(struct fuse_entry_out)->nodeid;
	fh = ((struct fuse_open_out *)(FS_OUT(struct fuse_entry_out) + 1))->fh;
	FS(FUSE_CREATE, d, ARG(cr), NAME("file2"));
	f2 = FS_OUT(struct fuse_entry_out)->nodeid;
	fh2 = ((struct fuse_open_out *)(FS_OUT(struct fuse_entry_out) + 1))->fh;
	wr.fh = rd.fh = sa.fh = fa.fh = ls.fh = fs.fh = lk.fh = rel.fh = fl.fh = cp.fh_in = fh;
	cp.fh_out = fh2;
	cp.nodeid_out = f2;
	FS(FUSE_WRITE, f, ARG(wr), "hello", (size_t)5);
	FS(FUSE_READ, f, ARG(rd));
	FS(FUSE_FALLOCATE, f, ARG(fa));
	FS(FUSE_LSEEK, f, ARG(ls));
	FS(FUSE_COPY_FILE_RANGE, f, ARG(cp));
	FS(FUSE_SETATTR, f, ARG(sa));
	FS(FUSE_FSYNC, f, ARG(fs));
	FS(FUSE_GETATTR, f, ARG((struct fuse_getattr_in){ 0 }));
	FS(FUSE_SETLK, f, ARG(lk));
	FS(FUSE_GETLK, f, ARG(lk));
	lk.lk_flags = FUSE_LK_FLOCK;
	FS(FUSE_SETLK, f, ARG(lk));
	FS(FUSE_FLUSH, f, ARG(fl));
	FS(FUSE_RELEASE, f, ARG(rel));
	rel.fh = fh2;
	FS(FUSE_RELEASE, f2, ARG(rel));
	return 0;
}

static int fs_names(struct fs_server *srv, uint64_t d)
{
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct fuse_mknod_in mn = { .mode = S_IFIFO | 0644 };
	struct fuse_setxattr_in sx = { .size = 1 };
	struct fuse_getxattr_in gx = { .size = 64 };
	struct fuse_rename2_in rn = { .newdir = d, .flags = RENAME_NOREPLACE };
	struct fuse_rename_in rn0 = { .newdir = d };
	struct fuse_access_in ac = { .mask = R_OK };
	struct fuse_open_in od = { .flags = O_RDONLY | O_DIRECTORY };
	struct fuse_read_in rd = { .size = 4096 };
	struct fuse_link_in ln;
	uint64_t f;

	FS(FUSE_LOOKUP, d, NAME("file"));
	f = FS_OUT(struct fuse_entry_out)->nodeid;
	ln.oldnodeid = f;
	FS(FUSE_MKDIR, d, ARG(mk), NAME("sub"));
	FS(FUSE_MKNOD, d, ARG(mn), NAME("fifo"));
	FS(FUSE_SYMLINK, d, NAME("link"), NAME("file"));
	FS(FUSE_READLINK, FS_OUT(struct fuse_entry_out)->nodeid);
	FS(FUSE_LINK, d, ARG(ln), NAME("hard"));
	FS(FUSE_RENAME, d, ARG(rn0), NAME("hard"), NAME("hard1"));
	FS(FUSE_RENAME2, d, ARG(rn), NAME("hard1"), NAME("hard2"));
	FS(FUSE_SETXATTR, f, &sx, (size_t)FUSE_COMPAT_SETXATTR_IN_SIZE, NAME("user.k"), "v",
	   (size_t)1);
	FS(FUSE_GETXATTR, f, ARG(gx), NAME("user.k"));
	FS(FUSE_LISTXATTR, f, ARG(gx));
	FS(FUSE_REMOVEXATTR, f, NAME("user.k"));
	FS(FUSE_ACCESS, d, ARG(ac));
	FS(FUSE_STATFS, d, "", (size_t)0);
	FS(FUSE_OPENDIR, d, ARG(od));
	rd.fh = FS_OUT(struct fuse_open_out)->fh;
	FS(FUSE_READDIRPLUS, d, ARG(rd));
	FS(FUSE_READDIR, d, ARG(rd));
	FS(FUSE_RELEASEDIR, d, ARG((struct fuse_release_in){ .fh = rd.fh }));
	FS(FUSE_UNLINK, d, NAME("hard2"));
	FS(FUSE_RMDIR, d, NAME("sub"));
	return 0;
}

/* The guest's root drives the server through most of FUSE, on a thread prepared after the
 * filter as the VMM's workers are. */
static int do_fs_ops(void *arg)
{
	struct virtio_fs_config cfg = { .tag = "t", .root_path = arg };
	struct fuse_init_in init = { .major = 7, .minor = 31, .flags = 0xffffffff };
	struct fs_server *srv;
	krun_error_t err = NULL;
	int ret;

	if (fs_server_new(&cfg, NULL, NULL, &srv, &err) < 0 || (ret = filtered()) ||
	    fs_server_thread_init(srv, &err) < 0) {
		printf("#   %s\n", err ? err->msg : "filter");
		return 100;
	}
	FS(FUSE_INIT, 0, &init, (size_t)16);
	return fs_files(srv, FUSE_ROOT_ID) ?: fs_names(srv, FUSE_ROOT_ID);
}

static void test_fs_ops(void)
{
	char dir[64];

	snprintf(dir, sizeof(dir), "%s/fsops", tmpdir);
	mkdir(dir, 0755);
	ok(exited_0(in_child(do_fs_ops, dir)),
	   "seccomp: virtio-fs serves files, names, xattrs, locks and directories under the "
	   "filter");
}

/* ---- the root ---- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* As podman --uidmap leaves the VMM: root of a user namespace that does not own the pid
 * namespace, so that no new proc can be mounted. */
static int enter_user_namespace(void)
{
	CHECK(unshare(CLONE_NEWUSER) == 0);
	CHECK(write_file("/proc/self/setgroups", "deny") == 0);
	CHECK(write_file("/proc/self/uid_map", "0 0 1") == 0);
	CHECK(write_file("/proc/self/gid_map", "0 0 1") == 0);
	return 0;
}

/* The container root's fd, still open, is refused by name, also behind more fds than one
 * getdents64 call returns; once it is closed (here) the check passes. */
static int check_directory_fds(int root, int tree)
{
	krun_error_t err = NULL;
	char expect[80];
	int fds[400], late;

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		CHECK((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	CHECK(confine_no_directory_fds(tree, &err) == -EBADF);
	snprintf(expect, sizeof(expect), "holds fd %d, a directory", root);
	CHECK(strstr(err->msg, expect) != NULL);
	krun_error_release(&err);
	CHECK((late = fcntl(root, F_DUPFD_CLOEXEC, fds[ARRAY_SIZE(fds) - 1])) >= 0);
	close(root);
	CHECK(confine_no_directory_fds(tree, &err) == -EBADF);
	snprintf(expect, sizeof(expect), "holds fd %d, a directory", late);
	CHECK(strstr(err->msg, expect) != NULL);
	krun_error_release(&err);
	close(late);
	CHECK(confine_no_directory_fds(tree, &err) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	return 0;
}

/* tmpdir/vol is a mount of its own, as a volume beneath the container root would be. */
static int do_root(void *arg)
{
	krun_error_t err = NULL;
	char vol[64];
	struct stat st, top;
	int root, tree, fd, n = 0;
	DIR *d;

	snprintf(vol, sizeof(vol), "%s/vol", tmpdir);
	CHECK(unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	CHECK((mkdir(vol, 0755) == 0 || errno == EEXIST) &&
	      mount("vol", vol, "tmpfs", 0, NULL) == 0);
	CHECK((fd = open(strcat(vol, "/in-volume"), O_WRONLY | O_CREAT, 0644)) >= 0);
	close(fd);
	CHECK((root = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0);
	if (*(bool *)arg)
		CHECK(enter_user_namespace() == 0);
	if (confine_root(root, &tree, &err) < 0) {
		printf("#   %s\n", err->msg);
		return 100;
	}
	CHECK(check_directory_fds(root, tree) == 0);
	CHECK(open("/etc/passwd", O_RDONLY) < 0 && errno == ENOENT);
	CHECK(stat(tmpdir, &st) < 0 && errno == ENOENT);
	CHECK((d = opendir("/")) != NULL);
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n += !strcmp(e->d_name, "proc") || !strcmp(e->d_name, "dev") ? 1 : 100;
	closedir(d);
	CHECK(n == 2);
	CHECK(mkdir("/new", 0755) < 0 && errno == EROFS);
	CHECK(stat("/", &top) == 0 && stat("/../..", &st) == 0);
	CHECK(st.st_dev == top.st_dev && st.st_ino == top.st_ino);
	CHECK((fd = open("/dev/null", O_RDWR)) >= 0 && read(fd, vol, 1) == 0);
	close(fd);
	/* The container root's copy: the volume beneath it, and ".." going nowhere. */
	CHECK(fstatat(tree, "vol/in-volume", &st, 0) == 0);
	CHECK(fstat(tree, &top) == 0 && fstatat(tree, "../..", &st, 0) == 0);
	CHECK(st.st_dev == top.st_dev && st.st_ino == top.st_ino);
	snprintf(vol, sizeof(vol), "/proc/self/fd/%d/vol/in-volume", tree);
	CHECK(stat(vol, &st) == 0);
	/* A proc of its own shows processes only: no /proc/sys, no sysrq-trigger, which the
	 * host's uid 0 could write; the one bound under a user namespace shows everything. */
	CHECK(*(bool *)arg || (stat("/proc/sys", &st) < 0 && errno == ENOENT &&
			       stat("/proc/sysrq-trigger", &st) < 0 && errno == ENOENT));
	return 0;
}

static void test_root(void)
{
	bool userns = false;

	ok(exited_0(in_child(do_root, &userns)),
	   "root: only /proc and /dev/null, read-only; the container root's copy keeps the "
	   "mounts beneath it and \"..\" stops at its top");
	userns = true;
	ok(exited_0(in_child(do_root, &userns)),
	   "root: the same in a user namespace that does not own the pid namespace (/proc bound)");
}

/* ---- all of it ---- */

static int do_apply(void *arg)
{
	struct confine_config cfg = { .bounding =
					  confine_caps_all() & ~CONFINE_CAP(CAP_SYS_ADMIN) };
	krun_error_t err = NULL;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "%s/owned-by-root", tmpdir);
	CHECK((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	if (confine_apply(&cfg, &err) < 0) {
		printf("#   %s\n", err->msg);
		return 100;
	}
	CHECK(fsetxattr(fd, "trusted.a", "b", 1, 0) < 0 && errno == EPERM);
	CHECK(fsetxattr(fd, "user.a", "b", 1, 0) == 0);
	return 0;
}

static void test_apply(void)
{
	ok(exited_0(in_child(do_apply, NULL)),
	   "confine_apply: no SYS_ADMIN in the bounding set, no trusted.* xattr (EPERM), "
	   "user.* still set");
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void remove_tmpdir(void)
{
	nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_kills();
	test_allows();
	test_fs_ops();
	test_cap_sets();
	test_doc_table();
	if (geteuid() == 0) {
		test_caps();
		test_fs_ids();
		test_root();
		test_apply();
	} else {
		printf("ok - # SKIP capabilities and root: not root\n");
	}
	remove_tmpdir();
	return tap_done();
}
