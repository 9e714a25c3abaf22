/* The host's end of an exec: the records of src/agent/proto.h over the bridged socket. The
 * socket is written without blocking (a process that does not read its stdin must not stop
 * its output from coming back); the caller's output fds are written blocking, which is
 * the back-pressure a slow reader puts on the guest process. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "agent/client.h"
#include "agent/proto.h"
#include "util/util.h"

#define HDR	  sizeof(struct agent_record_header)
#define TX_ROOM	  (HDR + AGENT_RECORD_MAX + 1024) /* one STDIN record and control records */
#define VM_GONE	  137				  /* as an exec'd process of a dead container */
#define STDIN_MAX (16u << 10)

struct agent_relay {
	struct agent_client *c;
	uint8_t rx[HDR + AGENT_RECORD_MAX];
	size_t rx_len;
	uint8_t tx[TX_ROOM];
	size_t tx_off, tx_len;
	bool started, done, out_broken;
	int status;
};

static bool queue(struct agent_relay *r, uint32_t type, const void *p, size_t len)
{
	struct agent_record_header h = { .type = type, .len = (uint32_t)len };

	if (r->tx_off == r->tx_len)
		r->tx_off = r->tx_len = 0;
	if (sizeof(r->tx) - r->tx_len < HDR + len)
		return false;
	memcpy(r->tx + r->tx_len, &h, HDR);
	memcpy(r->tx + r->tx_len + HDR, p, len);
	r->tx_len += HDR + len;
	return true;
}

static int flush(struct agent_relay *r, krun_error_t *err)
{
	while (r->tx_off < r->tx_len) {
		ssize_t n = send(r->c->sock, r->tx + r->tx_off, r->tx_len - r->tx_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			r->done = true; /* the VM went away: its answer (none) is read next */
			r->status = VM_GONE;
			return 0;
		}
		if (n < 0)
			return krun_make_error(err, errno, "exec: write to the agent");
		r->tx_off += (size_t)n;
	}
	return 0;
}

static void send_winsize(struct agent_relay *r)
{
	struct winsize ws;
	uint16_t size[2];

	if (r->c->winsize_from < 0 || ioctl(r->c->winsize_from, TIOCGWINSZ, &ws) < 0)
		return;
	size[0] = ws.ws_row;
	size[1] = ws.ws_col;
	queue(r, AGENT_WINSIZE, size, sizeof(size));
}

static void write_out(struct agent_relay *r, int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	/* A reader that went away loses the rest, as the process' own writes would. */
	while (fd >= 0 && !r->out_broken && len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->out_broken = true;
			return;
		}
		b += n;
		len -= (size_t)n;
	}
}

/* One record from the agent, during the relay. */
static void take(struct agent_relay *r, uint32_t type, const uint8_t *p, uint32_t len)
{
	uint32_t v = 0;

	if (len >= 4)
		memcpy(&v, p, 4);
	switch (type) {
	case AGENT_STDOUT:
		write_out(r, r->c->out, p, len);
		break;
	case AGENT_STDERR:
		write_out(r, r->c->err >= 0 ? r->c->err : r->c->out, p, len);
		break;
	case AGENT_EXIT:
		r->done = true;
		r->status = WIFEXITED(v)     ? WEXITSTATUS(v)
			    : WIFSIGNALED(v) ? 128 + WTERMSIG(v)
					     : 255;
		break;
	case AGENT_ERROR:
		r->done = true;
		r->status = len >= 4 && v > 0 && v < 256 ? (int)v : 125;
		if (r->started && len > 4) { /* the agent gave up on the connection: say why */
			write_out(r, r->c->err >= 0 ? r->c->err : r->c->out, p + 4, len - 4);
			write_out(r, r->c->err >= 0 ? r->c->err : r->c->out, "\n", 1);
		}
		break;
	default: /* STARTED again or unknown: nothing to do */
		break;
	}
}

/* Serves whole records from rx; stops at the first that is not all there. */
static int serve_rx(struct agent_relay *r, krun_error_t *err)
{
	struct agent_record_header h;

	while (!r->done && r->rx_len >= HDR) {
		memcpy(&h, r->rx, HDR);
		if (h.len > AGENT_RECORD_MAX)
			return krun_make_error(err, EPROTO,
					       "exec: the agent sent a record of %u bytes", h.len);
		if (r->rx_len < HDR + h.len)
			break;
		take(r, h.type, r->rx + HDR, h.len);
		r->rx_len -= HDR + h.len;
		memmove(r->rx, r->rx + HDR + h.len, r->rx_len);
	}
	return 0;
}

static int receive(struct agent_relay *r, krun_error_t *err)
{
	ssize_t n = recv(r->c->sock, r->rx + r->rx_len, sizeof(r->rx) - r->rx_len, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0 && (n == 0 || errno == ECONNRESET)) {
		r->done = true;
		r->status = VM_GONE;
		return 0;
	}
	if (n < 0)
		return krun_make_error(err, errno, "exec: read from the agent");
	r->rx_len += (size_t)n;
	/* Before STARTED, agent_client_start reads the answer itself. */
	return r->started ? serve_rx(r, err) : 0;
}

/* The caller's input: one STDIN record at a time, end of input as STDIN_EOF. */
static void read_input(struct agent_relay *r)
{
	uint8_t buf[STDIN_MAX];
	ssize_t n = read(r->c->in, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		queue(r, AGENT_STDIN, buf, (size_t)n);
		return;
	}
	/* End of file, or a terminal whose other side closed (EIO). */
	queue(r, AGENT_STDIN_EOF, NULL, 0);
	r->c->in = -1;
}

