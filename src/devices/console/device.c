/* virtio-console (multiport): the device, its host fds and its lifecycle. The control
 * protocol is in console_ctrl.c, port data in console_port.c.
 *
 * Host fds: the caller's fds may be shared with the parent (a pipe from conmon, the
 * user's terminal), so we never change their flags behind its back. For pipes, FIFOs,
 * terminals and character devices we open a new description of the same file through
 * /proc/self/fd/N with O_NONBLOCK; regular files are used through a dup (they never
 * block); when reopening fails (a socket), we dup and set O_NONBLOCK on the shared
 * description, and restore its flags on destroy. The caller keeps ownership of the fds
 * in struct console_config. In terminal mode the terminal is put in raw mode (bytes pass
 * unchanged, ^C reaches the guest's line discipline) and restored on destroy. */
#include "devices/console/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static bool fd_pollable(int fd)
{
	struct epoll_event ev = { .events = 0 };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return false;
	bool ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
	close(ep);
	return ok;
}

static int host_fd_open(struct host_fd *h, int fd, int mode, krun_error_t *err)
{
	struct stat st;
	char path[32];

	*h = (struct host_fd){ .fd = -1, .restore_flags = -1 };
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return krun_make_error(err, errno, "console: fd %d", fd);
	bool file = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
	if (!file) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		h->fd = open(path, mode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	}
	if (h->fd < 0) {
		h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (h->fd < 0)
			return krun_make_error(err, errno, "console: duplicate fd %d", fd);
		int flags = fcntl(h->fd, F_GETFL);
		if (!file && flags >= 0 && !(flags & O_NONBLOCK) &&
		    fcntl(h->fd, F_SETFL, flags | O_NONBLOCK) == 0)
			h->restore_flags = flags;
	}
	h->pollable = fd_pollable(h->fd);
	return 0;
}

static void host_fd_close(struct host_fd *h)
{
	if (h->fd < 0)
		return;
	if (h->restore_flags >= 0)
		fcntl(h->fd, F_SETFL, h->restore_flags);
	close_and_reset(&h->fd);
}

static void config_read(struct virtio_device *dev, uint32_t offset, void *data, uint32_t len)
{
	struct console *c = to_console(dev);
	struct virtio_console_config cfg = { 0 };

	pthread_mutex_lock(&c->lock);
	cfg.cols = c->cols;
	cfg.rows = c->rows;
	cfg.max_nr_ports = c->nports;
	pthread_mutex_unlock(&c->lock);
	memcpy(data, (char *)&cfg + offset, len);
}

static void dispatch_kick(struct console *c, unsigned q)
{
	if (q == CTRL_RXQ)
		console_ctrl_flush(c);
	else if (q == CTRL_TXQ)
		console_ctrl_tx(c);
	else if (QUEUE_PORT(q) < c->nports && QUEUE_IS_RX(q))
		console_port_rx(&c->port[QUEUE_PORT(q)]);
	else if (QUEUE_PORT(q) < c->nports)
		console_port_tx(&c->port[QUEUE_PORT(q)]);
}

