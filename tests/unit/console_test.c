/* virtio-console end to end without a VM: the test plays the guest driver (rings in fake
 * RAM, registers through the transport's handlers, kicks through the notify register),
 * the device runs on the real event loop in a thread, and the host side is pipes and a
 * pty. Checks the control protocol, the separation of stdout and stderr, stdin and its
 * end of file, flow control on full pipes, drain, terminals and hostile messages. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "devices/console/console.h"
#include "devices/console/internal.h"
#include "vm/event_loop.h"
#include "tap.h"
#include "vring_driver.h"

#define MIB	 (1 << 20)
#define CHUNK	 (32 * 1024)
#define BUF_SIZE 4096

static struct fake_ram ram;

struct guest {
	struct virtio_device *dev;
	struct virtio_mmio t;
	struct vring_driver q[CONSOLE_NUM_QUEUES];
	unsigned nq;
	pthread_t loop_thread;
	bool loop_running;
};

struct msg {
	uint32_t id;
	uint16_t event, value;
	char extra[64];
	uint32_t extra_len;
};

static void kick(struct guest *g, unsigned q)
{
	mmio_w32(&g->t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static void add_rx_buffers(struct guest *g, unsigned q, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct drv_seg s = { fake_ram_buf(&ram, NULL, BUF_SIZE), BUF_SIZE, true };
		vring_driver_add(&g->q[q], &s, 1);
	}
	kick(g, q);
}

static void guest_boot(struct guest *g, const struct console_config *cfg)
{
	krun_error_t err = NULL;

	memset(g, 0, sizeof(*g));
	if (virtio_console_new(cfg, &g->dev, &err) < 0 ||
	    virtio_mmio_init(&g->t, g->dev, &ram.mem, &err) < 0 ||
	    event_loop_new(&g->dev->loop, &err) < 0)
		drv_bail(err->msg);
	pthread_create(&g->loop_thread, NULL, drv_run_event_loop, g->dev->loop);
	g->loop_running = true;
	g->nq = g->dev->ops->num_queues;
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		     (1ULL << VIRTIO_CONSOLE_F_MULTIPORT);
	if (cfg->terminal)
		f |= 1ULL << VIRTIO_CONSOLE_F_SIZE;
	if (!(mmio_negotiate(&g->t, f) & VIRTIO_CONFIG_S_FEATURES_OK))
		drv_bail("features refused");
	for (unsigned q = 0; q < g->nq; q++) {
		vring_driver_init(&g->q[q], &ram, CONSOLE_QUEUE_SIZE);
		mmio_setup_queue(&g->t, q, &g->q[q]);
	}
	mmio_w32(&g->t, VIRTIO_MMIO_STATUS, 0xf);
	if (mmio_r32(&g->t, VIRTIO_MMIO_STATUS) != 0xf)
		drv_bail("DRIVER_OK refused");
	add_rx_buffers(g, CTRL_RXQ, 16);
}

static void guest_stop_loop(struct guest *g)
{
	if (!g->loop_running)
		return;
	event_loop_stop(g->dev->loop);
	pthread_join(g->loop_thread, NULL);
	g->loop_running = false;
}

static void guest_destroy(struct guest *g)
{
	guest_stop_loop(g);
	drv_device_destroy(g->dev, &g->t, NULL);
}

/* Waits up to 5 s for the device to return a buffer on queue q. */
static bool wait_used(struct guest *g, unsigned q, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < 5000; i++) {
		if (vring_driver_used(&g->q[q], id, len))
			return true;
		usleep(1000);
	}
	return false;
}

/* Nothing returned on queue q within 100 ms. */
static bool stays_unused(struct guest *g, unsigned q)
{
	usleep(100 * 1000);
	return __atomic_load_n(&g->q[q].used->idx, __ATOMIC_ACQUIRE) == g->q[q].last_used;
}

