/* A static helper the system tests copy into guest root filesystems: small operations
 * that busybox does not offer, each a subcommand. Exits 0 on success, 1 with a message
 * on failure, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* ---- networking (TSI tests, tests/bats/80-tsi.bats) ---------------------------------
 * Addresses are numeric; the same program runs on the host as the peer of the guest. */

static int resolve_numeric(const char *host, const char *port, int type,
			   struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = type,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int ret = getaddrinfo(host, port, &hints, &ai);

	if (ret) {
		fprintf(stderr, "krun-testprog: address %s port %s: %s\n", host, port,
			gai_strerror(ret));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static const char *addr_str(const struct sockaddr *sa)
{
	static char buf[4][INET6_ADDRSTRLEN + 16];
	static int next;
	char ip[INET6_ADDRSTRLEN] = "?";
	char *out = buf[next++ % 4];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(out, sizeof(buf[0]), "%s:%u", ip, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(out, sizeof(buf[0]), "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else {
		snprintf(out, sizeof(buf[0]), "family-%d", sa->sa_family);
	}
	return out;
}

static int tcp_connect(const char *host, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (resolve_numeric(host, port, SOCK_STREAM, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
		fail("connect", host);
		return -1;
	}
	return fd;
}

/* Binds (and listens, for streams), then says so on stdout: "listening" for a stream
 * server, "ready" for a datagram one, which the tests wait for. */
static int listen_on(const char *host, const char *port, int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;

	if (resolve_numeric(host, port, type, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 512) < 0)) {
		fail("bind/listen", port);
		return -1;
	}
	printf("%s\n", type == SOCK_STREAM ? "listening" : "ready");
	fflush(stdout);
	return fd;
}

static int copy_all(int from, int to, unsigned long long *total)
{
	static char buf[1 << 16];
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) > 0) {
		*total += n;
		if (to >= 0 && write(to, buf, n) != n)
			return -1;
	}
	return n < 0 ? -1 : 0;
}

/* Connects, reads until end of file, writes the bytes to stdout. */
static int tcp_get(char **argv)
{
	unsigned long long total = 0;
	int fd = tcp_connect(argv[0], argv[1]);

	if (fd < 0)
		return 1;
	if (copy_all(fd, STDOUT_FILENO, &total) < 0)
		return fail("read", argv[0]);
	fprintf(stderr, "tcp-get: %llu bytes\n", total);
	return 0;
}

/* Connects, sends stdin, half-closes, and waits for the peer to close. */
static int tcp_put(char **argv)
{
	unsigned long long sent = 0, back = 0;
	int fd = tcp_connect(argv[0], argv[1]);

	if (fd < 0)
		return 1;
	if (copy_all(STDIN_FILENO, fd, &sent) < 0)
		return fail("write", argv[0]);
	if (shutdown(fd, SHUT_WR) < 0 || copy_all(fd, -1, &back) < 0)
		return fail("finish", argv[0]);
	fprintf(stderr, "tcp-put: %llu bytes\n", sent);
	return 0;
}

/* MemAvailable of /proc/meminfo, in KiB; -1 if unreadable. */
static long mem_available_kib(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* Connects and leaves what arrives unread for SECONDS; prints how much memory the
 * system lost meanwhile ("held N KiB"), then reads it all ("read N bytes"). */
static int tcp_hold(char **argv)
{
	unsigned long long total = 0;
	long before = mem_available_kib();
	int fd = tcp_connect(argv[0], argv[1]);
	int sink = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (before < 0)
		return fail("read MemAvailable from", "/proc/meminfo");
	if (sink < 0)
		return fail("open", "/dev/null");
	if (fd < 0)
		return 1;
	sleep(atoi(argv[2]));
	printf("held %ld KiB\n", before - mem_available_kib());
	if (copy_all(fd, sink, &total) < 0)
		return fail("read", argv[0]);
	printf("read %llu bytes\n", total);
	return 0;
}

/* Connects, sends the text, half-closes, prints what comes back. */
static int tcp_talk(char **argv)
{
	unsigned long long total = 0;
	int fd = tcp_connect(argv[0], argv[1]);

	if (fd < 0)
		return 1;
	if (write(fd, argv[2], strlen(argv[2])) < 0 || shutdown(fd, SHUT_WR) < 0)
		return fail("send", argv[0]);
	if (copy_all(fd, STDOUT_FILENO, &total) < 0)
		return fail("read", argv[0]);
	putchar('\n');
	return 0;
}

/* getsockname and getpeername of a connected socket. */
static int names(char **argv)
{
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof(l), pl = sizeof(p);
	int fd = tcp_connect(argv[0], argv[1]);

	if (fd < 0)
		return 1;
	if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&p, &pl) < 0)
		return fail("getsockname/getpeername", argv[0]);
	printf("local %s peer %s\n", addr_str((struct sockaddr *)&l),
	       addr_str((struct sockaddr *)&p));
	return 0;
}

