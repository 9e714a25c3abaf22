/* virtio-fs: a FUSE passthrough server for one host directory. It never resolves a path
 * outside root_path. Virtual read-only files (not listed by readdir, found by lookup in
 * the root directory) carry the guest init and the OCI config. The exit-status channel:
 * FUSE_IOCTL with cmd KRUN_IOCTL_EXIT_CODE on the root directory reports the workload's
 * status, delivered to exit_status_fn. */
#ifndef KRUN_DEVICES_FS_H
#define KRUN_DEVICES_FS_H

#include <stddef.h>
#include "devices/virtio/virtio.h"

/* _IO('v', 2): no size bits, so FUSE passes the argument value through untouched. */
#define KRUN_IOCTL_EXIT_CODE 0x7602

struct virtio_fs_virtual_file {
	const char *name; /* a single path component in the root directory */
	const void *data; /* contents, owned by the caller for the device's lifetime... */
	int fd;		  /* ...or, when data is NULL, read with pread from this fd (owned
			     by the caller), so large files stay in the shared page cache */
	size_t size;
	unsigned mode; /* permission bits, e.g. 0555 or 0444 */
};

struct virtio_fs_config {
	const char *tag; /* at most 36 bytes */
	const char *root_path;
	const struct virtio_fs_virtual_file *virtual_files;
	unsigned num_virtual_files;
	unsigned num_workers; /* threads serving requests; 0 picks a default (4) */
	/* Called on a server thread, possibly more than once (the last call wins). */
	void (*exit_status_fn)(void *opaque, int status);
	void *opaque;
};

/* Opens root_path and /proc/self/fd at once: call it in the process that will serve the
 * device, in the mount namespace whose mounts the guest should see, with /proc mounted. */
int virtio_fs_new(const struct virtio_fs_config *cfg, struct virtio_device **out,
		  krun_error_t *err);

#endif