static bool recv_ctrl(struct guest *g, struct msg *m)
{
	uint32_t id, len;

	memset(m, 0, sizeof(*m));
	if (!wait_used(g, CTRL_RXQ, &id, &len) || len < 8 || len > 8 + sizeof(m->extra))
		return false;
	const char *p = fake_ram_ptr(&ram, g->q[CTRL_RXQ].desc[id].addr);
	memcpy(&m->id, p, 4);
	memcpy(&m->event, p + 4, 2);
	memcpy(&m->value, p + 6, 2);
	m->extra_len = len - 8;
	memcpy(m->extra, p + 8, m->extra_len);
	add_rx_buffers(g, CTRL_RXQ, 1);
	return true;
}

static void send_ctrl_raw(struct guest *g, const void *data, uint32_t len)
{
	struct drv_seg s = { fake_ram_buf(&ram, data, len), len, false };

	vring_driver_add(&g->q[CTRL_TXQ], &s, 1);
	kick(g, CTRL_TXQ);
}

static void send_ctrl(struct guest *g, uint32_t id, uint16_t event, uint16_t value)
{
	struct virtio_console_control c = { .id = id, .event = event, .value = value };

	send_ctrl_raw(g, &c, sizeof(c));
}

static bool expect_ctrl_extra(struct guest *g, uint32_t id, uint16_t event, uint16_t value,
			      const void *extra, uint32_t n)
{
	struct msg m;

	if (!recv_ctrl(g, &m))
		return false;
	return m.id == id && m.event == event && m.value == value && m.extra_len == n &&
	       memcmp(m.extra, extra, n) == 0;
}

static bool expect_ctrl(struct guest *g, uint32_t id, uint16_t event, uint16_t value)
{
	return expect_ctrl_extra(g, id, event, value, "", 0);
}

/* The guest writes data on port `port` as chains of two segments. */
static void guest_write(struct guest *g, unsigned port, const void *data, uint32_t len)
{
	uint32_t half = len / 2;
	struct drv_seg s[] = { { fake_ram_buf(&ram, data, half), half, false },
			       { fake_ram_buf(&ram, (const char *)data + half, len - half),
				 len - half, false } };

	vring_driver_add(&g->q[PORT_TXQ(port)], s, 2);
	kick(g, PORT_TXQ(port));
}

static bool read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 5000) != 1)
			return false;
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return false;
		got += n;
	}
	return true;
}

static bool pipe_is_empty(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 50) == 0;
}

struct pipes {
	int in[2], out[2], err[2], log[2];
};

static void make_pipes(struct pipes *p)
{
	if (pipe(p->in) || pipe(p->out) || pipe(p->err) || pipe(p->log))
		drv_bail("pipe");
}