static void on_kick(void *opaque, uint32_t events)
{
	struct queue_ref *ref = opaque;
	struct console *c = ref->con;
	uint64_t count;

	if (read(c->dev.kick_fd[ref->q], &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->active)
		dispatch_kick(c, ref->q);
	pthread_mutex_unlock(&c->lock);
}

static void unwatch_kicks(struct console *c, unsigned n)
{
	for (unsigned q = 0; q < n; q++)
		event_loop_remove(c->dev.loop, c->dev.kick_fd[q]);
}

/* Kick fds are watched from the first activation to destroy; a kick on an inactive
 * device is read and ignored. */
static int watch_kicks(struct console *c, krun_error_t *err)
{
	for (unsigned q = 0; q < c->dev.ops->num_queues; q++) {
		c->qref[q] = (struct queue_ref){ .con = c, .q = q };
		int ret = event_loop_add(c->dev.loop, c->dev.kick_fd[q], EPOLLIN, on_kick,
					 &c->qref[q], err);
		if (ret < 0) {
			unwatch_kicks(c, q);
			return krun_error_wrap(err, "virtio-console: watch queue %u", q);
		}
	}
	c->kicks_watched = true;
	return 0;
}

static int console_activate(struct virtio_device *dev, krun_error_t *err)
{
	struct console *c = to_console(dev);
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (!c->kicks_watched)
		ret = watch_kicks(c, err);
	c->active = ret == 0;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static void console_reset(struct virtio_device *dev)
{
	struct console *c = to_console(dev);

	pthread_mutex_lock(&c->lock);
	c->active = false;
	for (unsigned i = 0; i < c->nports; i++)
		console_port_forget(&c->port[i]);
	console_ctrl_clear(c);
	pthread_mutex_unlock(&c->lock);
}

static void console_drain(struct virtio_device *dev)
{
	struct console *c = to_console(dev);

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; c->active && i < c->nports; i++)
		console_port_drain(&c->port[i]);
	pthread_mutex_unlock(&c->lock);
}

static void console_destroy(struct virtio_device *dev)
{
	struct console *c = to_console(dev);

	if (c->kicks_watched)
		unwatch_kicks(c, dev->ops->num_queues);
	for (unsigned i = 0; i < c->nports; i++) {
		struct console_port *p = &c->port[i];
		console_port_unwatch(p);
		host_fd_close(&p->in);
		host_fd_close(&p->out);
		free(p->rx);
		free(p->tx);
	}
	if (c->tty_fd >= 0) {
		tcsetattr(c->tty_fd, TCSANOW, &c->saved_tio);
		close(c->tty_fd);
	}
	if (c->signal_wfd >= 0)
		close(c->signal_wfd);
	console_ctrl_clear(c);
	free(c->ctrl_chain);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

#define CONSOLE_OPS(ops_name, nqueues, feature_bits)                                               \
	static const struct virtio_device_ops ops_name = {                                         \
		.name = "virtio-console",                                                          \
		.device_id = VIRTIO_ID_CONSOLE,                                                    \
		.num_queues = (nqueues),                                                           \
		.queue_max_size = CONSOLE_QUEUE_SIZE,                                              \
		.features = (feature_bits),                                                        \
		.config_size = sizeof(struct virtio_console_config),                               \
		.config_read = config_read,                                                        \
		.activate = console_activate,                                                      \
		.reset = console_reset,                                                            \
		.drain = console_drain,                                                            \
		.destroy = console_destroy,                                                        \
	}

/* A terminal is one port (hvc0) with a size; streams are hvc0 plus three named ports;
 * either may have the signal port too. max_nr_ports says how many ports there are, so
 * the queues beyond them are never used. */
CONSOLE_OPS(terminal_ops, 2 + 2 * 2,
	    (1ULL << VIRTIO_CONSOLE_F_MULTIPORT) | (1ULL << VIRTIO_CONSOLE_F_SIZE));
CONSOLE_OPS(streams_ops, 2 + 2 * CONSOLE_MAX_PORTS, 1ULL << VIRTIO_CONSOLE_F_MULTIPORT);

static int add_port(struct console *c, const char *name, int in_fd, int out_fd, bool has_output,
		    krun_error_t *err)
{
	struct console_port *p = &c->port[c->nports];
	int ret;

	*p = (struct console_port){ .con = c, .id = c->nports, .name = name };
	p->out.fd = p->in.fd = -1;
	c->nports++;
	ret = host_fd_open(&p->in, in_fd, O_RDONLY, err);
	if (ret < 0)
		return ret;
	ret = host_fd_open(&p->out, out_fd, O_WRONLY, err);
	if (ret < 0)
		return ret;
	p->has_output = has_output;
	if (p->in.fd >= 0)
		p->rx = xmalloc(sizeof(*p->rx));
	p->tx = xmalloc(sizeof(*p->tx));
	return 0;
}

/* Raw mode, so that the host terminal neither echoes, buffers lines, nor turns ^C into a
 * signal for us: the guest's own terminal does all that. Also reads the size. */
static void setup_terminal(struct console *c, const struct console_config *cfg)
{
	struct winsize ws = { 0 };
	struct termios raw;

	if (ioctl(cfg->in_fd, TIOCGWINSZ, &ws) == 0 || ioctl(cfg->out_fd, TIOCGWINSZ, &ws) == 0) {
		c->cols = ws.ws_col;
		c->rows = ws.ws_row;
	}
	if (cfg->in_fd < 0 || tcgetattr(cfg->in_fd, &c->saved_tio) < 0)
		return;
	c->tty_fd = fcntl(cfg->in_fd, F_DUPFD_CLOEXEC, 3);
	if (c->tty_fd < 0)
		return;
	raw = c->saved_tio;
	cfmakeraw(&raw);
	tcsetattr(c->tty_fd, TCSANOW, &raw);
}

/* The signal port reads its input from a pipe of ours, non-blocking at both ends: the
 * pipe is the queue, and a full one drops signals instead of blocking the sender. It
 * has no output, so whatever the guest writes there is discarded. */
static int add_signal_port(struct console *c, krun_error_t *err)
{
	struct console_port *p = &c->port[c->nports];
	int fds[2];

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return krun_make_error(err, errno, "console: create the signal queue");
	/* The smallest pipe is a page: that many one-byte records at most. */
	fcntl(fds[1], F_SETPIPE_SZ, CONSOLE_SIGNAL_QUEUE);
	*p = (struct console_port){ .con = c, .id = c->nports, .name = CONSOLE_SIGNAL_PORT };
	p->in = (struct host_fd){ .fd = fds[0], .restore_flags = -1, .pollable = true };
	p->out = (struct host_fd){ .fd = -1, .restore_flags = -1 };
	p->rx = xmalloc(sizeof(*p->rx));
	p->tx = xmalloc(sizeof(*p->tx));
	c->nports++;
	c->signal_port = p;
	c->signal_wfd = fds[1];
	return 0;
}

static int add_stream_ports(struct console *c, const struct console_config *cfg, krun_error_t *err)
{
	int ret;

	ret = add_port(c, NULL, -1, cfg->console_log_fd, true, err);
	if (ret < 0)
		return ret;
	ret = add_port(c, "krun-stdin", cfg->in_fd, -1, false, err);
	if (ret < 0)
		return ret;
	ret = add_port(c, "krun-stdout", -1, cfg->out_fd, true, err);
	if (ret < 0)
		return ret;
	return add_port(c, "krun-stderr", -1, cfg->err_fd, true, err);
}

static int add_ports(struct console *c, const struct console_config *cfg, krun_error_t *err)
{
	int ret;

	if (cfg->terminal)
		ret = add_port(c, NULL, cfg->in_fd, cfg->out_fd, true, err);
	else
		ret = add_stream_ports(c, cfg, err);
	if (ret < 0 || !cfg->signal_port)
		return ret;
	return add_signal_port(c, err);
}

int virtio_console_new(const struct console_config *cfg, struct virtio_device **out,
		       krun_error_t *err)
{
	struct console *c = xzalloc(sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	c->dev.ops = cfg->terminal ? &terminal_ops : &streams_ops;
	c->dev.irq_fd = -1;
	c->terminal = cfg->terminal;
	c->tty_fd = -1;
	c->signal_wfd = -1;
	c->outbox_tail = &c->outbox;
	c->ctrl_chain = xmalloc(sizeof(*c->ctrl_chain));
	int ret = add_ports(c, cfg, err);
	if (ret < 0) {
		console_destroy(&c->dev);
		return ret;
	}
	if (cfg->terminal)
		setup_terminal(c, cfg);
	*out = &c->dev;
	return 0;
}

void virtio_console_resize(struct virtio_device *dev, unsigned cols, unsigned rows)
{
	struct console *c = to_console(dev);

	if (!c->terminal)
		return;
	pthread_mutex_lock(&c->lock);
	c->cols = cols > UINT16_MAX ? UINT16_MAX : cols;
	c->rows = rows > UINT16_MAX ? UINT16_MAX : rows;
	bool notify = c->active;
	if (notify)
		console_ctrl_send_resize(c);
	pthread_mutex_unlock(&c->lock);
	if (notify)
		virtio_signal_config(dev);
}

int virtio_console_send_signal(struct virtio_device *dev, int signo)
{
	struct console *c = to_console(dev);
	uint8_t record = (uint8_t)signo;
	ssize_t n;

	if (signo < 1 || signo > CONSOLE_SIGNAL_MAX)
		return -EINVAL;
	if (c->signal_wfd < 0)
		return -ENOTSUP;
	/* One byte is written whole or not at all; the port's watch on the read end takes
	 * it to the guest. */
	do
		n = write(c->signal_wfd, &record, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -errno;
}

bool virtio_console_signal_port_open(struct virtio_device *dev)
{
	struct console *c = to_console(dev);
	bool open;

	if (!c->signal_port)
		return false;
	pthread_mutex_lock(&c->lock);
	open = c->active && c->signal_port->guest_open;
	pthread_mutex_unlock(&c->lock);
	return open;
}