static const char *errno_name(int e)
{
	static const struct {
		int e;
		const char *name;
	} names[] = { { 0, "OK" },
		      { ECONNREFUSED, "ECONNREFUSED" },
		      { ETIMEDOUT, "ETIMEDOUT" },
		      { ENETUNREACH, "ENETUNREACH" },
		      { EHOSTUNREACH, "EHOSTUNREACH" },
		      { ECONNRESET, "ECONNRESET" },
		      { EINPROGRESS, "EINPROGRESS" },
		      { EAGAIN, "EAGAIN" } };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].name;
	return strerror(e);
}

/* Non-blocking connect, epoll for writability, SO_ERROR: prints what connect() returned
 * and the outcome, e.g. "EINPROGRESS ECONNREFUSED" or "EINPROGRESS OK". */
static int nb_connect(char **argv)
{
	struct sockaddr_storage ss;
	struct epoll_event ev = { .events = EPOLLOUT }, got;
	socklen_t len, elen = sizeof(int);
	int fd, ep, soerr = 0, first;

	if (resolve_numeric(argv[0], argv[1], SOCK_STREAM, &ss, &len) < 0)
		return 1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return fail("socket/epoll", argv[0]);
	first = connect(fd, (struct sockaddr *)&ss, len) < 0 ? errno : 0;
	if (first == EINPROGRESS) {
		int n = epoll_wait(ep, &got, 1, 30000);
		if (n != 1) {
			errno = n == 0 ? ETIMEDOUT : errno;
			return fail("epoll_wait", argv[0]);
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) < 0)
			return fail("getsockopt SO_ERROR", argv[0]);
	}
	printf("%s %s\n", errno_name(first), errno_name(first == EINPROGRESS ? soerr : first));
	return 0;
}

/* N connections open at once, each echoing its own line. */
static int parallel_connect(char **argv)
{
	int n = atoi(argv[2]), *fds = calloc(n, sizeof(int));
	char line[64], back[64];

	for (int i = 0; i < n; i++)
		if ((fds[i] = tcp_connect(argv[0], argv[1])) < 0) {
			fprintf(stderr, "krun-testprog: connection %d of %d failed\n", i, n);
			return 1;
		}
	for (int i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line), "line %d\n", i);
		if (write(fds[i], line, len) != len)
			return fail("write", argv[0]);
	}
	for (int i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line), "line %d\n", i), got = 0;
		while (got < len) {
			ssize_t r = read(fds[i], back + got, len - got);
			if (r <= 0)
				return fail("read echo", argv[0]);
			got += r;
		}
		if (memcmp(line, back, len) != 0) {
			fprintf(stderr, "krun-testprog: connection %d echoed the wrong line\n", i);
			return 1;
		}
		close(fds[i]);
	}
	printf("parallel %d ok\n", n);
	return 0;
}

static void echo_conn(int c)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (write(c, buf, n) != n)
			break;
	_exit(0);
}

/* Echoes every connection (one process each); prints "listening" once it accepts and
 * "accepted PEER on LOCAL" per connection. */
static int tcp_echo_server(char **argv)
{
	struct sockaddr_storage p, l;
	int fd = listen_on(argv[0], argv[1], SOCK_STREAM);

	if (fd < 0)
		return 1;
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		socklen_t pl = sizeof(p), ll = sizeof(l);
		int c = accept4(fd, (struct sockaddr *)&p, &pl, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return fail("accept", argv[1]);
		}
		getsockname(c, (struct sockaddr *)&l, &ll);
		printf("accepted %s on %s\n", addr_str((struct sockaddr *)&p),
		       addr_str((struct sockaddr *)&l));
		fflush(stdout);
		if (fork() == 0)
			echo_conn(c);
		close(c);
	}
}

/* Serves one connection with keepalive on (TCP_KEEPIDLE IDLE seconds), prints the idle
 * time getsockopt then reports, and echoes until the client closes. */
static int keepalive_server(char **argv)
{
	int fd = listen_on(argv[0], argv[1], SOCK_STREAM), on = 1, idle = atoi(argv[2]), got = 0;
	socklen_t len = sizeof(got);

	if (fd < 0)
		return 1;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0 || setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0 ||
	    setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    getsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &got, &len) < 0)
		return fail("keepalive", argv[1]);
	printf("keepidle %d\n", got);
	fflush(stdout);
	echo_conn(c);
	return 0;
}

