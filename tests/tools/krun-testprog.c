/* A static helper the system tests copy into guest root filesystems: small operations
 * that busybox does not offer, each a subcommand. Exits 0 on success, 1 with a message
 * on failure, 2 on bad usage. */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what, const char *arg)
{
	fprintf(stderr, "krun-testprog: %s %s: %s\n", what, arg, strerror(errno));
	return 1;
}

static int xattr_set(char **argv)
{
	if (setxattr(argv[0], argv[1], argv[2], strlen(argv[2]), 0) < 0)
		return fail("setxattr", argv[0]);
	return 0;
}

static int xattr_get(char **argv)
{
	char buf[4096];
	ssize_t n = getxattr(argv[0], argv[1], buf, sizeof(buf));

	if (n < 0)
		return fail("getxattr", argv[0]);
	fwrite(buf, 1, n, stdout);
	putchar('\n');
	return 0;
}

/* Writes the text at the offset through a shared writable mapping. */
static int mmap_write(char **argv)
{
	long off = atol(argv[1]);
	size_t len = strlen(argv[2]);
	int fd = open(argv[0], O_RDWR);
	struct stat st;
	char *map;

	if (fd < 0)
		return fail("open", argv[0]);
	if (fstat(fd, &st) < 0 || st.st_size < off + (long)len) {
		fprintf(stderr, "krun-testprog: %s is too small\n", argv[0]);
		return 1;
	}
	map = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return fail("mmap", argv[0]);
	memcpy(map + off, argv[2], len);
	if (msync(map, st.st_size, MS_SYNC) < 0)
		return fail("msync", argv[0]);
	munmap(map, st.st_size);
	close(fd);
	return 0;
}

static int rename_flags(char **argv, unsigned flags)
{
	if (renameat2(AT_FDCWD, argv[0], AT_FDCWD, argv[1], flags) < 0)
		return fail("renameat2", argv[0]);
	return 0;
}

static int rename_noreplace(char **argv)
{
	return rename_flags(argv, RENAME_NOREPLACE);
}

static int rename_exchange(char **argv)
{
	return rename_flags(argv, RENAME_EXCHANGE);
}

static int kill_self(char **argv)
{
	raise(atoi(argv[0]));
	pause();
	return 1;
}

/* Writes N bytes of a repeating pattern to stdout or stderr, for stream tests. */
static int pattern(char **argv)
{
	FILE *out = strcmp(argv[0], "stderr") == 0 ? stderr : stdout;
	long n = atol(argv[1]);
	char buf[4096];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = argv[2][i % strlen(argv[2])];
	while (n > 0) {
		size_t chunk = n < (long)sizeof(buf) ? (size_t)n : sizeof(buf);
		if (fwrite(buf, 1, chunk, out) != chunk)
			return fail("write", argv[0]);
		n -= chunk;
	}
	return fflush(out) ? fail("flush", argv[0]) : 0;
}

/* The guest's CLOCK_BOOTTIME, which starts near kernel entry: as the workload's first
 * action it measures the guest boot up to the workload. */
static int boottime(char **argv)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}

#define ECHO_BYTES (1 << 20)

/* Moves one step of the echo exchange; returns -1 on failure. */
static int echo_step(int fd, const char *out, size_t *sent, char *in, size_t *got)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | (*sent < ECHO_BYTES ? POLLOUT : 0) };

	if (poll(&p, 1, 10000) != 1)
		return -1;
	if (*sent < ECHO_BYTES && (p.revents & POLLOUT)) {
		ssize_t n = write(fd, out + *sent, ECHO_BYTES - *sent);
		if (n < 0 && errno != EAGAIN)
			return -1;
		*sent += n > 0 ? n : 0;
		if (*sent == ECHO_BYTES && shutdown(fd, SHUT_WR) < 0)
			return -1;
	}
	if (p.revents & (POLLIN | POLLHUP)) {
		ssize_t n = read(fd, in + *got, ECHO_BYTES - *got);
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n == 0)
			return -1; /* end of file before everything came back */
		*got += n > 0 ? n : 0;
	}
	return 0;
}

/* Connects AF_VSOCK to the host (CID 2) at PORT, sends 1 MiB of a pattern while reading
 * the echo back (both at once, so that flow control in either direction is exercised),
 * half-closes, checks the echo and prints "vsock-echo ok BYTES". */
static int vsock_echo(char **argv)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_HOST,
				  .svm_port = (unsigned)atol(argv[0]) };
	static char out[ECHO_BYTES], in[ECHO_BYTES];
	size_t sent = 0, got = 0;

	for (size_t i = 0; i < ECHO_BYTES; i++)
		out[i] = 'a' + (i * 7 + i / 4096) % 26;
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0)
		return fail("socket", "AF_VSOCK");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("connect", argv[0]);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return fail("fcntl", argv[0]);
	while (got < ECHO_BYTES)
		if (echo_step(fd, out, &sent, in, &got) < 0)
			return fail("echo exchange", argv[0]);
	if (memcmp(in, out, ECHO_BYTES) != 0) {
		fprintf(stderr, "krun-testprog: vsock echo differs from what was sent\n");
		return 1;
	}
	close(fd);
	printf("vsock-echo ok %d\n", ECHO_BYTES);
	return 0;
}

static const struct command {
	const char *name;
	int argc;
	int (*fn)(char **argv);
	const char *usage;
} commands[] = {
	{ "xattr-set", 3, xattr_set, "PATH NAME VALUE" },
	{ "xattr-get", 2, xattr_get, "PATH NAME" },
	{ "mmap-write", 3, mmap_write, "PATH OFFSET TEXT" },
	{ "rename-noreplace", 2, rename_noreplace, "FROM TO" },
	{ "rename-exchange", 2, rename_exchange, "A B" },
	{ "kill-self", 1, kill_self, "SIGNAL" },
	{ "pattern", 3, pattern, "stdout|stderr BYTES TEXT" },
	{ "boottime", 0, boottime, "" },
	{ "vsock-echo", 1, vsock_echo, "PORT" },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0 && argc - 2 == commands[i].argc)
			return commands[i].fn(argv + 2);
	}
	fprintf(stderr, "usage:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  krun-testprog %s %s\n", commands[i].name, commands[i].usage);
	return 2;
}
