/* The host's signals in the guest init: decoding hostile records, finding and opening the
 * krun-signal port against a fake sysfs, and the supervisor forwarding what arrives on
 * the port (a pipe here) to a real workload. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "../../init/host_signals.h"
#include "../../init/log.h"
#include "../../init/supervisor.h"
#include "../../init/workload.h"
#include "tap.h"

static char dir[] = "/tmp/init_host_signals_test.XXXXXX";
static char *base_env[] = { "PATH=/usr/bin:/bin", NULL };

static void test_decode(void)
{
	static const unsigned char hostile[] = { 15, 0, 65, 255, 10, 64, 1, 128, 9, 33 };
	int out[sizeof(hostile)];

	size_t n = host_signals_decode(hostile, sizeof(hostile), out);
	is_int(n, 6, "six of ten records are signal numbers");
	ok(n == 6 && out[0] == 15 && out[1] == 10 && out[2] == 64 && out[3] == 1 && out[4] == 9 &&
	       out[5] == 33,
	   "0, 65, 128 and 255 are skipped, the rest kept in order");
	is_int(host_signals_decode(hostile, 0, out), 0, "no bytes, no signals");
}

static void make_path(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", dir, rel);
}

static void test_open(void)
{
	char sys[256], dev[256], path[256];
	struct init_error err = { 0 };

	make_path(sys, sizeof(sys), "sys");
	make_path(dev, sizeof(dev), "dev");
	mkdir(sys, 0755);
	mkdir(dev, 0755);
	is_int(host_signals_open(sys, dev, 50, &err), -ENOENT, "no port: ENOENT after the wait");
	ok(strstr(err.msg, "krun-signal") != NULL, "  and the message names the port");

	make_path(path, sizeof(path), "sys/vport1p4");
	mkdir(path, 0755);
	make_path(path, sizeof(path), "sys/vport1p4/name");
	FILE *f = fopen(path, "w");
	fputs("krun-signal\n", f);
	fclose(f);
	make_path(path, sizeof(path), "dev/vport1p4");
	mkfifo(path, 0600);
	/* A FIFO opened for reading without a writer blocks unless O_NONBLOCK. */
	int fd = host_signals_open(sys, dev, 50, &err);
	ok(fd >= 0, "the named port is opened");
	ok(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC),
	   "  non-blocking and close-on-exec");
	if (fd >= 0)
		close(fd);
}

static bool file_has(const char *path, const char *needle)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, needle) != NULL;
}

static bool wait_for(const char *path, const char *needle)
{
	for (int i = 0; i < 1000; i++) {
		if (file_has(path, needle))
			return true;
		usleep(10 * 1000);
	}
	return false;
}

static int temp_file(const char *name)
{
	char path[256];
	make_path(path, sizeof(path), name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	return fd;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The host's side of one run, on its own thread while the supervisor runs. */
struct host {
	void (*play)(struct host *h);
	int wfd;
	char out[256];
	bool saw_usr1;
	double eof_cpu; /* CPU time this process used in the 300 ms after end of file */
};

static void send_records(int fd, const unsigned char *rec, size_t n)
{
	if (write(fd, rec, n) != (ssize_t)n)
		abort();
}

/* Hostile records around SIGUSR1, then SIGTERM, all through the port. */
static void play_signals(struct host *h)
{
	send_records(h->wfd, (const unsigned char[]){ 0, 99, 255, SIGUSR1, 0 }, 5);
	h->saw_usr1 = wait_for(h->out, "usr1");
	send_records(h->wfd, (const unsigned char[]){ 200, SIGTERM }, 2);
}

/* The port reaches end of file: the supervisor neither spins on it nor stops; the
 * workload then ends by a signal to init itself. */
static void play_eof(struct host *h)
{
	close(h->wfd);
	h->wfd = -1;
	double before = cpu_seconds();
	usleep(300 * 1000);
	h->eof_cpu = cpu_seconds() - before;
	kill(getpid(), SIGTERM); /* blocked on every thread: lands in the signalfd */
}

static void *host_thread(void *arg)
{
	struct host *h = arg;

	if (wait_for(h->out, "ready"))
		h->play(h);
	return NULL;
}

/* Runs a workload that reports USR1 and exits 7 on TERM, with h playing the host. */
static int run_with_host(struct host *h, char *log, size_t log_size)
{
	struct stdio_fds stdio = { .fd = { temp_file("in"), temp_file("out"), temp_file("err") } };
	int log_fd = temp_file("log");
	struct init_process p = {
		.args = (char *[]){ "sh", "-c",
				    "trap 'echo usr1' USR1; trap 'echo term; exit 7' TERM; "
				    "echo ready; while :; do sleep 0.05; done",
				    NULL },
		.num_args = 3,
		.cwd = "/",
	};
	struct workload w = { .process = &p, .env = base_env, .stdio = &stdio };
	struct init_error err = { 0 };
	struct supervisor sup;
	int pfd[2], status = -1;
	pid_t pid = 0;
	pthread_t th;

	log_set_fd(log_fd);
	if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	h->wfd = pfd[1];
	make_path(h->out, sizeof(h->out), "out");
	ok(supervisor_open(&sup, &err) == 0 && supervisor_watch_host(&sup, pfd[0], &err) == 0 &&
	       workload_start(&w, &pid, &status, &err) == 0 && pid > 0,
	   "supervisor watching a host port, workload started");
	/* Created with the supervisor's signals blocked, so the thread inherits the mask. */
	pthread_create(&th, NULL, host_thread, h);
	ok(pid > 0 && supervisor_run(&sup, pid, &status, &err) == 0, "supervised to the end");
	if (err.msg[0])
		printf("#   %s\n", err.msg);
	pthread_join(th, NULL);
	supervisor_close(&sup);
	log_set_fd(-1);
	if (h->wfd >= 0)
		close(h->wfd);
	ssize_t n = pread(log_fd, log, log_size - 1, 0);
	log[n > 0 ? n : 0] = '\0';
	for (int i = 0; i < 3; i++)
		close(stdio.fd[i]);
	close(log_fd);
	return status;
}

static void test_forwarding(void)
{
	struct host h = { .play = play_signals };
	char log[1024];

	int status = run_with_host(&h, log, sizeof(log));
	ok(h.saw_usr1, "SIGUSR1 from the host reached the workload's trap");
	is_int(status, 7, "SIGTERM from the host: the trap's exit status");
	is_str(log, "", "hostile records ignored silently (no kill attempted)");
}

static void test_end_of_file(void)
{
	struct host h = { .play = play_eof };
	char log[1024];

	int status = run_with_host(&h, log, sizeof(log));
	is_int(status, 7, "after the port's end of file, init still forwards its own signals");
	ok(h.eof_cpu < 0.15, "an ended port does not make the supervisor spin");
	if (h.eof_cpu >= 0.15)
		printf("#   %.3f s of CPU in 0.3 s\n", h.eof_cpu);
}

int main(void)
{
	if (!mkdtemp(dir))
		abort();
	test_decode();
	test_open();
	test_forwarding();
	test_end_of_file();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
	return tap_done();
}