static void test_handshake(struct guest *g)
{
	bool ok_ = true;

	send_ctrl(g, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	for (uint32_t i = 0; i < 4; i++)
		ok_ &= expect_ctrl(g, i, VIRTIO_CONSOLE_PORT_ADD, 1);
	ok(ok_, "DEVICE_READY: PORT_ADD for ports 0-3");
	for (uint32_t i = 0; i < 4; i++)
		send_ctrl(g, i, VIRTIO_CONSOLE_PORT_READY, 1);
	ok(expect_ctrl(g, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1), "port 0 is the console");
	ok(expect_ctrl(g, 0, VIRTIO_CONSOLE_PORT_OPEN, 1), "port 0 opened");
	static const char *names[] = { NULL, "krun-stdin", "krun-stdout", "krun-stderr" };
	for (uint32_t i = 1; i < 4; i++) {
		ok(expect_ctrl_extra(g, i, VIRTIO_CONSOLE_PORT_NAME, 1, names[i], strlen(names[i])),
		   names[i]);
		ok(expect_ctrl(g, i, VIRTIO_CONSOLE_PORT_OPEN, 1), "  and opened");
	}
}

static void test_hostile_control(struct guest *g)
{
	uint32_t id, len;
	int returned = 0;

	while (vring_driver_used(&g->q[CTRL_TXQ], &id, &len))
		; /* forget the handshake's buffers */
	send_ctrl_raw(g, "\x01\x00\x00\x00", 4);
	send_ctrl(g, 9, VIRTIO_CONSOLE_PORT_READY, 1);
	send_ctrl(g, 99, VIRTIO_CONSOLE_PORT_OPEN, 1);
	send_ctrl(g, 0, VIRTIO_CONSOLE_DEVICE_READY, 0);
	ok(stays_unused(g, CTRL_RXQ), "short, out-of-range and failed messages get no answer");
	while (vring_driver_used(&g->q[CTRL_TXQ], &id, &len))
		returned++;
	is_int(returned, 4, "and their buffers are returned");
}

static void test_streams_separate(struct guest *g, struct pipes *p)
{
	char buf[64] = { 0 };

	guest_write(g, 2, "to stdout\n", 10);
	guest_write(g, 3, "to stderr\n", 10);
	guest_write(g, 0, "kernel: hello\n", 14);
	ok(read_exact(p->out[0], buf, 10) && !memcmp(buf, "to stdout\n", 10), "stdout port");
	ok(read_exact(p->err[0], buf, 10) && !memcmp(buf, "to stderr\n", 10), "stderr port");
	ok(read_exact(p->log[0], buf, 14) && !memcmp(buf, "kernel: hello\n", 14),
	   "console port goes to the log fd");
	ok(pipe_is_empty(p->out[0]) && pipe_is_empty(p->err[0]), "nothing else on stdout/stderr");
}

static void test_stdin(struct guest *g, struct pipes *p)
{
	uint32_t id, len;
	char *data;

	if (write(p->in[1], "hello", 5) != 5)
		drv_bail("write stdin");
	add_rx_buffers(g, PORT_RXQ(1), 4);
	ok(stays_unused(g, PORT_RXQ(1)), "stdin: nothing delivered before the guest opens");
	send_ctrl(g, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ok(wait_used(g, PORT_RXQ(1), &id, &len) && len == 5, "stdin: delivered once opened");
	data = fake_ram_ptr(&ram, g->q[PORT_RXQ(1)].desc[id].addr);
	ok(len == 5 && !memcmp(data, "hello", 5), "stdin: bytes");

	if (write(p->in[1], "bye", 3) != 3)
		drv_bail("write stdin");
	close(p->in[1]);
	ok(expect_ctrl(g, 1, VIRTIO_CONSOLE_PORT_OPEN, 0), "stdin EOF: port closed");
	/* The data must have been returned before the close was sent. */
	ok(vring_driver_used(&g->q[PORT_RXQ(1)], &id, &len) && len == 3 &&
	       !memcmp(fake_ram_ptr(&ram, g->q[PORT_RXQ(1)].desc[id].addr), "bye", 3),
	   "stdin EOF: the last bytes were delivered first");
}

struct reader {
	int fd;
	size_t len;
	unsigned delay_ms;
	char *data;
	size_t got;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;

	usleep(r->delay_ms * 1000);
	while (r->got < r->len) {
		ssize_t n = read(r->fd, r->data + r->got, r->len - r->got);
		if (n <= 0)
			break;
		r->got += n;
	}
	return NULL;
}

static void fill_pattern(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)((i * 7 + seed * 13 + i / 4096) & 0xff);
}

/* Writes len bytes on port `port` in CHUNK chains, recycling ring slots as they return. */
static void guest_write_big(struct guest *g, unsigned port, const char *data, size_t len)
{
	unsigned q = PORT_TXQ(port), outstanding = 0;
	uint32_t id, l;

	for (size_t off = 0; off < len; off += CHUNK) {
		while (outstanding >= CONSOLE_QUEUE_SIZE / 2 / 2 && wait_used(g, q, &id, &l))
			outstanding--;
		guest_write(g, port, data + off, CHUNK);
		outstanding++;
	}
}

static void test_big_output(struct guest *g, struct pipes *p)
{
	char *out = malloc(MIB), *err = malloc(MIB);
	struct reader ro = { p->out[0], MIB, 300, malloc(MIB), 0 };
	struct reader re = { p->err[0], MIB, 300, malloc(MIB), 0 };
	pthread_t to, te;

	fill_pattern(out, MIB, 1);
	fill_pattern(err, MIB, 2);
	/* The readers start late: both pipes fill up and the device must wait. */
	pthread_create(&to, NULL, reader_thread, &ro);
	pthread_create(&te, NULL, reader_thread, &re);
	guest_write_big(g, 2, out, MIB / 2);
	guest_write_big(g, 3, err, MIB / 2);
	guest_write_big(g, 2, out + MIB / 2, MIB / 2);
	guest_write_big(g, 3, err + MIB / 2, MIB / 2);
	pthread_join(to, NULL);
	pthread_join(te, NULL);
	ok(ro.got == MIB && !memcmp(ro.data, out, MIB),
	   "1 MiB on stdout, intact, through a full pipe");
	ok(re.got == MIB && !memcmp(re.data, err, MIB), "1 MiB on stderr, intact, not mixed");
	free(out), free(err), free(ro.data), free(re.data);
}

static void test_drain(struct guest *g, struct pipes *p)
{
	size_t len = 8 * CHUNK;
	char *data = malloc(len);
	struct reader r = { p->out[0], len, 200, malloc(len), 0 };
	pthread_t th;

	fill_pattern(data, len, 3);
	guest_stop_loop(g);
	for (size_t off = 0; off < len; off += CHUNK)
		guest_write(g, 2, data + off, CHUNK);
	pthread_create(&th, NULL, reader_thread, &r);
	g->dev->ops->drain(g->dev);
	pthread_join(th, NULL);
	ok(r.got == len && !memcmp(r.data, data, len), "drain delivers queued output, in order");
	free(data), free(r.data);
}

static bool blocking(int fd)
{
	return !(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

static void test_streams(void)
{
	struct guest g;
	struct pipes p;

	make_pipes(&p);
	struct console_config cfg = {
		.in_fd = p.in[0], .out_fd = p.out[1], .err_fd = p.err[1], .console_log_fd = p.log[1]
	};
	guest_boot(&g, &cfg);
	ok(blocking(p.in[0]) && blocking(p.out[1]) && blocking(p.err[1]),
	   "the caller's fds stay blocking");
	uint32_t nports = 0;
	virtio_mmio_read(&g.t, VIRTIO_MMIO_CONFIG + 4, &nports, 4);
	is_int(nports, 4, "config: max_nr_ports");
	test_handshake(&g);
	test_hostile_control(&g);
	test_streams_separate(&g, &p);
	test_stdin(&g, &p);
	test_big_output(&g, &p);
	test_drain(&g, &p);
	guest_destroy(&g);
	close(p.in[0]), close(p.out[0]), close(p.out[1]), close(p.err[0]), close(p.err[1]);
	close(p.log[0]), close(p.log[1]);
}

/* No log fd, and stderr a socket (cannot be reopened: its flags are borrowed). */
static void test_discarded_log_socket_stderr(void)
{
	struct guest g;
	struct pipes p;
	uint32_t id, len;
	char buf[4];
	int sk[2];

	make_pipes(&p);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sk))
		drv_bail("socketpair");
	struct console_config cfg = {
		.in_fd = p.in[0], .out_fd = p.out[1], .err_fd = sk[1], .console_log_fd = -1
	};
	guest_boot(&g, &cfg);
	guest_write(&g, 0, "kernel noise\n", 13);
	ok(wait_used(&g, PORT_TXQ(0), &id, &len), "no log fd: console output consumed");
	ok(pipe_is_empty(p.out[0]) && pipe_is_empty(sk[0]),
	   "no log fd: console output never reaches stdout or stderr");
	guest_write(&g, 3, "err", 3);
	ok(read_exact(sk[0], buf, 3) && !memcmp(buf, "err", 3), "stderr to a socket");
	guest_destroy(&g);
	ok(blocking(sk[1]), "the socket's flags are restored on destroy");
	close(p.in[0]), close(p.in[1]), close(p.out[0]), close(p.out[1]), close(p.err[0]);
	close(p.err[1]), close(p.log[0]), close(p.log[1]), close(sk[0]), close(sk[1]);
}

static int open_pty(int *slave)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);

	if (master < 0 || grantpt(master) || unlockpt(master))
		drv_bail("pty");
	*slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (*slave < 0)
		drv_bail("pty slave");
	return master;
}

