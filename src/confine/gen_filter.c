/* Builds the VMM's seccomp allow-list with libseccomp at build time and prints it as C
 * (src/confine/filter_bpf.c): libseccomp takes over a millisecond to build a filter of this
 * size in a fresh process, the whole set-up budget, while loading a ready program costs one
 * system call. The one value known only at run time, the process' own tgid for tgkill, is a
 * placeholder that seccomp.c patches.
 *
 * The list comes from what the VMM's threads call once the guest runs (vCPU threads, the
 * event loop, the virtio-fs workers, TSI) and what glibc calls for them; anything else
 * kills the whole process (a thread killed alone would leave a VM half served). Arguments
 * are checked where the call would otherwise reach past the VMM: ioctl takes only the KVM
 * and terminal requests the VMM issues, clone only makes threads, unshare only CLONE_FS,
 * tgkill only this process, socket only the families TSI proxies, and no mapping becomes
 * executable. A call missing here shows as the VMM dying of SIGSYS, with the call's number
 * in the kernel log (audit type 1326). */
#include "filter.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const int allowed[] = {
	/* memory, threads and their exit (glibc's malloc and pthreads) */
	SCMP_SYS(brk),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	SCMP_SYS(futex),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(restart_syscall),
	/* signals: the vCPU kick, the signalfd of the workload's signals */
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(signalfd4),
	/* time, when the vDSO falls back to the kernel */
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep),
	/* the event loop, ioeventfds and irqfds */
	SCMP_SYS(epoll_create1),
	SCMP_SYS(epoll_ctl),
	SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_pwait2),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(eventfd2),
	SCMP_SYS(timerfd_create),
	SCMP_SYS(timerfd_settime),
	SCMP_SYS(timerfd_gettime),
	SCMP_SYS(pipe2),
	/* descriptors and their I/O (console, vsock, virtio-fs) */
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(preadv),
	SCMP_SYS(pwritev),
	SCMP_SYS(preadv2),
	SCMP_SYS(pwritev2),
	SCMP_SYS(lseek),
	SCMP_SYS(close),
	SCMP_SYS(dup),
	SCMP_SYS(fcntl),
	SCMP_SYS(getrandom), /* virtio-rng */
	/* virtio-fs: everything relative to fds it holds (openat2 keeps lookups beneath the
	 * root), xattrs by "N" relative to its /proc/self/fd working directory */
	SCMP_SYS(openat),
	SCMP_SYS(openat2),
	SCMP_SYS(newfstatat),
	SCMP_SYS(fstat),
	SCMP_SYS(statx),
	SCMP_SYS(fstatfs),
	SCMP_SYS(getdents64),
	SCMP_SYS(readlinkat),
	SCMP_SYS(mkdirat),
	SCMP_SYS(mknodat),
	SCMP_SYS(symlinkat),
	SCMP_SYS(linkat),
	SCMP_SYS(unlinkat),
	SCMP_SYS(renameat), /* glibc's renameat2 without flags */
	SCMP_SYS(renameat2),
	SCMP_SYS(fchownat),
	SCMP_SYS(fchown),
	SCMP_SYS(fchmodat),
	SCMP_SYS(fchmod),
	SCMP_SYS(utimensat),
	SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2),
	SCMP_SYS(fallocate),
	SCMP_SYS(ftruncate),
	SCMP_SYS(fsync),
	SCMP_SYS(fdatasync),
	SCMP_SYS(copy_file_range),
	SCMP_SYS(flock),
	SCMP_SYS(getxattr),
	SCMP_SYS(lgetxattr),
	SCMP_SYS(fgetxattr),
	SCMP_SYS(setxattr),
	SCMP_SYS(lsetxattr),
	SCMP_SYS(fsetxattr),
	SCMP_SYS(listxattr),
	SCMP_SYS(llistxattr),
	SCMP_SYS(flistxattr),
	SCMP_SYS(removexattr),
	SCMP_SYS(lremovexattr),
	SCMP_SYS(fremovexattr),
	SCMP_SYS(fchdir),
	SCMP_SYS(umask),
	SCMP_SYS(capget),
	SCMP_SYS(capset), /* only lowers: CAP_SETPCAP is gone */
	/* the guest caller's ids: virtio-fs per thread, TSI's AF_UNIX connects and binds */
	SCMP_SYS(setfsuid),
	SCMP_SYS(setfsgid),
	SCMP_SYS(setresuid),
	SCMP_SYS(setresgid),
	SCMP_SYS(setgroups),
	SCMP_SYS(getuid),
	SCMP_SYS(geteuid),
	SCMP_SYS(getgid),
	SCMP_SYS(getegid),
	SCMP_SYS(getresuid),
	SCMP_SYS(getresgid),
	SCMP_SYS(getgroups),
	/* TSI: the guest's sockets, opened on the host */
	SCMP_SYS(connect),
	SCMP_SYS(bind),
	SCMP_SYS(listen),
	SCMP_SYS(accept),
	SCMP_SYS(accept4),
	SCMP_SYS(getsockname),
	SCMP_SYS(getpeername),
	SCMP_SYS(setsockopt),
	SCMP_SYS(getsockopt),
	SCMP_SYS(sendto),
	SCMP_SYS(recvfrom),
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg),
	SCMP_SYS(shutdown),
};

