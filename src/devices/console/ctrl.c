/* The multiport control protocol. The guest says DEVICE_READY and we add every port;
 * it says PORT_READY for a port and we describe it (console port, size, name) and open
 * its host side; its PORT_OPEN messages tell us when a program holds the port open, which
 * is when input may flow (the guest discards data for a port nobody opened). Messages to
 * the guest wait in an outbox until it gives us control rx buffers. Runs with
 * console.lock held. */
#include "devices/console/internal.h"

#include <linux/virtio_console.h>
#include <stdlib.h>
#include <string.h>

/* A guest that sends requests but never reads the answers cannot make us grow. */
#define OUTBOX_MAX 256
/* Control messages handled per callback before yielding to the event loop. */
#define CTRL_BUDGET 64

struct console_resize {
	uint16_t cols;
	uint16_t rows;
};

static void outbox_drop_first(struct console *c)
{
	struct ctrl_msg *m = c->outbox;

	c->outbox = m->next;
	if (!c->outbox)
		c->outbox_tail = &c->outbox;
	c->outbox_len--;
	free(m);
}

void console_ctrl_clear(struct console *c)
{
	while (c->outbox)
		outbox_drop_first(c);
}

void console_ctrl_flush(struct console *c)
{
	struct virtqueue *vq = &c->dev.vq[CTRL_RXQ];
	struct vq_chain *chain = c->ctrl_chain;
	bool pushed = false;

	while (c->outbox && virtqueue_pop(vq, chain) > 0) {
		struct ctrl_msg *m = c->outbox;
		size_t n = iov_from_buf(chain->in, chain->nin, 0, m->data, m->len);
		/* A buffer too small for the message gets nothing rather than half of it. */
		virtqueue_push(vq, chain->head, n == m->len ? n : 0);
		outbox_drop_first(c);
		pushed = true;
	}
	if (pushed)
		virtio_signal_used(&c->dev, CTRL_RXQ);
}

void console_ctrl_send(struct console *c, uint32_t id, uint16_t event, uint16_t value,
		       const void *extra, size_t extra_len)
{
	struct virtio_console_control hdr = { .id = id, .event = event, .value = value };

	if (c->outbox_len >= OUTBOX_MAX)
		return;
	struct ctrl_msg *m = xmalloc(sizeof(*m) + sizeof(hdr) + extra_len);
	m->next = NULL;
	m->len = sizeof(hdr) + extra_len;
	memcpy(m->data, &hdr, sizeof(hdr));
	if (extra_len)
		memcpy(m->data + sizeof(hdr), extra, extra_len);
	*c->outbox_tail = m;
	c->outbox_tail = &m->next;
	c->outbox_len++;
	console_ctrl_flush(c);
}

void console_ctrl_send_resize(struct console *c)
{
	struct console_resize size = { .cols = c->cols, .rows = c->rows };

	console_ctrl_send(c, 0, VIRTIO_CONSOLE_RESIZE, 0, &size, sizeof(size));
}

/* The guest finished setting up port p: tell it what the port is and open our side. */
static void announce_port(struct console *c, struct console_port *p)
{
	if (p->id == 0) {
		console_ctrl_send(c, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL, 0);
		if (c->terminal)
			console_ctrl_send_resize(c);
	}
	if (p->name)
		console_ctrl_send(c, p->id, VIRTIO_CONSOLE_PORT_NAME, 1, p->name, strlen(p->name));
	/* An input port at end of file stays closed: the guest then reads EOF. */
	if (p->has_output || (p->in.fd >= 0 && !p->in_eof))
		console_ctrl_send(c, p->id, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0);
}

static void handle_message(struct console *c, const struct virtio_console_control *m)
{
	struct console_port *p = m->id < c->nports ? &c->port[m->id] : NULL;

	switch (m->event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		for (unsigned i = 0; m->value == 1 && i < c->nports; i++)
			console_ctrl_send(c, i, VIRTIO_CONSOLE_PORT_ADD, 1, NULL, 0);
		break;
	case VIRTIO_CONSOLE_PORT_READY:
		if (p && m->value == 1)
			announce_port(c, p);
		break;
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (p) {
			p->guest_open = m->value != 0;
			console_port_rx(p); /* starts or stops reading the host input */
		}
		break;
	default:
		break; /* nothing else is meaningful from the guest */
	}
}

void console_ctrl_tx(struct console *c)
{
	struct virtqueue *vq = &c->dev.vq[CTRL_TXQ];
	struct vq_chain *chain = c->ctrl_chain;
	struct virtio_console_control m;
	bool pushed = false;
	unsigned n;

	for (n = 0; n < CTRL_BUDGET && virtqueue_pop(vq, chain) > 0; n++) {
		size_t len = iov_to_buf(chain->out, chain->nout, 0, &m, sizeof(m));
		/* Return the buffer first: handling may reuse the chain for replies. */
		virtqueue_push(vq, chain->head, 0);
		pushed = true;
		if (len == sizeof(m))
			handle_message(c, &m);
	}
	if (pushed)
		virtio_signal_used(&c->dev, CTRL_TXQ);
	if (n == CTRL_BUDGET)
		console_kick_again(c, CTRL_TXQ);
}
