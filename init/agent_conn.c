/* One exec connection's I/O: records from the host served in order, the process' output
 * turned into records, and the epoll watches kept to what can make progress (a watch with
 * nothing to do is removed, since a hung-up pipe would otherwise wake the loop forever). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include "agent_internal.h"
#include "log.h"

static void on_sock(struct loop_watch *w, uint32_t events);
static void on_stdout(struct loop_watch *w, uint32_t events);
static void on_stderr(struct loop_watch *w, uint32_t events);
static void on_in(struct loop_watch *w, uint32_t events);

struct agent_conn *conn_new(struct agent *a, int fd)
{
	struct agent_conn *c = xcalloc(1, sizeof(*c));

	c->agent = a;
	c->sock = (struct loop_watch){ .fd = fd, .ready = on_sock };
	c->out[OUT_STDOUT] = (struct loop_watch){ .fd = -1, .ready = on_stdout };
	c->out[OUT_STDERR] = (struct loop_watch){ .fd = -1, .ready = on_stderr };
	c->in = (struct loop_watch){ .fd = -1, .ready = on_in };
	/* The host waits for this before it sends anything: a connection the guest refused
	 * (the agent not listening yet, early in boot) then ends without it, and is retried. */
	uint32_t version = AGENT_PROTOCOL_VERSION;
	conn_queue(c, AGENT_READY, &version, sizeof(version));
	return c;
}

/* Watches w for `want` (0: not at all), from `*now`. */
static void watch(struct agent_conn *c, struct loop_watch *w, uint32_t *now, uint32_t want)
{
	struct init_error err = { 0 };
	int ret = 0;

	if (w->fd < 0 || want == *now)
		return;
	if (want == 0)
		loop_remove(c->agent->loop, w);
	else if (*now == 0)
		ret = loop_add_events(c->agent->loop, w, want, &err);
	else
		ret = loop_set_events(c->agent->loop, w, want, &err);
	if (ret < 0)
		log_msg("warning: exec: %s", err.msg);
	else
		*now = want;
}

static void close_watch(struct agent_conn *c, struct loop_watch *w, uint32_t *now)
{
	if (w->fd < 0)
		return;
	watch(c, w, now, 0);
	close(w->fd);
	w->fd = -1;
}

void conn_free(struct agent_conn *c)
{
	struct agent_conn **p = &c->agent->conns;

	while (*p && *p != c)
		p = &(*p)->next;
	if (*p) {
		*p = c->next;
		c->agent->nconns--;
	}
	/* The host went away (or the VM goes down): nobody stands for the process any more. */
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	close_watch(c, &c->sock, &c->watching_sock);
	for (int i = 0; i < 2; i++)
		close_watch(c, &c->out[i], &c->watching_out[i]);
	close_watch(c, &c->in, &c->watching_in);
	free(c);
}

static size_t tx_room(struct agent_conn *c)
{
	if (c->tx_off > 0) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
	}
	return sizeof(c->tx) - c->tx_len;
}

bool conn_queue(struct agent_conn *c, uint32_t type, const void *payload, size_t len)
{
	struct agent_record_header h = { .type = type, .len = (uint32_t)len };

	if (c->finished || len > AGENT_RECORD_MAX || tx_room(c) < AGENT_HDR + len)
		return false;
	memcpy(c->tx + c->tx_len, &h, AGENT_HDR);
	memcpy(c->tx + c->tx_len + AGENT_HDR, payload, len);
	c->tx_len += AGENT_HDR + len;
	return true;
}

/* The last record: no output or status follows. Room is always kept for it (the output
 * relay leaves AGENT_HDR + sizeof(struct child_failure)-sized space, see out_room). */
static void queue_last(struct agent_conn *c, uint32_t type, const void *payload, size_t len)
{
	if (!conn_queue(c, type, payload, len))
		log_msg("warning: exec: no room for the final record");
	c->finished = true;
}

void conn_fail(struct agent_conn *c, int status, const char *msg)
{
	uint8_t buf[4 + 1024];
	size_t n = strnlen(msg, sizeof(buf) - 4);
	uint32_t st = (uint32_t)status;

	memcpy(buf, &st, 4);
	memcpy(buf + 4, msg, n);
	queue_last(c, AGENT_ERROR, buf, 4 + n);
}

