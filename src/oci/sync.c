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

int sync_send(int fd, enum sync_type type, const char *msg)
{
	struct sync_msg m = { .type = type };
	size_t len = msg ? strnlen(msg, SYNC_MSG_MAX - 1) : 0;

	if (msg)
		memcpy(m.text, msg, len);
	if (send(fd, &m, offsetof(struct sync_msg, text) + len + 1, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
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
	if (n < 0)
		return krun_make_error(err, errno, "container set-up: receive");
	if (n == 0)
		return krun_make_error(err, 0, "the container process exited during set-up");
	if ((size_t)n <= offsetof(struct sync_msg, text))
		return krun_make_error(err, 0, "container set-up: short message");
	m.text[n - offsetof(struct sync_msg, text) - 1] = '\0';
	if (m.type == SYNC_ERROR)
		return krun_make_error(err, 0, "%s", m.text);
	if (m.type != (int)expected)
		return krun_make_error(err, 0, "container set-up: unexpected message %d", m.type);
	if (size)
		snprintf(text, size, "%s", m.text);
	return 0;
}
