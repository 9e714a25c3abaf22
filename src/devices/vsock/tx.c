/* Packets from the guest. Nothing in a header is trusted: a packet too short for its
 * header, or not from CID 3 to CID 2, or of a type the driver did not negotiate, is
 * dropped; a bad op or a length that disagrees with the descriptors resets the
 * connection it names (or is answered with RST when it names none). */
#include "devices/vsock/internal.h"

#include <errno.h>

/* Packets handled per call before yielding to the rest of the event loop. */
#define TX_BUDGET 64

bool valid_type(const struct vsock *vs, uint16_t type)
{
	return type == VSOCK_STREAM || (type == VSOCK_SEQPACKET && vs->seqpacket);
}

static void on_request(struct vsock *vs, const struct virtio_vsock_hdr *h)
{
	if (vs->nconns >= vs->max_conns || vsock_mem_tight(vs)) {
		vsock_queue_rst(vs, h, true);
		return;
	}
	int fd = vs->backend->ops->connect(vs->backend, h->dst_port, h->src_port, h->type);
	if (fd < 0) {
		vsock_queue_rst(vs, h, true);
		return;
	}
	struct conn *c = conn_new(vs, h->src_port, h->dst_port, h->type, fd);
	c->state = CONN_CONNECTED;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	conn_set_pending(c, PEND_RESPONSE);
	conn_update(c);
}

static void on_shutdown(struct conn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_no_recv = true;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		c->guest_no_send = true;
	if (conn_flush(c))
		conn_update(c);
}

/* A packet for an existing connection; the header was checked. */
static void on_conn_packet(struct vsock *vs, struct conn *c, const struct virtio_vsock_hdr *h,
			   const struct vq_chain *chain)
{
	if (h->type != c->type) {
		conn_release(c, true);
		return;
	}
	uint32_t old_credit = conn_peer_credit(c);
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (conn_peer_credit(c) > old_credit) {
		c->asked_credit = false;
		if (c->rec) /* a record half delivered waits on credit, not on the fd */
			vsock_rx_list_add(c);
	}

	switch (h->op) {
	case VIRTIO_VSOCK_OP_RST:
		conn_release(c, false);
		return;
	case VIRTIO_VSOCK_OP_REQUEST:
		conn_release(c, true); /* a second request on a live pair */
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != CONN_CONNECTING || (c->pending & PEND_REQUEST)) {
			conn_release(c, true);
			return;
		}
		c->state = CONN_CONNECTED;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		on_shutdown(c, h->flags);
		return;
	case VIRTIO_VSOCK_OP_RW: {
		if (c->state != CONN_CONNECTED) {
			conn_release(c, true);
			return;
		}
		unsigned k = iov_slice(chain->out, chain->nout, VSOCK_HDR_LEN, h->len, vs->scratch);
		if (!conn_from_guest(c, vs->scratch, k, h->len, h->flags & VIRTIO_VSOCK_SEQ_EOM))
			return;
		break;
	}
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		conn_set_pending(c, PEND_CREDIT_UPDATE);
		break;
	default: /* CREDIT_UPDATE: the credit fields were all it carried */
		break;
	}
	conn_update(c);
}

static void handle_packet(struct vsock *vs, const struct vq_chain *chain)
{
	struct virtio_vsock_hdr h;

	if (chain->out_len < VSOCK_HDR_LEN)
		return;
	iov_to_buf(chain->out, chain->nout, 0, &h, VSOCK_HDR_LEN);
	if (h.src_cid != VSOCK_GUEST_CID || h.dst_cid != VSOCK_HOST_CID || !valid_type(vs, h.type))
		return;

	struct conn *c = conn_find(vs, h.src_port, h.dst_port);
	bool bad = h.len > chain->out_len - VSOCK_HDR_LEN || h.len > VSOCK_MAX_PAYLOAD ||
		   h.op < VIRTIO_VSOCK_OP_REQUEST || h.op > VIRTIO_VSOCK_OP_CREDIT_REQUEST;
	if (bad && c)
		conn_release(c, true);
	else if (bad && h.op != VIRTIO_VSOCK_OP_RST)
		vsock_queue_rst(vs, &h, true);
	else if (bad)
		return;
	else if (c)
		on_conn_packet(vs, c, &h, chain);
	else if (h.op == VIRTIO_VSOCK_OP_REQUEST)
		on_request(vs, &h);
	else if (h.op != VIRTIO_VSOCK_OP_RST)
		vsock_queue_rst(vs, &h, true);
}

void vsock_tx_service(struct vsock *vs)
{
	struct virtqueue *vq = &vs->dev.vq[VSOCK_TXQ];
	bool pushed = false;
	unsigned n;

	for (n = 0; n < TX_BUDGET && virtqueue_pop(vq, vs->tx_chain) > 0; n++) {
		handle_packet(vs, vs->tx_chain);
		virtqueue_push(vq, vs->tx_chain->head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_signal_used(&vs->dev, VSOCK_TXQ);
	if (n == TX_BUDGET)
		vsock_kick_again(vs, VSOCK_TXQ);
	vsock_rx_service(vs);
}