#define FINAL_RESERVE (AGENT_HDR + 4 + 1024)

static size_t out_room(struct agent_conn *c)
{
	size_t room = tx_room(c);

	return room > FINAL_RESERVE + AGENT_HDR ? room - FINAL_RESERVE - AGENT_HDR : 0;
}

/* ---- the host's records ---- */

static void serve_signal(struct agent_conn *c, const uint8_t *p, size_t len)
{
	uint32_t signo;

	if (len != 4)
		return conn_fail(c, STATUS_INIT_FAILED, "exec: a SIGNAL record holds 4 bytes");
	memcpy(&signo, p, 4);
	if (c->pid > 0 && signo > 0 && signo < 65 && kill(c->pid, (int)signo) < 0 && errno != ESRCH)
		log_msg("warning: exec: signal %u to pid %d: %s", signo, c->pid, strerror(errno));
}

static void serve_winsize(struct agent_conn *c, const uint8_t *p, size_t len)
{
	struct winsize ws = { 0 };
	uint16_t rc[2];

	if (len != 4)
		return conn_fail(c, STATUS_INIT_FAILED, "exec: a WINSIZE record holds 4 bytes");
	memcpy(rc, p, 4);
	ws.ws_row = rc[0];
	ws.ws_col = rc[1];
	if (c->in.fd >= 0 && ioctl(c->in.fd, TIOCSWINSZ, &ws) < 0 && errno != ENOTTY)
		log_msg("warning: exec: set the terminal size: %s", strerror(errno));
}

/* Writes what the process takes of a STDIN record; true once all of it is gone. */
static bool serve_stdin(struct agent_conn *c, const uint8_t *p, size_t len)
{
	while (c->in.fd >= 0 && c->stdin_done < len) {
		ssize_t n = write(c->in.fd, p + c->stdin_done, len - c->stdin_done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n < 0) /* the process closed its stdin (EPIPE): what it did not take is lost */
			close_watch(c, &c->in, &c->watching_in);
		else
			c->stdin_done += (size_t)n;
	}
	return true;
}

static void serve_stdin_eof(struct agent_conn *c)
{
	if (c->tty && c->in.fd >= 0) {
		/* A terminal has no end of file of its own: ^D, as a user would type it. */
		static const char eof = 4;
		if (write(c->in.fd, &eof, 1) < 0)
			log_msg("warning: exec: end of input on the terminal: %s", strerror(errno));
		return;
	}
	close_watch(c, &c->in, &c->watching_in);
}

/* Serves the record at the front of rx; false when it must wait (stdin full). */
static bool serve(struct agent_conn *c, uint32_t type, const uint8_t *p, size_t len)
{
	if (type != AGENT_EXEC && !c->started) {
		conn_fail(c, STATUS_INIT_FAILED, "exec: the first record must be EXEC");
		return true;
	}
	switch (type) {
	case AGENT_EXEC:
		if (c->started)
			conn_fail(c, STATUS_INIT_FAILED, "exec: a second EXEC record");
		else
			conn_exec(c, p, len);
		return true;
	case AGENT_STDIN:
		return serve_stdin(c, p, len);
	case AGENT_STDIN_EOF:
		serve_stdin_eof(c);
		return true;
	case AGENT_SIGNAL:
		serve_signal(c, p, len);
		return true;
	case AGENT_WINSIZE:
		serve_winsize(c, p, len);
		return true;
	default:
		conn_fail(c, STATUS_INIT_FAILED, "exec: a record of an unknown type");
		return true;
	}
}

static void serve_records(struct agent_conn *c)
{
	while (!c->finished && c->rx_len >= AGENT_HDR) {
		struct agent_record_header h;
		memcpy(&h, c->rx, AGENT_HDR);
		if (h.len > AGENT_RECORD_MAX)
			return conn_fail(c, STATUS_INIT_FAILED, "exec: a record over 64 KiB");
		if (c->rx_len < AGENT_HDR + h.len)
			return;
		c->stdin_blocked = !serve(c, h.type, c->rx + AGENT_HDR, h.len);
		if (c->stdin_blocked)
			return;
		c->stdin_done = 0;
		c->rx_len -= AGENT_HDR + h.len;
		memmove(c->rx, c->rx + AGENT_HDR + h.len, c->rx_len);
	}
}

