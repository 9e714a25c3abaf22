/* The host side of the OCI mounts: what the guest sees through virtio-fs. Runs in the
 * container process, inside its own mount namespace. Bind mounts (volumes, /etc/hosts,
 * resolv.conf...) are made here; proc, sysfs, devpts, mqueue, cgroup and tmpfs belong to
 * the guest kernel and are made by the guest init; nothing under /proc, /sys or /dev is
 * made on the host, because the guest mounts its own there. */
#ifndef KRUN_OCI_MOUNTS_H
#define KRUN_OCI_MOUNTS_H

#include <stdbool.h>
#include "oci/config.h"

struct bind_options {
	bool recursive;
	unsigned long long attr_set; /* MOUNT_ATTR_* */
	unsigned long long attr_clr;
	unsigned long long propagation; /* MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE or 0 */
};

/* Whether m is made by the host (a bind mount outside /proc, /sys and /dev). */
bool mount_is_host_bind(const struct oci_mount *m);
/* The options of a bind mount; unknown options fail naming the mount. */
int bind_options_parse(const struct oci_mount *m, struct bind_options *o, krun_error_t *err);

/* Makes the current mount namespace private (rootfs_propagation: linux.rootfsPropagation
 * or NULL), performs every host bind of cfg below rootfs (creating mount points inside the
 * root without following the image's symlinks out of it), and makes the root read-only
 * when root.readonly is set. bundle resolves relative sources. */
int mounts_setup(const struct oci_config *cfg, const char *bundle, const char *rootfs,
		 krun_error_t *err);

#endif
