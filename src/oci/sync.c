/* The set-up handshake between `krun create` and the container process it clones, one
 * SOCK_SEQPACKET message per step. */
#include "oci/sync.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define SYNC_MSG_MAX 2048

struct sync_msg {
	int type;
	char text[SYNC_MSG_MAX];
};

/* SYNC_GO is the runtime's word to the container process; every other message goes the
 * other way. That names the side at the other end in messages. */
static const char *receiver(enum sync_type type)
{
	return type == SYNC_GO ? "the container process" : "the runtime";
}

static const char *sender(enum sync_type type)
{
	return type == SYNC_GO ? "the runtime" : "the container process";
}

static int peer_gone(const char *peer, krun_error_t *err)
{
	return krun_make_error(err, 0, "%s exited during set-up", peer);
}

int sync_send(int fd, enum sync_type type, const char *msg, krun_error_t *err)
{
	struct sync_msg m = { .type = type };
	size_t len = msg ? strnlen(msg, SYNC_MSG_MAX - 1) : 0;

	if (msg)
		memcpy(m.text, msg, len);
	if (send(fd, &m, offsetof(struct sync_msg, text) + len + 1, MSG_NOSIGNAL) >= 0)
		return 0;
	if (errno == EPIPE || errno == ECONNRESET)
		return peer_gone(receiver(type), err);
	return krun_make_error(err, errno, "container set-up: send to %s", receiver(type));
}

int sync_wait(int fd, enum sync_type expected, krun_error_t *err)
{
	return sync_wait_text(fd, expected, NULL, 0, err);
}

int sync_wait_text(int fd, enum sync_type expected, char *text, size_t size, krun_error_t *err)
{
	struct sync_msg m;
	ssize_t n;

	do
		n = recv(fd, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == ECONNRESET)
		return peer_gone(sender(expected), err);
	if (n < 0)
		return krun_make_error(err, errno, "container set-up: receive from %s",
				       sender(expected));
	if (n == 0)
		return peer_gone(sender(expected), err);
	if ((size_t)n <= offsetof(struct sync_msg, text))
		return krun_make_error(err, 0, "container set-up: short message from %s",
				       sender(expected));
	m.text[n - offsetof(struct sync_msg, text) - 1] = '\0';
	if (m.type == SYNC_ERROR)
		return krun_make_error(err, 0, "%s", m.text);
	if (m.type != (int)expected)
		return krun_make_error(err, 0, "container set-up: unexpected message %d", m.type);
	if (size)
		snprintf(text, size, "%s", m.text);
	return 0;
}