static void test_terminal_io(struct guest *g, int master)
{
	uint32_t id, len;
	char buf[8] = { 0 };

	send_ctrl(g, 0, VIRTIO_CONSOLE_PORT_OPEN, 1); /* hvc opens the console port */
	add_rx_buffers(g, PORT_RXQ(0), 4);
	if (write(master,
		  "\x03"
		  "a\r",
		  3) != 3)
		drv_bail("write pty");
	ok(wait_used(g, PORT_RXQ(0), &id, &len) && len == 3 &&
	       !memcmp(fake_ram_ptr(&ram, g->q[PORT_RXQ(0)].desc[id].addr),
		       "\x03"
		       "a\r",
		       3),
	   "terminal input passes unchanged (^C and CR included)");
	guest_write(g, 0, "x\ny", 3);
	ok(read_exact(master, buf, 3) && !memcmp(buf, "x\ny", 3),
	   "terminal output passes unchanged (no CR added)");
}

static void test_terminal(void)
{
	struct guest g;
	struct termios before, after;
	struct winsize ws = { .ws_col = 120, .ws_row = 40 };
	uint16_t cols = 0, rows = 0;
	int slave, master = open_pty(&slave);

	ioctl(master, TIOCSWINSZ, &ws);
	tcgetattr(slave, &before);
	struct console_config cfg = { .in_fd = slave,
				      .out_fd = slave,
				      .err_fd = slave,
				      .terminal = true,
				      .console_log_fd = -1 };
	guest_boot(&g, &cfg);
	virtio_mmio_read(&g.t, VIRTIO_MMIO_CONFIG, &cols, 2);
	virtio_mmio_read(&g.t, VIRTIO_MMIO_CONFIG + 2, &rows, 2);
	ok(cols == 120 && rows == 40, "terminal: size in config space");
	send_ctrl(&g, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ok(expect_ctrl(&g, 0, VIRTIO_CONSOLE_PORT_ADD, 1), "terminal: a single port");
	send_ctrl(&g, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	ok(expect_ctrl(&g, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1), "terminal: console port");
	ok(expect_ctrl_extra(&g, 0, VIRTIO_CONSOLE_RESIZE, 0, "\x78\x00\x28\x00", 4),
	   "terminal: RESIZE cols 120 rows 40");
	ok(expect_ctrl(&g, 0, VIRTIO_CONSOLE_PORT_OPEN, 1), "terminal: opened");
	test_terminal_io(&g, master);

	uint32_t gen = mmio_r32(&g.t, VIRTIO_MMIO_CONFIG_GENERATION);
	virtio_console_resize(g.dev, 100, 30);
	ok(expect_ctrl_extra(&g, 0, VIRTIO_CONSOLE_RESIZE, 0, "\x64\x00\x1e\x00", 4),
	   "resize: message");
	virtio_mmio_read(&g.t, VIRTIO_MMIO_CONFIG, &cols, 2);
	ok(cols == 100 && mmio_r32(&g.t, VIRTIO_MMIO_CONFIG_GENERATION) == gen + 1,
	   "resize: config space and generation");
	guest_destroy(&g);
	tcgetattr(slave, &after);
	ok(after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag &&
	       after.c_oflag == before.c_oflag,
	   "terminal mode restored on destroy");
	close(master), close(slave);
}

/* Port 4 is set up and named; returns whether the handshake went as expected. */
static bool signal_handshake(struct guest *g)
{
	bool ok_ = true;

	send_ctrl(g, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	for (uint32_t i = 0; i < 5; i++)
		ok_ &= expect_ctrl(g, i, VIRTIO_CONSOLE_PORT_ADD, 1);
	for (uint32_t i = 0; i < 4; i++)
		send_ctrl(g, i, VIRTIO_CONSOLE_PORT_READY, 1);
	ok_ &= expect_ctrl(g, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	ok_ &= expect_ctrl(g, 0, VIRTIO_CONSOLE_PORT_OPEN, 1);
	for (uint32_t i = 1; i < 4; i++) {
		struct msg m;
		ok_ &= recv_ctrl(g, &m) && m.event == VIRTIO_CONSOLE_PORT_NAME;
		ok_ &= expect_ctrl(g, i, VIRTIO_CONSOLE_PORT_OPEN, 1);
	}
	send_ctrl(g, 4, VIRTIO_CONSOLE_PORT_READY, 1);
	ok_ &= expect_ctrl_extra(g, 4, VIRTIO_CONSOLE_PORT_NAME, 1, "krun-signal", 11);
	ok_ &= expect_ctrl(g, 4, VIRTIO_CONSOLE_PORT_OPEN, 1);
	return ok_;
}

/* Waits for one rx buffer of port 4 and compares its bytes with want. */
static bool expect_signals(struct guest *g, const uint8_t *want, uint32_t n)
{
	uint32_t id, len;

	if (!wait_used(g, PORT_RXQ(4), &id, &len) || len != n)
		return false;
	return memcmp(fake_ram_ptr(&ram, g->q[PORT_RXQ(4)].desc[id].addr), want, n) == 0;
}

static void test_signal_records(struct guest *g)
{
	ok(!virtio_console_signal_port_open(g->dev), "signal port: not open before the guest");
	ok(virtio_console_send_signal(g->dev, SIGTERM) == 0 &&
	       virtio_console_send_signal(g->dev, SIGUSR1) == 0,
	   "signal port: signals queued before the guest opens it");
	add_rx_buffers(g, PORT_RXQ(4), 8);
	ok(stays_unused(g, PORT_RXQ(4)), "signal port: nothing delivered before the guest opens");
	send_ctrl(g, 4, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ok(expect_signals(g, (const uint8_t[]){ SIGTERM, SIGUSR1 }, 2),
	   "signal port: the queued signals arrive once opened, in order, one byte each");
	ok(virtio_console_signal_port_open(g->dev), "signal port: open once the guest opened it");

	is_int(virtio_console_send_signal(g->dev, 0), -EINVAL, "signal 0 refused");
	is_int(virtio_console_send_signal(g->dev, 65), -EINVAL, "signal 65 refused");
	is_int(virtio_console_send_signal(g->dev, -1), -EINVAL, "signal -1 refused");
	ok(virtio_console_send_signal(g->dev, 64) == 0 && expect_signals(g, (uint8_t[]){ 64 }, 1),
	   "signal 64 (SIGRTMAX) delivered once open");
}

static void test_signal_hostile_guest(struct guest *g, struct pipes *p)
{
	uint32_t id, len;

	guest_write(g, 4, "\x0f\x0f\x0f\x0fjunk", 8);
	ok(wait_used(g, PORT_TXQ(4), &id, &len), "signal port: guest output consumed");
	ok(pipe_is_empty(p->out[0]) && pipe_is_empty(p->err[0]) && pipe_is_empty(p->log[0]),
	   "signal port: guest output goes nowhere");
	ok(stays_unused(g, PORT_RXQ(4)), "signal port: and produces no signal");
	send_ctrl(g, 4, VIRTIO_CONSOLE_PORT_OPEN, 0);
	usleep(100 * 1000);
	ok(!virtio_console_signal_port_open(g->dev), "signal port: closed by the guest");
}

/* The queue is bounded: a guest that never reads cannot make the host grow. */
static void test_signal_queue_bound(struct guest *g)
{
	int accepted = 0, ret = 0;

	for (int i = 0; i < 2 * CONSOLE_SIGNAL_QUEUE && ret == 0; i++)
		if ((ret = virtio_console_send_signal(g->dev, SIGUSR2)) == 0)
			accepted++;
	is_int(ret, -EAGAIN, "signal queue full: EAGAIN");
	is_int(accepted, CONSOLE_SIGNAL_QUEUE, "signal queue holds CONSOLE_SIGNAL_QUEUE signals");
}

static void test_signal_port(void)
{
	struct guest g;
	struct pipes p;
	uint32_t nports = 0;

	make_pipes(&p);
	struct console_config cfg = { .in_fd = p.in[0],
				      .out_fd = p.out[1],
				      .err_fd = p.err[1],
				      .console_log_fd = p.log[1],
				      .signal_port = true };
	guest_boot(&g, &cfg);
	virtio_mmio_read(&g.t, VIRTIO_MMIO_CONFIG + 4, &nports, 4);
	is_int(nports, 5, "with the signal port: max_nr_ports 5");
	ok(signal_handshake(&g), "signal port: added, named krun-signal, opened by the host");
	test_signal_records(&g);
	test_signal_hostile_guest(&g, &p);
	test_signal_queue_bound(&g);
	mmio_w32(&g.t, VIRTIO_MMIO_STATUS, 0);
	ok(!virtio_console_signal_port_open(g.dev), "signal port: not open after a reset");
	guest_destroy(&g);
	close(p.in[0]), close(p.in[1]), close(p.out[0]), close(p.out[1]), close(p.err[0]);
	close(p.err[1]), close(p.log[0]), close(p.log[1]);
}

static void test_terminal_signal_port(void)
{
	struct guest g;
	uint32_t nports = 0;
	int slave, master = open_pty(&slave);
	struct console_config cfg = { .in_fd = slave,
				      .out_fd = slave,
				      .err_fd = slave,
				      .terminal = true,
				      .console_log_fd = -1,
				      .signal_port = true };

	guest_boot(&g, &cfg);
	virtio_mmio_read(&g.t, VIRTIO_MMIO_CONFIG + 4, &nports, 4);
	is_int(nports, 2, "terminal with the signal port: max_nr_ports 2");
	send_ctrl(&g, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ok(expect_ctrl(&g, 0, VIRTIO_CONSOLE_PORT_ADD, 1) &&
	       expect_ctrl(&g, 1, VIRTIO_CONSOLE_PORT_ADD, 1),
	   "terminal: hvc0 and the signal port");
	send_ctrl(&g, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	ok(expect_ctrl_extra(&g, 1, VIRTIO_CONSOLE_PORT_NAME, 1, "krun-signal", 11) &&
	       expect_ctrl(&g, 1, VIRTIO_CONSOLE_PORT_OPEN, 1),
	   "terminal: port 1 is krun-signal");
	add_rx_buffers(&g, PORT_RXQ(1), 2);
	send_ctrl(&g, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	virtio_console_send_signal(g.dev, SIGINT);
	uint32_t id, len;
	ok(wait_used(&g, PORT_RXQ(1), &id, &len) && len == 1 &&
	       *(uint8_t *)fake_ram_ptr(&ram, g.q[PORT_RXQ(1)].desc[id].addr) == SIGINT,
	   "terminal: a signal reaches the guest");
	guest_destroy(&g);
	close(master), close(slave);
}

static void test_no_signal_port(void)
{
	struct guest g;
	struct console_config cfg = {
		.in_fd = -1, .out_fd = -1, .err_fd = -1, .console_log_fd = -1
	};

	guest_boot(&g, &cfg);
	is_int(virtio_console_send_signal(g.dev, SIGTERM), -ENOTSUP,
	       "no signal port: sending is refused");
	ok(!virtio_console_signal_port_open(g.dev), "no signal port: never open");
	guest_destroy(&g);
}

/* Turns of the event loop while a request is served: its used ring has not moved. */
struct probe {
	bool armed;
	const struct vring_used *used;
	uint16_t idx;
	unsigned long turns;
};

/* Its fd is always readable: it runs once per turn of the event loop, on its thread. */
static void probe(void *opaque, uint32_t events)
{
	struct probe *pr = opaque;
	(void)events;

	if (__atomic_load_n(&pr->armed, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&pr->used->idx, __ATOMIC_ACQUIRE) == pr->idx)
		__atomic_add_fetch(&pr->turns, 1, __ATOMIC_RELAXED);
}

/* One chain of 64 MiB to a stdout that never blocks (a file): written a slice per turn of
 * the event loop, not in one turn. */
static void test_huge_chain_to_file(void)
{
	enum { SEGS = 64 };
	static struct drv_seg segs[SEGS];
	char path[] = "/tmp/console-out-XXXXXX";
	struct guest g;
	struct pipes p;
	krun_error_t err = NULL;
	uint32_t id, len;
	struct stat st;

	make_pipes(&p);
	int out = mkstemp(path);
	if (out < 0)
		drv_bail("mkstemp");
	unlink(path);
	struct console_config cfg = {
		.in_fd = p.in[0], .out_fd = out, .err_fd = p.err[1], .console_log_fd = -1
	};
	guest_boot(&g, &cfg);
	test_handshake(&g);
	struct probe pr = { .used = g.q[PORT_TXQ(2)].used, .idx = g.q[PORT_TXQ(2)].used->idx };
	int efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0 || event_loop_add(g.dev->loop, efd, EPOLLIN, probe, &pr, &err) < 0)
		drv_bail("probe fd");
	uint64_t buf = fake_ram_buf(&ram, NULL, MIB);
	for (unsigned i = 0; i < SEGS; i++)
		segs[i] = (struct drv_seg){ buf, MIB, false };
	vring_driver_add(&g.q[PORT_TXQ(2)], segs, SEGS);
	__atomic_store_n(&pr.armed, true, __ATOMIC_RELEASE);
	kick(&g, PORT_TXQ(2));
	bool used = false;
	for (int i = 0; i < 30000 && !used; i++)
		if (!(used = vring_driver_used(&g.q[PORT_TXQ(2)], &id, &len)))
			usleep(1000);
	unsigned long turns = __atomic_load_n(&pr.turns, __ATOMIC_RELAXED);
	ok(used && fstat(out, &st) == 0 && st.st_size == SEGS * MIB,
	   "a 64 MiB chain reaches the stdout file whole");
	ok(turns >= SEGS * MIB / (256 * 1024) - 2,
	   "at most 256 KiB per turn of the event loop: other fds were served meanwhile");
	guest_destroy(&g);
	close(efd), close(out), close(p.in[0]), close(p.in[1]), close(p.out[0]), close(p.out[1]);
	close(p.err[0]), close(p.err[1]), close(p.log[0]), close(p.log[1]);
}

int main(void)
{
	fake_ram_init(&ram, 256 * MIB);
	test_streams();
	test_discarded_log_socket_stderr();
	test_terminal();
	test_signal_port();
	test_terminal_signal_port();
	test_no_signal_port();
	test_huge_chain_to_file();
	fake_ram_free(&ram);
	return tap_done();
}
