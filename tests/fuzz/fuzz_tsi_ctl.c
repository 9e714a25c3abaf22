/* Fuzzes the VMM side of TSI (src/devices/vsock/tsi*.c): control records on the SEQPACKET
 * control connections (OPEN, CONNECT, LISTEN, GETNAME, SETSOCKOPT, BIND, ADOPT and raw
 * garbage, of any length), data and datagram connections, datagram records, and the host
 * side answering: clients connecting to what the guest listens on, servers accepting what
 * the guest connects to. The harness stands where the vsock device stands for the backend
 * (it holds the device's end of each connection the backend returns), while a real
 * virtio-vsock device over fake RAM carries the connections TSI opens towards the guest
 * (accepted clients, which the guest answers so that ADOPT can name them).
 *
 * Host side effects are kept harmless: the harness runs in a network namespace of its own
 * (only a loopback; without one every address is rewritten to loopback), and the container
 * root for AF_UNIX paths is a private tmpfs. Every reply the guest gets is checked against
 * docs/tsi.md's record sizes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/vsock/tsi.h"
#include "fs_test_util.h"
#include "vsock_guest.h"

#define MAX_FDS	    16
#define MAX_ACTIONS 32
#define PORT_TCP    5000 /* host servers the guest may connect to */
#define PORT_UDP    5001
#define PORT_GUEST  6000 /* ports the guest is expected to listen on (6000..6003) */

static struct vg G;
static struct vsock_backend *B;
static char *tmp_dir, *root;
static bool own_netns;
static int tcp4_srv = -1, tcp6_srv = -1, udp_srv = -1, unix_srv = -1;

/* The device's ends of the connections the backend gave, and the host's own sockets. */
static int ctl[MAX_FDS], data[MAX_FDS], dgram[MAX_FDS], host[MAX_FDS];
static bool respond; /* the guest accepts the connections TSI opens to it */
static uint8_t buf[70 * 1024];

