/* The VMM's confinement step by step (src/confine), each run in a fresh child whose heap and
 * stack are already in use, as the VMM's are when it confines itself; beside it, what the
 * same host charges for one bare system call and for loading a one-instruction seccomp
 * filter, the floors no confinement can go under. Needs root; no KVM. */
#define _GNU_SOURCE
#include "confine/confine.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ROOT, FD_CHECK, CAPS, SECCOMP, BARE_SYSCALL, ONE_INSN_FILTER, NSTEPS };
static const char *const step_names[NSTEPS] = {
	"root (namespace, empty root, proc, chroot)",
	"no directory fd kept",
	"capabilities",
	"no_new_privs + seccomp filter",
	"floor: one bare system call (x1000)",
	"floor: one-instruction filter load",
};

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void warm(void)
{
	volatile char stack[32 << 10];
	char *heap = malloc(1 << 20);

	for (size_t i = 0; i < sizeof(stack); i += 4096)
		stack[i] = 1;
	for (size_t i = 0; heap && i < (1 << 20); i += 4096)
		heap[i] = 1;
	free(heap);
}

static int confine_steps(const char *root_dir, double t[NSTEPS])
{
	krun_error_t err = NULL;
	int root, tree;
	double t0;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    (root = open(root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return perror("confine-time: container namespace"), -1;
	t0 = now_ms();
	if (confine_root(root, &tree, &err) < 0)
		goto fail;
	close(root);
	t[ROOT] = now_ms() - t0;
	t0 = now_ms();
	if (confine_no_directory_fds(tree, &err) < 0)
		goto fail;
	t[FD_CHECK] = now_ms() - t0;
	t0 = now_ms();
	if (confine_caps(confine_caps_kept(confine_caps_all()), &err) < 0)
		goto fail;
	t[CAPS] = now_ms() - t0;
	t0 = now_ms();
	if (confine_seccomp(&err) < 0)
		goto fail;
	t[SECCOMP] = now_ms() - t0;
	return 0;
fail:
	fprintf(stderr, "confine-time: %s\n", err->msg);
	return -1;
}

static void floors(double t[NSTEPS])
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { .len = 1, .filter = &allow };
	double t0 = now_ms();

	for (int i = 0; i < 1000; i++)
		syscall(SYS_getppid);
	t[BARE_SYSCALL] = now_ms() - t0; /* per 1000: readable in ms */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	t0 = now_ms();
	syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	t[ONE_INSN_FILTER] = now_ms() - t0;
}

static const char *root_dir;

static int floor_steps(double t[NSTEPS])
{
	floors(t);
	return 0;
}

/* Runs fn in a warmed child (confinement cannot be undone) and takes its figures. */
static int in_child(int (*fn)(double *), double t[NSTEPS])
{
	double got[NSTEPS] = { 0 };
	int pipefd[2];
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		warm();
		_exit(fn(got) < 0 || write(pipefd[1], got, sizeof(got)) != sizeof(got));
	}
	close(pipefd[1]);
	n = read(pipefd[0], got, sizeof(got));
	close(pipefd[0]);
	waitpid(pid, NULL, 0);
	if (n != sizeof(got))
		return -1;
	for (int i = 0; i < NSTEPS; i++)
		t[i] += got[i];
	return 0;
}

static int confine_in_child(double t[NSTEPS])
{
	return confine_steps(root_dir, t);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 31;
	double(*t)[NSTEPS] = calloc(runs > 0 ? runs : 1, sizeof(*t));
	double col[runs > 0 ? runs : 1], total = 0;

	if (argc < 2 || runs < 1 || !t) {
		fprintf(stderr, "usage: confine-time EMPTY_DIR [RUNS]\n");
		return 2;
	}
	root_dir = argv[1];
	for (int r = 0; r < runs; r++)
		if (in_child(floor_steps, t[r]) < 0 || in_child(confine_in_child, t[r]) < 0)
			return 1;
	printf("VMM confinement, median of %d runs (ms)\n", runs);
	for (int s = 0; s < NSTEPS; s++) {
		for (int r = 0; r < runs; r++)
			col[r] = t[r][s];
		qsort(col, runs, sizeof(col[0]), by_value);
		printf("  %-44s %8.3f\n", step_names[s], col[runs / 2]);
		if (s == SECCOMP) {
			for (int r = 0; r < runs; r++)
				col[r] = t[r][ROOT] + t[r][FD_CHECK] + t[r][CAPS] + t[r][SECCOMP];
			qsort(col, runs, sizeof(col[0]), by_value);
			total = col[runs / 2];
			printf("  %-44s %8.3f\n", "all of it", total);
		}
	}
	return 0;
}
