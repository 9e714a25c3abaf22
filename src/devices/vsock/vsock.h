/* virtio-vsock (device id 19): the guest is CID 3, the host CID 2. STREAM and SEQPACKET
 * connections the guest opens to the host are handed to a backend, which returns the host
 * fd (a socket, non-blocking) the device then bridges to the guest connection: bytes (or
 * records, for SEQPACKET) both ways with virtio-vsock credit flow control, half-close
 * mapped to shutdown(2), and RST when either side drops the connection.
 *
 * The backend decides what a host port means. virtio_vsock_unix_backend_new maps host port
 * P to the unix socket <dir>/vsock-P.sock; a later TSI proxy provides its own backend and
 * may open connections towards the guest with virtio_vsock_connect_guest. */
#ifndef KRUN_DEVICES_VSOCK_H
#define KRUN_DEVICES_VSOCK_H

#include <stdint.h>
#include "devices/virtio/virtio.h"

#define VSOCK_HOST_CID	      2
#define VSOCK_GUEST_CID	      3
#define VSOCK_MAX_CONNECTIONS 1024 /* default cap; further requests get RST */
/* Default cap of the memory all connections of a VM may hold for host sockets that do not
 * take the guest's data (docs/tsi.md, "Buffers"). */
#define VSOCK_MAX_QUEUED_MEM (256u << 20)

enum vsock_type {
	VSOCK_STREAM = 1,
	VSOCK_SEQPACKET = 2,
};

struct vsock_backend;
struct vsock_backend_ops {
	/* The guest, from its port guest_port, connects to host port host_port. Returns a
	 * connected non-blocking socket (owned by the device from then on; for SEQPACKET it
	 * must keep record boundaries), or a negative errno: the guest then gets RST, which
	 * its connect() reports as ECONNRESET. Runs on the event loop thread. */
	int (*connect)(struct vsock_backend *b, uint32_t host_port, uint32_t guest_port,
		       enum vsock_type type);
	void (*destroy)(struct vsock_backend *b);
};

struct vsock_backend {
	const struct vsock_backend_ops *ops;
	struct virtio_device *dev; /* set by virtio_vsock_new, for virtio_vsock_connect_guest */
};

struct vsock_config {
	struct vsock_backend *backend; /* owned by the device (destroyed with it) */
};

int virtio_vsock_new(const struct vsock_config *cfg, struct virtio_device **out, krun_error_t *err);

/* Raises (or lowers) the connection cap from VSOCK_MAX_CONNECTIONS; before the device is
 * attached only. */
void virtio_vsock_set_max_connections(struct virtio_device *dev, unsigned max);

/* Sets the VM's cap on queued guest data from VSOCK_MAX_QUEUED_MEM: beyond half of it new
 * connections are refused (RST, or -EBUSY for virtio_vsock_connect_guest), and a packet
 * that would take it beyond the cap resets its connection. */
void virtio_vsock_set_queue_limit(struct virtio_device *dev, size_t bytes);

/* Opens a connection from host port host_port to the guest's listening port guest_port and
 * bridges it to fd (taken over whatever the result). Returns 0 once the request is queued
 * (the guest answering RST closes fd), -ENOTCONN while the driver is not active, -EBUSY
 * when the table is full or the pair is in use, -EPROTONOSUPPORT for SEQPACKET when the
 * driver did not negotiate it. Event loop thread only, and not from inside a backend's
 * connect (the device lock is held there). */
int virtio_vsock_connect_guest(struct virtio_device *dev, uint32_t host_port, uint32_t guest_port,
			       enum vsock_type type, int fd);

/* A duplicate of the host fd bridged to the connection between host_port and guest_port,
 * or -ENOENT when no such connection is established. Event loop thread only. */
int virtio_vsock_dup_host_fd(struct virtio_device *dev, uint32_t host_port, uint32_t guest_port);

#endif
