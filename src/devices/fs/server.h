/* The FUSE passthrough server behind virtio-fs, independent of the transport: it takes one
 * request (the bytes the driver wrote) and writes the reply into the space the driver gave.
 * The virtio-fs device feeds it from its request queue; the unit tests feed it from
 * /dev/fuse, whose wire format is the same. Every function is thread safe; each thread
 * that serves requests must call fs_server_thread_init first. */
#ifndef KRUN_DEVICES_FS_SERVER_H
#define KRUN_DEVICES_FS_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "devices/fs/fs.h"

struct fs_server;

/* A message as a list of segments: a request to read or the space for a reply. */
struct fs_msg {
	const struct iovec *iov;
	unsigned n;
	size_t len; /* sum of the segment lengths */
};

/* A request the server deferred (a lock wait) has finished: `len` reply bytes are in the
 * reply space it was given, or len is 0 when the server dropped it (reset): no reply. */
typedef void (*fs_complete_fn)(void *opaque, void *cookie, size_t len);

/* fs_server_handle's result when the request was deferred: the reply space and cookie
 * must stay valid until complete(cookie, ...) is called. */
#define FS_DEFERRED (-1L)

int fs_server_new(const struct virtio_fs_config *cfg, fs_complete_fn complete, void *opaque,
		  struct fs_server **out, krun_error_t *err);
void fs_server_free(struct fs_server *srv);

/* Prepares the calling thread: private umask 0 and working directory (unshare CLONE_FS),
 * and remembers its capabilities. */
int fs_server_thread_init(struct fs_server *srv, krun_error_t *err);

/* Serves one request. Returns the number of reply bytes written into rsp (0: no reply,
 * e.g. FORGET or a request too malformed to answer), or FS_DEFERRED. */
long fs_server_handle(struct fs_server *srv, const struct fs_msg *req, const struct fs_msg *rsp,
		      void *cookie);

/* Serves one request of the hiprio queue, which the device serves on a thread that must
 * never block: only FORGET, BATCH_FORGET and INTERRUPT; anything else is refused (EPERM). */
long fs_server_handle_hiprio(struct fs_server *srv, const struct fs_msg *req,
			     const struct fs_msg *rsp);

/* Starts a thread with every signal blocked (the VMM's signals are for its own threads). */
int fs_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* Ends the FUSE session: drops pending lock waits (completed with len 0), closes every
 * open file and forgets every inode but the root; the next request must be INIT. */
void fs_server_reset(struct fs_server *srv);

#endif