static void forward_signals(struct agent_relay *r, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		uint32_t signo = si.ssi_signo;
		if (signo == SIGWINCH && r->c->winsize_from >= 0)
			send_winsize(r);
		else
			queue(r, AGENT_SIGNAL, &signo, sizeof(signo));
	}
}

static int relay_turn(struct agent_relay *r, int sfd, krun_error_t *err)
{
	struct pollfd p[3] = {
		{ r->c->sock, POLLIN | (r->tx_off < r->tx_len ? POLLOUT : 0), 0 },
		{ sfd, POLLIN, 0 },
		{ r->started && r->tx_off == r->tx_len ? r->c->in : -1, POLLIN, 0 },
	};
	int ret;

	if (poll(p, 3, -1) < 0)
		return errno == EINTR ? 0 : krun_make_error(err, errno, "exec: poll");
	if (p[1].revents & POLLIN)
		forward_signals(r, sfd);
	if (p[2].revents)
		read_input(r);
	ret = flush(r, err);
	if (ret < 0 || r->done)
		return ret;
	if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
		return receive(r, err);
	return 0;
}

static struct agent_relay *relay_state(struct agent_client *c)
{
	if (!c->relay) {
		c->relay = xzalloc(sizeof(*c->relay));
		c->relay->c = c;
	}
	return c->relay;
}

void agent_client_release(struct agent_client *c)
{
	free(c->relay);
	c->relay = NULL;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The READY record at the front of rx: 1 when taken, 0 when not all there yet. */
static int take_ready(struct agent_relay *r, krun_error_t *err)
{
	struct agent_record_header h;
	uint32_t version;

	if (r->rx_len < HDR)
		return 0;
	memcpy(&h, r->rx, HDR);
	if (h.type != AGENT_READY || h.len != sizeof(version))
		return krun_make_error(err, EPROTO,
				       "exec: the agent began with record %u, not READY", h.type);
	if (r->rx_len < HDR + h.len)
		return 0;
	memcpy(&version, r->rx + HDR, sizeof(version));
	if (version != AGENT_PROTOCOL_VERSION)
		return krun_make_error(err, EPROTO,
				       "exec: the guest's agent speaks version %u of the exec "
				       "protocol, krun %u (are krun and its init from one build?)",
				       version, AGENT_PROTOCOL_VERSION);
	r->rx_len -= HDR + h.len;
	memmove(r->rx, r->rx + HDR + h.len, r->rx_len);
	return 1;
}

int agent_client_await_ready(struct agent_client *c, int timeout_ms, krun_error_t *err)
{
	struct agent_relay *r = relay_state(c);
	int64_t deadline = now_ms() + timeout_ms;
	int ret;

	while ((ret = take_ready(r, err)) == 0) {
		if (r->done)
			return krun_make_error(
			    err, ECONNRESET,
			    "exec: the connection ended before the agent answered");
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return krun_make_error(err, ETIMEDOUT, "exec: the agent did not answer");
		struct pollfd p = { c->sock, POLLIN, 0 };
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return krun_make_error(err, errno, "exec: poll");
		ret = receive(r, err);
		if (ret < 0)
			return ret;
	}
	return ret < 0 ? ret : 0;
}

int agent_client_start(struct agent_client *c, const char *request, pid_t *pid, int *status,
		       char **why, krun_error_t *err)
{
	struct agent_relay *r = relay_state(c);
	struct agent_record_header h;
	int ret;

	*pid = 0;
	*why = NULL;
	if (strlen(request) > AGENT_RECORD_MAX)
		return krun_make_error(err, E2BIG, "exec: the process is over 64 KiB of JSON");
	queue(r, AGENT_EXEC, request, strlen(request));
	send_winsize(r);
	for (;;) {
		ret = relay_turn(r, -1, err);
		if (ret < 0)
			return ret;
		if (r->done && r->status == VM_GONE)
			return krun_make_error(err, ECONNRESET,
					       "exec: the container's VM ended the connection");
		if (r->rx_len < HDR)
			continue;
		memcpy(&h, r->rx, HDR);
		if (h.len > AGENT_RECORD_MAX || r->rx_len < HDR + h.len)
			continue;
		if (h.type == AGENT_STARTED && h.len == 4) {
			uint32_t guest;
			memcpy(&guest, r->rx + HDR, 4);
			*pid = (pid_t)guest;
		} else if (h.type == AGENT_ERROR && h.len >= 4) {
			take(r, h.type, r->rx + HDR, h.len);
			*status = r->status;
			*why = xzalloc(h.len - 4 + 1);
			memcpy(*why, r->rx + HDR + 4, h.len - 4);
		} else {
			return krun_make_error(err, EPROTO,
					       "exec: the agent answered with record %u", h.type);
		}
		r->rx_len -= HDR + h.len;
		memmove(r->rx, r->rx + HDR + h.len, r->rx_len);
		return 0;
	}
}

int agent_client_relay(struct agent_client *c, const sigset_t *forward, int *status,
		       krun_error_t *err)
{
	struct agent_relay *r = relay_state(c);
	cleanup_close int sfd = signalfd(-1, forward, SFD_CLOEXEC | SFD_NONBLOCK);
	int ret;

	if (sfd < 0)
		return krun_make_error(err, errno, "exec: signalfd");
	r->started = true;
	if (c->in >= 0 && fcntl(c->in, F_SETFL, fcntl(c->in, F_GETFL) | O_NONBLOCK) < 0)
		return krun_make_error(err, errno, "exec: make stdin non-blocking");
	if (c->in < 0)
		queue(r, AGENT_STDIN_EOF, NULL, 0);
	ret = serve_rx(r, err); /* output that came with STARTED */
	while (ret == 0 && !r->done)
		ret = relay_turn(r, sfd, err);
	if (ret < 0)
		return ret;
	*status = r->status;
	return 0;
}