/* Binds a UDP socket without SO_REUSEADDR, says "ready" and keeps it SECONDS. */
static int udp_bind(char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (resolve_numeric(argv[0], argv[1], SOCK_DGRAM, &ss, &len) < 0)
		return 1;
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0)
		return fail("bind", argv[1]);
	printf("ready\n");
	fflush(stdout);
	sleep(atoi(argv[2]));
	return 0;
}

/* Accepts connections on fd for ever; each is served by serve(c, argv) in a child. */
static int serve_forked(int fd, int (*serve)(int c, char **argv), char **argv)
{
	if (fd < 0)
		return 1;
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (fork() == 0)
			_exit(serve(c, argv));
		close(c);
	}
}

static int send_file(int c, char **argv)
{
	unsigned long long total = 0;
	int f = open(argv[2], O_RDONLY);

	return f < 0 || copy_all(f, c, &total) < 0;
}

/* Writes what one connection sends into FILE, closes it, prints "received N". */
static int tcp_sink_server(char **argv)
{
	unsigned long long total = 0;
	int fd = listen_on(argv[0], argv[1], SOCK_STREAM), c, f;

	if (fd < 0)
		return 1;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	f = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (c < 0 || f < 0 || copy_all(c, f, &total) < 0 || close(f) < 0)
		return fail("receive", argv[2]);
	close(c);
	printf("received %llu\n", total);
	return 0;
}

/* Sends the same file to every connection. */
static int tcp_file_server(char **argv)
{
	return serve_forked(listen_on(argv[0], argv[1], SOCK_STREAM), send_file, argv);
}

#define TRICKLE_MAX_PIECE 65536

/* COUNT pieces of SIZE bytes, 2 ms apart, each its own segment. */
static int send_trickle(int c, char **argv)
{
	static char piece[TRICKLE_MAX_PIECE];
	int count = atoi(argv[2]), on = 1;
	size_t size = strtoul(argv[3], NULL, 10);

	memset(piece, 't', size);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	for (int i = 0; i < count; i++) {
		if (write(c, piece, size) != (ssize_t)size)
			return 1;
		usleep(2000);
	}
	return 0;
}

/* Sends each connection COUNT pieces of SIZE bytes (send_trickle). */
static int tcp_trickle_server(char **argv)
{
	if (strtoul(argv[3], NULL, 10) > TRICKLE_MAX_PIECE) {
		fprintf(stderr, "krun-testprog: SIZE %s is over %d\n", argv[3], TRICKLE_MAX_PIECE);
		return 1;
	}
	return serve_forked(listen_on(argv[0], argv[1], SOCK_STREAM), send_trickle, argv);
}

/* Listens, prints "listening", closes after SECONDS, prints "closed", then lingers
 * another SECONDS so the VM is still up while the host looks at its sockets. */
static int listen_close(char **argv)
{
	int fd = listen_on(argv[0], argv[1], SOCK_STREAM);

	if (fd < 0)
		return 1;
	sleep(atoi(argv[2]));
	close(fd);
	printf("closed\n");
	fflush(stdout);
	sleep(atoi(argv[2]));
	return 0;
}

/* Answers each datagram with "echo: " + its payload, to its source. */
static int udp_echo_server(char **argv)
{
	int fd = listen_on(argv[0], argv[1], SOCK_DGRAM);
	char buf[2048];

	if (fd < 0)
		return 1;
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n =
		    recvfrom(fd, buf + 6, sizeof(buf) - 6, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		memcpy(buf, "echo: ", 6);
		sendto(fd, buf, n + 6, 0, (struct sockaddr *)&from, fl);
	}
}

/* Unconnected sendto, then waits up to 10 s for the reply; prints it and its source after
 * checking MSG_PEEK and FIONREAD against it. */
