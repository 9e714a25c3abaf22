/* TCP figures for bench/net, the same program on the host and in the guest (static):
 *
 *   krun-netbench serve PORT              accept connections, one at a time, for ever
 *   krun-netbench send HOST PORT MIB      upload MIB MiB; prints MiB/s
 *   krun-netbench recv HOST PORT MIB      download MIB MiB; prints MiB/s
 *   krun-netbench connect-rate HOST PORT SECONDS
 *                                         connect, exchange a byte, close; prints conn/s
 *
 * A connection starts with one request byte: 'S' (the client sends until it shuts down,
 * the server answers one byte after the end), 'G' + 8-byte count (the server sends that
 * many bytes), 'C' (the server answers one byte and closes). */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static char buf[CHUNK];

static void die(const char *what)
{
	fprintf(stderr, "krun-netbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* HOST is a numeric IPv4 or IPv6 address: no resolver in a static binary. */
static int connect_to(const char *host, const char *port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(port)) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	bool v6 = inet_pton(AF_INET6, host, &a6.sin6_addr) == 1;
	int fd, one = 1;

	if (!v6 && inet_pton(AF_INET, host, &a4.sin_addr) != 1) {
		fprintf(stderr, "krun-netbench: `%s` is not an IP address\n", host);
		exit(64);
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (v6 ? connect(fd, (struct sockaddr *)&a6, sizeof(a6))
	       : connect(fd, (struct sockaddr *)&a4, sizeof(a4)))
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void write_all(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		p = (const char *)p + n;
		len -= n;
	}
}

/* Reads until EOF or limit bytes; returns the count. */
static uint64_t drain(int fd, uint64_t limit)
{
	uint64_t total = 0;

	while (total < limit) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		if (n == 0)
			break;
		total += n;
	}
	return total;
}

static void send_count(int fd, uint64_t count)
{
	while (count) {
		size_t n = count < sizeof(buf) ? count : sizeof(buf);

		write_all(fd, buf, n);
		count -= n;
	}
}

static void serve_one(int fd)
{
	uint64_t count;
	char req;

	if (read(fd, &req, 1) != 1)
		return;
	if (req == 'S') {
		drain(fd, UINT64_MAX);
		write_all(fd, "k", 1);
	} else if (req == 'G' && read(fd, &count, sizeof(count)) == sizeof(count)) {
		send_count(fd, count);
	} else if (req == 'C') {
		write_all(fd, "k", 1);
	}
}

__attribute__((noreturn)) static void serve(const char *port)
{
	struct sockaddr_in6 addr = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(port)) };
	int lfd = socket(AF_INET6, SOCK_STREAM, 0), one = 1;

	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 128) < 0)
		die("listen");
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		serve_one(fd);
		close(fd);
	}
}

static int transfer(const char *host, const char *port, uint64_t mib, bool upload)
{
	uint64_t bytes = mib << 20, got;
	int fd = connect_to(host, port);
	double t0 = now();
	char ack;

	if (upload) {
		write_all(fd, "S", 1);
		send_count(fd, bytes);
		shutdown(fd, SHUT_WR);
		if (read(fd, &ack, 1) != 1)
			die("the server's acknowledgement");
		got = bytes;
	} else {
		write_all(fd, "G", 1);
		write_all(fd, &bytes, sizeof(bytes));
		got = drain(fd, bytes);
	}
	if (got != bytes) {
		fprintf(stderr, "krun-netbench: %llu of %llu bytes\n", (unsigned long long)got,
			(unsigned long long)bytes);
		return 1;
	}
	printf("%.1f\n", mib / (now() - t0));
	close(fd);
	return 0;
}

static int connect_rate(const char *host, const char *port, double seconds)
{
	double t0 = now(), t;
	unsigned long n = 0;
	char ack;

	do {
		int fd = connect_to(host, port);

		write_all(fd, "C", 1);
		if (read(fd, &ack, 1) != 1)
			die("the server's answer");
		close(fd);
		n++;
		t = now();
	} while (t - t0 < seconds);
	printf("%.0f\n", n / (t - t0));
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "serve"))
		serve(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "send"))
		return transfer(argv[2], argv[3], strtoull(argv[4], NULL, 10), true);
	if (argc == 5 && !strcmp(argv[1], "recv"))
		return transfer(argv[2], argv[3], strtoull(argv[4], NULL, 10), false);
	if (argc == 5 && !strcmp(argv[1], "connect-rate"))
		return connect_rate(argv[2], argv[3], atof(argv[4]));
	fprintf(stderr, "usage: krun-netbench serve PORT | send|recv HOST PORT MIB | "
			"connect-rate HOST PORT SECONDS\n");
	return 64;
}