static void close_all(int *fds)
{
	for (int i = 0; i < MAX_FDS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static int *slot(struct fuzz_in *in, int *fds)
{
	return &fds[fin_u8(in) % MAX_FDS];
}

static void put(int *fds, int *s, int fd)
{
	if (*s >= 0)
		close(*s);
	*s = fd;
}

/* ---- addresses ---- */

static const char *const unix_paths[] = {
	"/sock", "/dir/s", "/new", "/../../../sock", "/dir/../new2", "/link/s", "/dir", "/nope/x",
};

/* struct tsi_addr as the guest kernel would fill it, or garbage. */
static void addr(struct fuzz_in *in, struct tsi_addr *a)
{
	uint8_t kind = fin_u8(in), port = fin_u8(in);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	/* Ports: the host servers, the guest's listeners, any, or one from the input. */
	uint16_t p = port < 64	  ? PORT_TCP
		     : port < 96  ? PORT_UDP
		     : port < 160 ? PORT_GUEST + port % 4
		     : port < 200 ? 0
				  : port;

	memset(a, 0, sizeof(*a));
	sin.sin_port = sin6.sin6_port = htons(p);
	sin.sin_addr.s_addr = htonl(kind & 0x80 ? INADDR_ANY : INADDR_LOOPBACK);
	switch (kind % 8) {
	case 0: /* none */
		break;
	case 1:
	case 2:
		a->len = sizeof(sin);
		memcpy(a->sa, &sin, sizeof(sin));
		break;
	case 3:
		a->len = sizeof(sin6);
		memcpy(a->sa, &sin6, sizeof(sin6));
		break;
	case 4:
	case 5: {
		const char *path = unix_paths[port % 8];
		strcpy(sun.sun_path, path);
		a->len = offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
		memcpy(a->sa, &sun, a->len);
		break;
	}
	case 6: /* an address outside the loopback: unreachable in our namespace */
		sin.sin_addr.s_addr = htonl(0x0a000001);
		a->len = sizeof(sin);
		memcpy(a->sa, &sin, sizeof(sin));
		break;
	default: /* raw */
		a->len = fin_u8(in);
		if (a->len > 128 && (a->len & 1))
			a->len = fin_u32(in);
		fin_bytes(in, a->sa, sizeof(a->sa) < a->len ? sizeof(a->sa) : a->len);
		break;
	}
}

/* Without a namespace of our own no address may leave the loopback. */
static void confine(struct tsi_addr *a)
{
	sa_family_t family;

	if (own_netns || a->len < sizeof(family))
		return;
	memcpy(&family, a->sa, sizeof(family));
	if (family == AF_INET && a->len >= sizeof(struct sockaddr_in)) {
		struct in_addr lo = { htonl(INADDR_LOOPBACK) };
		memcpy(a->sa + offsetof(struct sockaddr_in, sin_addr), &lo, sizeof(lo));
	} else if (family == AF_INET6 && a->len >= sizeof(struct sockaddr_in6)) {
		memcpy(a->sa + offsetof(struct sockaddr_in6, sin6_addr), &in6addr_loopback,
		       sizeof(in6addr_loopback));
	} else if (family != AF_UNIX) {
		a->len = 0;
	}
}

/* ---- control records ---- */

static const struct {
	uint32_t level, name, len;
} sockopts[] = {
	{ SOL_SOCKET, SO_KEEPALIVE, 4 },  { SOL_SOCKET, SO_LINGER, 8 },
	{ SOL_SOCKET, SO_SNDBUF, 4 },	  { SOL_SOCKET, SO_RCVBUF, 4 },
	{ SOL_SOCKET, SO_BROADCAST, 4 },  { IPPROTO_TCP, TCP_NODELAY, 4 },
	{ IPPROTO_TCP, TCP_KEEPIDLE, 4 }, { IPPROTO_TCP, TCP_KEEPCNT, 4 },
	{ IPPROTO_IP, IP_TOS, 4 },	  { IPPROTO_IPV6, IPV6_UNICAST_HOPS, 4 },
	{ SOL_SOCKET, SO_REUSEADDR, 4 },  { SOL_SOCKET, SO_BINDTODEVICE, 4 },
};

static uint16_t family(uint8_t sel)
{
	static const uint16_t f[] = { AF_INET, AF_INET6, AF_UNIX, AF_INET, AF_NETLINK, AF_PACKET };
	return f[sel % 6];
}

static uint16_t type(uint8_t sel)
{
	static const uint16_t t[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_STREAM, SOCK_RAW,
				      SOCK_SEQPACKET };
	return t[sel % 5];
}

/* Builds one record; returns its length. */
static size_t record(struct fuzz_in *in, uint8_t *rec)
{
	union {
		union tsi_any_req req;
		uint8_t bytes[TSI_REQ_MAX + 88]; /* records longer than any the VMM takes */
	} u;
	uint8_t op = fin_u8(in), idsel = fin_u8(in);
	size_t len = sizeof(u.req.h);

	memset(&u, 0, sizeof(u));
	u.req.h.op = op % 9;
	u.req.h.id = idsel ? idsel : 0;
	switch (u.req.h.op) {
	case TSI_OP_OPEN:
		u.req.open.family = family(fin_u8(in));
		u.req.open.type = type(fin_u8(in));
		u.req.open.data_port = 1024 + fin_u8(in) % 8;
		u.req.open.flags = fin_u8(in);
		u.req.open.flags =
		    u.req.open.flags & 0x80 ? u.req.open.flags : u.req.open.flags & TSI_F_ALL;
		len = sizeof(u.req.open);
		break;
	case TSI_OP_CONNECT:
		addr(in, &u.req.connect.dest);
		addr(in, &u.req.connect.bind);
		confine(&u.req.connect.dest);
		confine(&u.req.connect.bind);
		u.req.connect.flags = fin_u8(in) % 16;
		len = sizeof(u.req.connect);
		break;
	case TSI_OP_LISTEN:
		addr(in, &u.req.listen.bind);
		confine(&u.req.listen.bind);
		u.req.listen.backlog = fin_u8(in) == 0xff ? fin_u32(in) : 4;
		u.req.listen.listen_port = 2000 + fin_u8(in) % 4;
		u.req.listen.flags = fin_u8(in) % 16;
		len = sizeof(u.req.listen);
		break;
	case TSI_OP_GETNAME:
		u.req.getname.peer = fin_u8(in) % 3;
		len = sizeof(u.req.getname);
		break;
	case TSI_OP_SETSOCKOPT: {
		uint8_t sel = fin_u8(in);
		if (sel < 0xf0) {
			u.req.sockopt.level = sockopts[sel % 12].level;
			u.req.sockopt.name = sockopts[sel % 12].name;
			u.req.sockopt.len = sockopts[sel % 12].len;
		} else {
			u.req.sockopt.level = fin_u32(in);
			u.req.sockopt.name = fin_u32(in);
			u.req.sockopt.len = fin_u32(in);
		}
		fin_bytes(in, u.req.sockopt.val, 8);
		len = sizeof(u.req.sockopt);
		break;
	}
	case TSI_OP_BIND:
		addr(in, &u.req.bind.bind);
		confine(&u.req.bind.bind);
		u.req.bind.flags = fin_u8(in) % 16;
		len = sizeof(u.req.bind);
		break;
	case TSI_OP_ADOPT:
		u.req.adopt.family = family(fin_u8(in));
		u.req.adopt.type = type(fin_u8(in));
		u.req.adopt.host_port = TSI_HOST_PORT_BASE + fin_u8(in) % 8;
		u.req.adopt.guest_port = 2000 + fin_u8(in) % 4; /* the listen_port values */
		len = sizeof(u.req.adopt);
		break;
	default: /* an unknown op or raw bytes */
		if (op & 0x80)
			u.req.h.op = fin_u16(in);
		len = sizeof(u.req.h) + fin_bytes(in, u.bytes + sizeof(u.req.h), fin_u8(in));
		break;
	}
	/* A record cut short or made longer. */
	uint8_t lie = fin_u8(in);
	if (lie >= 0xf0)
		len = (lie & 0xf) * (len / 15 + 1) % (len + 1);
	else if (lie >= 0xe0)
		len += (lie & 0xf) * 32;
	if (len > sizeof(u))
		len = sizeof(u);
	memcpy(rec, &u, len);
	return len;
}

/* Every record the guest reads is one of docs/tsi.md's. */
static void check_reply(const uint8_t *r, ssize_t n)
{
	struct tsi_rep h;

	if (n < (ssize_t)sizeof(h))
		fuzz_fail("control reply of %zd bytes", n);
	memcpy(&h, r, sizeof(h));
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "reply id %u op %u: %d (%zd bytes)\n", h.id, h.op, h.result, n);
	if (h.result > 0 || h.result < -4095)
		fuzz_fail("reply result %d", h.result);
	size_t want = sizeof(struct tsi_rep);
	switch (h.op) {
	case TSI_OP_OPEN:
	case TSI_OP_LISTEN:
	case TSI_OP_GETNAME:
	case TSI_OP_BIND:
	case TSI_OP_ADOPT:
		want = sizeof(struct tsi_addr_rep);
		break;
	case TSI_OP_CONNECT:
		want = sizeof(struct tsi_connect_rep);
		break;
	case TSI_EV_ACCEPTED:
		want = sizeof(struct tsi_accepted_ev);
		break;
	}
	/* A bare reply: SETSOCKOPT's, or any refusal before the op's own handling. */
	bool bare = (size_t)n == sizeof(h) && (h.result < 0 || h.op == TSI_OP_SETSOCKOPT);
	if ((size_t)n != want && !bare)
		fuzz_fail("reply to op %u of %zd bytes (want %zu)", h.op, n, want);
	/* Every address in it is at most 128 bytes. */
	for (size_t off = sizeof(h) + (h.op == TSI_EV_ACCEPTED ? 4 : 0);
	     off + sizeof(uint32_t) <= (size_t)n; off += sizeof(struct tsi_addr)) {
		uint32_t alen;
		memcpy(&alen, r + off, sizeof(alen));
		if (alen > TSI_ADDR_MAX)
			fuzz_fail("address of %u bytes in a reply to op %u", alen, h.op);
	}
}

static void drain_ctl(int fd)
{
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		check_reply(buf, n);
}

/* ---- the host side ---- */

static void host_accept(void)
{
	int srv[] = { tcp4_srv, tcp6_srv, unix_srv };

	for (int i = 0; i < 3; i++) {
		int fd;
		while ((fd = accept4(srv[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
			int k = 0;
			while (k < MAX_FDS && host[k] >= 0)
				k++;
			if (k == MAX_FDS) {
				close(fd);
				continue;
			}
			host[k] = fd;
		}
	}
	while (recv(udp_srv, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

/* A host client of what the guest listens on. */
static void host_connect(struct fuzz_in *in)
{
	uint8_t sel = fin_u8(in);
	int *s = slot(in, host);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(PORT_GUEST + sel % 4),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(PORT_GUEST + sel % 4),
				     .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool v6 = sel & 4, udp = sel & 8;
	int fd =
	    socket(v6 ? AF_INET6 : AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return;
	connect(fd, v6 ? (struct sockaddr *)&sin6 : (struct sockaddr *)&sin,
		v6 ? sizeof(sin6) : sizeof(sin));
	if (udp)
		(void)!send(fd, "ping", 4, MSG_DONTWAIT);
	put(host, s, fd);
}

/* The guest answers the connections TSI opens towards its listeners. */
static void on_rx(void *opaque, const struct virtio_vsock_hdr *h, const uint8_t *payload)
{
	if (h->op != VIRTIO_VSOCK_OP_REQUEST)
		return;
	struct virtio_vsock_hdr r = { .src_cid = VSOCK_GUEST_CID,
				      .dst_cid = VSOCK_HOST_CID,
				      .src_port = h->dst_port,
				      .dst_port = h->src_port,
				      .type = h->type,
				      .op =
					  respond ? VIRTIO_VSOCK_OP_RESPONSE : VIRTIO_VSOCK_OP_RST,
				      .buf_alloc = 65536 };
	vg_send(&G, &r, NULL, 0, NULL, 0, false);
}

/* ---- actions ---- */

enum {
	A_CTL,
	A_SEND,
	A_RECV,
	A_CLOSE,
	A_DATA,
	A_DGRAM,
	A_DGRAM_SEND,
	A_HOST_ACCEPT,
	A_HOST_CONNECT,
	A_HOST_IO,
	A_RX,
	A_NUM
};

static void action(struct fuzz_in *in)
{
	uint8_t rec[700];
	int *s;

	switch (fin_u8(in) % A_NUM) {
	case A_CTL: { /* the guest opens a control connection (a new socket) */
		s = slot(in, ctl);
		uint32_t port = 1024 + fin_u8(in) % 8;
		enum vsock_type t = fin_u8(in) & 0x80 ? VSOCK_STREAM : VSOCK_SEQPACKET;
		put(ctl, s, B->ops->connect(B, TSI_PORT_CONTROL, port, t));
		break;
	}
	case A_SEND: {
		s = slot(in, ctl);
		size_t len = record(in, rec);
		if (*s >= 0)
			(void)!send(*s, rec, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	}
	case A_RECV:
		s = slot(in, ctl);
		if (*s >= 0)
			drain_ctl(*s);
		break;
	case A_CLOSE: {
		uint8_t which = fin_u8(in);
		int *fds = which % 3 == 0 ? ctl : which % 3 == 1 ? data : dgram;
		s = slot(in, fds);
		if (*s >= 0 && (which & 0x80))
			shutdown(*s, SHUT_WR);
		else
			put(fds, s, -1);
		break;
	}
	case A_DATA: /* a stream's data connection, and some bytes on it */
		s = slot(in, data);
		put(data, s,
		    B->ops->connect(B, TSI_PORT_STREAM, 1024 + fin_u8(in) % 8, VSOCK_STREAM));
		if (*s >= 0)
			(void)!send(*s, "data", 4, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case A_DGRAM:
		s = slot(in, dgram);
		put(dgram, s,
		    B->ops->connect(B, TSI_PORT_DGRAM, 1024 + fin_u8(in) % 8, VSOCK_SEQPACKET));
		break;
	case A_DGRAM_SEND: {
		struct tsi_addr a;
		s = slot(in, dgram);
		addr(in, &a);
		confine(&a);
		size_t plen = fin_u16(in) % 2048;
		if (fin_u8(in) == 0xff)
			plen = TSI_DGRAM_MAX + fin_u8(in) % 16;
		memcpy(buf, &a, sizeof(a));
		memset(buf + sizeof(a), 'u', plen);
		size_t len = sizeof(a) + plen;
		if (fin_u8(in) >= 0xf0) /* shorter than its address */
			len = fin_u8(in) % sizeof(a);
		if (*s >= 0)
			(void)!send(*s, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	}
	case A_HOST_ACCEPT:
		host_accept();
		break;
	case A_HOST_CONNECT:
		host_connect(in);
		break;
	case A_HOST_IO: { /* the host's sockets (and the guest's data ends) read or write */
		uint8_t how = fin_u8(in);
		int *fds = how & 1 ? host : data;
		s = slot(in, fds);
		if (*s < 0)
			break;
		if (how & 2)
			while (recv(*s, buf, sizeof(buf), MSG_DONTWAIT) > 0)
				;
		else
			(void)!send(*s, buf, 1 + how * 64, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	}
	case A_RX:
		vg_add_rx(&G, 8, VG_HDR + 4096);
		break;
	}
	vg_poll(&G, 8);
	vg_reap(&G);
	for (int i = 0; i < MAX_FDS; i++)
		if (ctl[i] >= 0 && (i & 1))
			drain_ctl(ctl[i]); /* half the guest's sockets read their replies */
}

/* ---- set-up ---- */

static int listener(int family, int type, const void *sa, socklen_t len)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, sa, len) < 0 || (type == SOCK_STREAM && listen(fd, 64) < 0))
		fuzz_fail("host server %d/%d: %s", family, type, strerror(errno));
	return fd;
}

static void loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		fuzz_fail("loopback: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		fuzz_fail("loopback up: %s", strerror(errno));
	close(fd);
}

static int remove_socket(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (S_ISSOCK(st->st_mode) && strcmp(path + strlen(root), "/sock") != 0)
		unlink(path);
	return 0;
}

static void cleanup(void)
{
	umount2(tmp_dir, MNT_DETACH);
	fs_test_rmtree(tmp_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	own_netns = unshare(CLONE_NEWNET) == 0;
	if (own_netns)
		loopback_up();
	else
		fprintf(stderr,
			"fuzz_tsi_ctl: no network namespace of our own (%s): every "
			"address is loopback\n",
			strerror(errno));
	tmp_dir = fs_test_tempdir("krun-fuzz-tsi");
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("fuzz", tmp_dir, "tmpfs", MS_NODEV | MS_NOSUID | MS_NOEXEC, "size=1m") < 0)
		fprintf(stderr, "fuzz_tsi_ctl: no private tmpfs (%s)\n", strerror(errno));
	atexit(cleanup);
	root = fs_test_path(tmp_dir, "root");
	mkdir(root, 0755);
	char *p = fs_test_path(root, "dir");
	mkdir(p, 0755);
	free(p);
	p = fs_test_path(root, "link");
	symlink("/dir", p);
	free(p);

	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(PORT_TCP),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(PORT_TCP),
				     .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	tcp4_srv = listener(AF_INET, SOCK_STREAM, &sin, sizeof(sin));
	tcp6_srv = listener(AF_INET6, SOCK_STREAM, &sin6, sizeof(sin6));
	sin.sin_port = htons(PORT_UDP);
	udp_srv = listener(AF_INET, SOCK_DGRAM, &sin, sizeof(sin));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", root);
	unix_srv = listener(AF_UNIX, SOCK_STREAM, &sun, sizeof(sun));
	for (int i = 0; i < MAX_FDS; i++)
		ctl[i] = data[i] = dgram[i] = host[i] = -1;
	vg_init(&G, 4 << 20);
	G.on_rx = on_rx;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
	struct fuzz_in in = { input, size };
	uint8_t setup = fin_u8(&in);
	struct vsock_tsi_config cfg = { .root_path = setup & 1 ? NULL : root,
					.allow_privileged_ports = setup & 2 };
	krun_error_t err = NULL;

	respond = !(setup & 4);
	if (vsock_tsi_backend_new(&cfg, &B, &err) < 0)
		fuzz_fail("TSI backend: %s", err->msg);
	vg_boot(&G, B, true, setup & 8);
	vg_add_rx(&G, 32, VG_HDR + 4096);
	vg_poll(&G, 4);
	for (unsigned i = 0; i < MAX_ACTIONS && !fin_done(&in); i++)
		action(&in);
	close_all(ctl);
	close_all(data);
	close_all(dgram);
	close_all(host);
	vg_poll(&G, 16);
	host_accept();
	close_all(host);
	vg_destroy(&G); /* destroys the backend too */
	nftw(root, remove_socket, 8, FTW_PHYS);
	return 0;
}