/* false when the host is gone. */
static bool receive(struct agent_conn *c)
{
	ssize_t n;

	do
		n = read(c->sock.fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return true;
	if (n <= 0)
		return false;
	c->rx_len += (size_t)n;
	serve_records(c);
	return true;
}

/* false when the host is gone. */
static bool transmit(struct agent_conn *c)
{
	while (c->tx_off < c->tx_len) {
		ssize_t n = send(c->sock.fd, c->tx + c->tx_off, c->tx_len - c->tx_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n < 0)
			return false;
		c->tx_off += (size_t)n;
	}
	return true;
}

static void on_sock(struct loop_watch *w, uint32_t events)
{
	struct agent_conn *c = container_of(w, struct agent_conn, sock);
	bool alive = true;

	if (events & EPOLLOUT)
		alive = transmit(c);
	if (alive && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		alive = receive(c);
	if (!alive)
		return conn_free(c);
	conn_settle(c);
}

/* ---- the process' side ---- */

/* Reads one piece of output into a record. Returns 1 after data, 0 when the stream is
 * over (end of file, or a terminal whose last holder closed it: EIO), -EAGAIN. */
static int relay_out(struct agent_conn *c, int i)
{
	size_t room = out_room(c);
	uint8_t buf[AGENT_OUT_READ];
	ssize_t n;

	if (room == 0)
		return -EAGAIN;
	do
		n = read(c->out[i].fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return -EAGAIN;
	if (n <= 0)
		return 0;
	conn_queue(c, i == OUT_STDERR ? AGENT_STDERR : AGENT_STDOUT, buf, (size_t)n);
	return 1;
}

static void relay_ready(struct agent_conn *c, int i)
{
	if (relay_out(c, i) == 0)
		close_watch(c, &c->out[i], &c->watching_out[i]);
	conn_settle(c);
}

static void on_stdout(struct loop_watch *w, uint32_t events)
{
	relay_ready(container_of(w, struct agent_conn, out[OUT_STDOUT]), OUT_STDOUT);
}

static void on_stderr(struct loop_watch *w, uint32_t events)
{
	relay_ready(container_of(w, struct agent_conn, out[OUT_STDERR]), OUT_STDERR);
}

static void on_in(struct loop_watch *w, uint32_t events)
{
	struct agent_conn *c = container_of(w, struct agent_conn, in);

	if (events & EPOLLERR) /* the reader is gone */
		close_watch(c, &c->in, &c->watching_in);
	serve_records(c);
	conn_settle(c);
}

/* Once the process is reaped: what it left in its pipes goes out, then its status. A
 * pipe still held by a process it left behind reads EAGAIN: that is the end too. Without
 * room for more, it waits for the host to take what is queued. */
static void finish_after_exit(struct agent_conn *c)
{
	for (int i = 0; i < 2; i++) {
		int r = 0;
		while (c->out[i].fd >= 0 && (r = relay_out(c, i)) == 1)
			;
		if (r == 0 || out_room(c) > 0)
			close_watch(c, &c->out[i], &c->watching_out[i]);
	}
	if (c->out[OUT_STDOUT].fd < 0 && c->out[OUT_STDERR].fd < 0) {
		uint32_t st = (uint32_t)c->wstatus;
		close_watch(c, &c->in, &c->watching_in);
		queue_last(c, AGENT_EXIT, &st, 4);
	}
}

void conn_settle(struct agent_conn *c)
{
	uint32_t sock = 0, out;

	if (c->exited && !c->finished)
		finish_after_exit(c);
	if (c->finished && c->tx_off == c->tx_len)
		return conn_free(c);
	if (!c->finished && !c->stdin_blocked && c->rx_len < sizeof(c->rx))
		sock |= EPOLLIN;
	if (c->tx_off < c->tx_len)
		sock |= EPOLLOUT;
	watch(c, &c->sock, &c->watching_sock, sock);
	out = !c->finished && out_room(c) > 0 ? EPOLLIN : 0;
	for (int i = 0; i < 2; i++)
		watch(c, &c->out[i], &c->watching_out[i], out);
	watch(c, &c->in, &c->watching_in, c->stdin_blocked ? EPOLLOUT : 0);
}