/* The KVM requests of a running VM (vm_start, the vCPU loop, devices wiring eventfds),
 * none that makes a VM or a vCPU; and the terminal's (console resize and restore). */
static const unsigned long ioctls[] = {
	KVM_RUN,       KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_SET_FPU,
	KVM_IOEVENTFD, KVM_IRQFD,    TCGETS,	   TCSETS,	  TIOCGWINSZ,
};

static const int socket_families[] = { AF_UNIX, AF_INET, AF_INET6 };

/* CLONE_THREAD and none of the namespace flags: pthread_create, nothing else. */
#define CLONE_NS_FLAGS                                                                             \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP)

static int add(scmp_filter_ctx ctx, int nr, unsigned n, const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);
}

static int add_checked(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp no_exec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	struct scmp_arg_cmp thread =
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_NS_FLAGS, CLONE_THREAD);
	struct scmp_arg_cmp c;
	int ret = 0;

	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]) && !ret; i++) {
		c = SCMP_A1(SCMP_CMP_EQ, ioctls[i]);
		ret = add(ctx, SCMP_SYS(ioctl), 1, &c);
	}
	for (size_t i = 0; i < sizeof(socket_families) / sizeof(socket_families[0]) && !ret; i++) {
		c = SCMP_A0(SCMP_CMP_EQ, socket_families[i]);
		ret = add(ctx, SCMP_SYS(socket), 1, &c);
	}
	c = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	ret = ret ?: add(ctx, SCMP_SYS(socketpair), 1, &c);
	c = SCMP_A0(SCMP_CMP_EQ, CONFINE_TGID_PLACEHOLDER);
	ret = ret ?: add(ctx, SCMP_SYS(tgkill), 1, &c);
	c = SCMP_A0(SCMP_CMP_EQ, CLONE_FS);
	ret = ret ?: add(ctx, SCMP_SYS(unshare), 1, &c);
	c = SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME);
	ret = ret ?: add(ctx, SCMP_SYS(prctl), 1, &c);
	ret = ret ?: add(ctx, SCMP_SYS(mmap), 1, &no_exec);
	ret = ret ?: add(ctx, SCMP_SYS(mprotect), 1, &no_exec);
	ret = ret ?: add(ctx, SCMP_SYS(clone), 1, &thread);
	/* clone3's flags sit in memory the filter cannot read: glibc falls back to clone. */
	ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	return ret;
}

static int build(scmp_filter_ctx ctx)
{
	int ret = 0;

	/* The binary tree keeps KVM_RUN's path through the filter short. */
	ret = ret ?: seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	ret = ret ?: seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && !ret; i++)
		ret = add(ctx, allowed[i], 0, NULL);
	return ret ?: add_checked(ctx);
}

static int export(scmp_filter_ctx ctx, struct sock_filter **insns, size_t *n)
{
	FILE *f = tmpfile();
	long size;

	if (!f || seccomp_export_bpf(ctx, fileno(f)) < 0 || fseek(f, 0, SEEK_END) < 0 ||
	    (size = ftell(f)) <= 0 || size % sizeof(**insns) || fseek(f, 0, SEEK_SET) < 0)
		return -1;
	*n = size / sizeof(**insns);
	*insns = malloc(size);
	return *insns && fread(*insns, sizeof(**insns), *n, f) == *n ? 0 : -1;
}

int main(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	struct sock_filter *insns;
	size_t n, placeholders = 0;

	if (!ctx || build(ctx) < 0 || export(ctx, &insns, &n) < 0) {
		fprintf(stderr, "gen-filter: libseccomp could not build the filter\n");
		return 1;
	}
	printf("/* Generated by src/confine/gen-filter: the VMM's seccomp allow-list. */\n"
	       "#include \"confine/filter.h\"\n\n"
	       "const struct sock_filter confine_filter[] = {\n");
	for (size_t i = 0; i < n; i++) {
		placeholders += CONFINE_IS_TGID_PLACEHOLDER(&insns[i]);
		printf("\t{ 0x%04x, %u, %u, 0x%08x },\n", insns[i].code, insns[i].jt, insns[i].jf,
		       insns[i].k);
	}
	printf("};\nconst size_t confine_filter_len = %zu;\n", n);
	if (n > CONFINE_FILTER_MAX_LEN) {
		fprintf(stderr, "gen-filter: %zu instructions, more than the %d seccomp.c copies\n",
			n, CONFINE_FILTER_MAX_LEN);
		return 1;
	}
	if (placeholders != 1) {
		fprintf(stderr, "gen-filter: %zu tgid placeholders in the program, not 1\n",
			placeholders);
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
