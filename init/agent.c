/* The exec agent's listener and its connections' lifetimes (agent.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <string.h>
#include <sys/socket.h>
#include "agent_internal.h"
#include "log.h"

/* Only the host may ask for a process: a connection from anywhere else (a guest-local
 * vsock transport, which an image's own kernel may have) is closed unserved. */
static void on_listener(struct loop_watch *w, uint32_t events)
{
	struct agent *a = container_of(w, struct agent, listener);
	struct init_error err = { 0 };

	for (;;) {
		struct sockaddr_vm peer = { 0 };
		socklen_t len = sizeof(peer);
		int fd =
		    accept4(w->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			return; /* EAGAIN, or an aborted connection */
		if (peer.svm_family != AF_VSOCK || peer.svm_cid != VMADDR_CID_HOST) {
			close(fd);
			continue;
		}
		if (agent_adopt(a, fd, &err) < 0)
			log_msg("warning: exec: %s", err.msg);
	}
}

void agent_init(struct agent *a, struct loop *loop)
{
	*a = (struct agent){ .loop = loop };
	a->listener = (struct loop_watch){ .fd = -1, .ready = on_listener };
}

int agent_open(struct agent *a, struct loop *loop, struct init_error *err)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK,
				    .svm_port = AGENT_VSOCK_PORT,
				    .svm_cid = VMADDR_CID_ANY };

	agent_init(a, loop);
	a->listener.fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (a->listener.fd < 0)
		return init_fail(err, errno, "exec: vsock socket");
	if (bind(a->listener.fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(a->listener.fd, 64) < 0) {
		int ret = init_fail(err, errno, "exec: listen on vsock port %u", AGENT_VSOCK_PORT);
		close(a->listener.fd);
		a->listener.fd = -1;
		return ret;
	}
	return loop_add(loop, &a->listener, err);
}

int agent_adopt(struct agent *a, int fd, struct init_error *err)
{
	int flags = fcntl(fd, F_GETFL);

	if (a->nconns >= AGENT_MAX_CONNS) {
		close(fd);
		return init_fail(err, EMFILE, "exec: %u connections already", a->nconns);
	}
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int ret = init_fail(err, errno, "exec: make the connection non-blocking");
		close(fd);
		return ret;
	}
	struct agent_conn *c = conn_new(a, fd);
	c->next = a->conns;
	a->conns = c;
	a->nconns++;
	conn_settle(c);
	return 0;
}

bool agent_reaped(struct agent *a, pid_t pid, int wstatus)
{
	for (struct agent_conn *c = a->conns; c; c = c->next) {
		if (c->pid != pid)
			continue;
		c->pid = 0;
		c->exited = true;
		c->wstatus = wstatus;
		conn_settle(c);
		return true;
	}
	return false;
}

void agent_close(struct agent *a)
{
	while (a->conns)
		conn_free(a->conns);
	if (a->listener.fd >= 0) {
		loop_remove(a->loop, &a->listener);
		close(a->listener.fd);
		a->listener.fd = -1;
	}
}