static int udp_send(char **argv)
{
	struct sockaddr_storage ss, from;
	socklen_t len, fl = sizeof(from);
	char buf[2048];
	ssize_t n;
	int fd;

	if (resolve_numeric(argv[0], argv[1], SOCK_DGRAM, &ss, &len) < 0)
		return 1;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, argv[2], strlen(argv[2]), 0, (struct sockaddr *)&ss, len) < 0)
		return fail("sendto", argv[0]);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ready = poll(&p, 1, 10000);
	if (ready != 1) {
		errno = ready == 0 ? ETIMEDOUT : errno;
		return fail("wait for the reply", argv[0]);
	}
	/* What FIONREAD and MSG_PEEK say must be what the read then takes. */
	int pending = -1;
	char peek[4];
	ssize_t np = recv(fd, peek, sizeof(peek), MSG_PEEK);
	if (np < 0 || ioctl(fd, FIONREAD, &pending) < 0)
		return fail("peek", argv[0]);
	n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fl);
	if (n < 0)
		return fail("recvfrom", argv[0]);
	if (pending != n || np != (n < 4 ? n : 4) || memcmp(peek, buf, np)) {
		fprintf(stderr, "krun-testprog: peeked %zd bytes, FIONREAD %d, read %zd\n", np,
			pending, n);
		return 1;
	}
	buf[n] = 0;
	printf("%s from %s\n", buf, addr_str((struct sockaddr *)&from));
	return 0;
}

/* As glibc's resolver does: connect(), two datagrams in one sendmmsg() ("TEXT-1" and
 * "TEXT-2"), then poll() and recvfrom() until both replies came; prints each reply and
 * the source recvfrom reports. */
static int udp_connect_send(char **argv)
{
	struct sockaddr_storage ss, from;
	socklen_t len;
	char out[2][256], buf[2048];
	struct iovec iov[2];
	struct mmsghdr mm[2] = { 0 };
	int fd;

	if (resolve_numeric(argv[0], argv[1], SOCK_DGRAM, &ss, &len) < 0)
		return 1;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 ||
	    setsockopt(fd, ss.ss_family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
		       ss.ss_family == AF_INET ? IP_RECVERR : IPV6_RECVERR, &one, sizeof(one)) < 0)
		return fail("socket/IP_RECVERR", argv[0]);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		return fail("connect", argv[0]);
	struct pollfd w = { .fd = fd, .events = POLLOUT };
	if (poll(&w, 1, 10000) != 1 || !(w.revents & POLLOUT))
		return fail("wait to send", argv[0]);
	for (int i = 0; i < 2; i++) {
		iov[i].iov_base = out[i];
		iov[i].iov_len = snprintf(out[i], sizeof(out[i]), "%s-%d", argv[2], i + 1);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	if (sendmmsg(fd, mm, 2, 0) != 2)
		return fail("sendmmsg", argv[0]);
	for (int got = 0; got < 2;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ready = poll(&p, 1, 10000);
		if (ready != 1) {
			errno = ready == 0 ? ETIMEDOUT : errno;
			return fail("wait for the replies", argv[0]);
		}
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &fl);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0)
			return fail("recvfrom", argv[0]);
		buf[n] = 0;
		printf("%s from %s\n", buf, addr_str((struct sockaddr *)&from));
		got++;
	}
	return 0;
}

/* getaddrinfo through glibc's resolver (/etc/resolv.conf); prints each address. */
static int resolve(char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int ret = getaddrinfo(argv[0], NULL, &hints, &ai);

	if (ret) {
		fprintf(stderr, "krun-testprog: resolve %s: %s\n", argv[0], gai_strerror(ret));
		return 1;
	}
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		char ip[INET6_ADDRSTRLEN];
		const void *src =
		    a->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		printf("%s\n", inet_ntop(a->ai_family, src, ip, sizeof(ip)));
	}
	freeaddrinfo(ai);
	return 0;
}

/* A DNS responder for the tests: every A question gets 192.0.2.42, every AAAA question
 * 2001:db8::42, anything else an empty answer. */
static int dns_server(char **argv)
{
	static const unsigned char a4[4] = { 192, 0, 2, 42 };
	static const unsigned char a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42 };
	int fd = listen_on(argv[0], argv[1], SOCK_DGRAM);
	unsigned char q[512], r[600];

	if (fd < 0)
		return 1;
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		size_t i = 12;

		if (n < 17 || q[4] != 0 || q[5] != 1)
			continue;
		while (i < (size_t)n && q[i])
			i += q[i] + 1;
		if (i + 5 > (size_t)n)
			continue;
		size_t qend = i + 5;
		int qtype = q[i + 1] << 8 | q[i + 2];
		printf("query type %d from %s\n", qtype, addr_str((struct sockaddr *)&from));
		fflush(stdout);
		const unsigned char *ans = qtype == 1 ? a4 : qtype == 28 ? a6 : NULL;
		size_t alen = qtype == 1 ? 4 : 16;
		memcpy(r, q, qend);
		r[2] = 0x81; /* response, recursion desired */
		r[3] = 0x80; /* recursion available, no error */
		r[6] = 0;
		r[7] = ans ? 1 : 0;
		r[8] = r[9] = r[10] = r[11] = 0;
		size_t o = qend;
		if (ans) {
			const unsigned char rr[] = { 0xc0, 0x0c, 0, (unsigned char)qtype,
						     0,	   1,	 0, 0,
						     0,	   60,	 0, (unsigned char)alen };
			memcpy(r + o, rr, sizeof(rr));
			o += sizeof(rr);
			memcpy(r + o, ans, alen);
			o += alen;
		}
		sendto(fd, r, o, 0, (struct sockaddr *)&from, fl);
	}
}

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -1;
	strcpy(sun->sun_path, path);
	return 0;
}

