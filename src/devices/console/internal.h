/* virtio-console internals shared by console.c (device, host fds), console_ctrl.c (the
 * control queues) and console_port.c (port data).
 *
 * Threads: queue and host-fd callbacks run on the event loop thread; activate, reset and
 * config reads come from vCPU threads; drain from whoever stops the VM. Everything below
 * is protected by console.lock. Event-loop watches on host fds are added and removed only
 * on the loop thread, so a reset from a vCPU merely marks the device inactive and each
 * host-fd callback drops its own watch when it finds nothing to do. */
#ifndef KRUN_DEVICES_CONSOLE_INTERNAL_H
#define KRUN_DEVICES_CONSOLE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <termios.h>
#include "devices/console/console.h"
#include "util/util.h"

#define CONSOLE_MAX_PORTS  5
#define CONSOLE_QUEUE_SIZE 64
#define CONSOLE_NUM_QUEUES (2 + 2 * CONSOLE_MAX_PORTS)

/* Queue layout of a multiport console: port 0 rx/tx, control rx/tx, then ports 1.. */
#define CTRL_RXQ       2
#define CTRL_TXQ       3
#define PORT_RXQ(id)   ((id) == 0 ? 0u : 2u + 2u * (id))
#define PORT_TXQ(id)   (PORT_RXQ(id) + 1u)
#define QUEUE_IS_RX(q) ((q) % 2 == 0)
#define QUEUE_PORT(q)  ((q) < 2 ? 0u : (q) / 2u - 1u)

/* A host fd the console reads or writes without blocking. restore_flags >= 0 when we
 * had to set O_NONBLOCK on a description shared with our caller (see host_fd_open). */
struct host_fd {
	int fd;
	int restore_flags;
	bool pollable; /* epoll accepts it; regular files and /dev/null never block */
	bool watched;  /* registered in the event loop */
};

struct console_port {
	struct console *con;
	unsigned id;
	const char *name;   /* NULL for port 0 */
	struct host_fd in;  /* host -> guest; fd -1 when the port has no input */
	struct host_fd out; /* guest -> host; fd -1 discards */
	bool has_output;    /* a port without input or output never opens its host side */
	bool guest_open;    /* the guest holds the port open (its PORT_OPEN messages) */
	bool in_eof;	    /* in.fd reached end of file or failed */
	bool out_failed;    /* out.fd failed for good: discard the rest */

	/* rx chain popped but not filled yet (the input had no data after all) */
	struct vq_chain *rx;
	bool rx_held;
	/* tx chain partly written: the rest of its segments */
	struct vq_chain *tx;
	bool tx_held;
	struct iovec *tx_iov;
	unsigned tx_niov;
};

struct ctrl_msg {
	struct ctrl_msg *next;
	uint32_t len;
	uint8_t data[];
};

struct queue_ref {
	struct console *con;
	unsigned q;
};

struct console {
	struct virtio_device dev;
	pthread_mutex_t lock;
	bool terminal;
	bool active;
	bool kicks_watched;
	unsigned nports;
	struct console_port port[CONSOLE_MAX_PORTS];
	uint16_t cols, rows;

	struct ctrl_msg *outbox, **outbox_tail; /* waiting for control rx buffers */
	unsigned outbox_len;
	struct vq_chain *ctrl_chain;

	struct queue_ref qref[CONSOLE_NUM_QUEUES];
	struct console_port *signal_port; /* NULL without one */
	int signal_wfd;			  /* its queue: the write end of a pipe; -1 if none */
	int tty_fd; /* terminal put in raw mode, restored on destroy; -1 if none */
	struct termios saved_tio;
};

static inline struct console *to_console(struct virtio_device *dev)
{
	return container_of(dev, struct console, dev);
}

/* console_ctrl.c */
void console_ctrl_tx(struct console *c);    /* guest -> host control messages */
void console_ctrl_flush(struct console *c); /* queued messages -> control rx buffers */
void console_ctrl_send(struct console *c, uint32_t id, uint16_t event, uint16_t value,
		       const void *extra, size_t extra_len);
void console_ctrl_send_resize(struct console *c);
void console_ctrl_clear(struct console *c);

/* console_port.c */
void console_port_rx(struct console_port *p); /* host input -> guest */
void console_port_tx(struct console_port *p); /* guest output -> host */
void console_port_drain(struct console_port *p);
void console_port_forget(struct console_port *p); /* device reset: drop held chains */
void console_port_unwatch(struct console_port *p);
void console_kick_again(struct console *c, unsigned q);

#endif