/* A unix stream listener at path, open to every user; says "listening" once it is. */
static int unix_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	unlink(path);
	if (fd < 0 || unix_addr(path, &sun) < 0 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 16) < 0)
		return -1;
	chmod(path, 0777);
	printf("listening\n");
	fflush(stdout);
	return fd;
}

/* A unix stream server at PATH answering each connection "echo: " + what it sent. */
static int unix_echo_server(char **argv)
{
	int fd = unix_listen(argv[0]);

	if (fd < 0)
		return fail("bind/listen", argv[0]);
	for (;;) {
		char buf[1024];
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		ssize_t n = read(c, buf, sizeof(buf));
		if (n > 0 && write(c, "echo: ", 6) == 6 && write(c, buf, n) == n)
			shutdown(c, SHUT_WR);
		close(c);
	}
}

/* Answers each client's text with the client's ids as the kernel reports them
 * (SO_PEERCRED), and prints them. */
static int unix_peercred_server(char **argv)
{
	int fd = unix_listen(argv[0]);

	if (fd < 0)
		return fail("bind/listen", argv[0]);
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		char msg[64];
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		/* The client's text is read first: closing with it unread would reset. */
		if (read(c, msg, sizeof(msg)) > 0 &&
		    getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			int n =
			    snprintf(msg, sizeof(msg), "peer uid=%u gid=%u", cred.uid, cred.gid);
			if (write(c, msg, n) == n)
				shutdown(c, SHUT_WR);
			printf("%s\n", msg);
			fflush(stdout);
		}
		close(c);
	}
}

/* Connects to a unix stream socket, sends the text, prints the answer. */
static int unix_talk(char **argv)
{
	struct sockaddr_un sun;
	unsigned long long total = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || unix_addr(argv[0], &sun) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return fail("connect", argv[0]);
	if (write(fd, argv[1], strlen(argv[1])) < 0)
		return fail("write", argv[0]);
	if (copy_all(fd, STDOUT_FILENO, &total) < 0)
		return fail("read", argv[0]);
	putchar('\n');
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
	{ "tcp-get", 2, tcp_get, "HOST PORT" },
	{ "tcp-put", 2, tcp_put, "HOST PORT" },
	{ "tcp-talk", 3, tcp_talk, "HOST PORT TEXT" },
	{ "tcp-hold", 3, tcp_hold, "HOST PORT SECONDS" },
	{ "names", 2, names, "HOST PORT" },
	{ "nb-connect", 2, nb_connect, "HOST PORT" },
	{ "parallel-connect", 3, parallel_connect, "HOST PORT N" },
	{ "tcp-echo-server", 2, tcp_echo_server, "ADDR PORT" },
	{ "tcp-file-server", 3, tcp_file_server, "ADDR PORT FILE" },
	{ "tcp-sink-server", 3, tcp_sink_server, "ADDR PORT FILE" },
	{ "tcp-trickle-server", 4, tcp_trickle_server, "ADDR PORT COUNT SIZE" },
	{ "listen-close", 3, listen_close, "ADDR PORT SECONDS" },
	{ "udp-echo-server", 2, udp_echo_server, "ADDR PORT" },
	{ "udp-bind", 3, udp_bind, "ADDR PORT SECONDS" },
	{ "keepalive-server", 3, keepalive_server, "ADDR PORT IDLE" },
	{ "udp-send", 3, udp_send, "HOST PORT TEXT" },
	{ "udp-connect-send", 3, udp_connect_send, "HOST PORT TEXT" },
	{ "resolve", 1, resolve, "NAME" },
	{ "dns-server", 2, dns_server, "ADDR PORT" },
	{ "unix-echo-server", 1, unix_echo_server, "PATH" },
	{ "unix-talk", 2, unix_talk, "PATH TEXT" },
	{ "unix-peercred-server", 1, unix_peercred_server, "PATH" },
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
