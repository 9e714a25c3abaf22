/* A bundle made ready to boot: config.json parsed, the root file system found, the VM's
 * shape computed from the krun.* annotations and the image's /.krun_vm.json, the guest
 * kernel and init chosen. Shared by the verbs that create a container. */
#ifndef KRUN_OCI_BUNDLE_H
#define KRUN_OCI_BUNDLE_H

#include "oci/config.h"
#include "annotations/vm_config.h"

struct bundle {
	char *path; /* absolute */
	struct oci_config *cfg;
	char *config_json; /* the exact bytes of config.json */
	size_t config_json_len;
	char *rootfs; /* absolute */
	struct vm_config vm;
	int kernel_fd; /* an image's own kernel (kernel_path), opened inside the rootfs */
	char *kernel_path;
	const char *init_path;
};

/* dir: the bundle directory (NULL: the current one). */
int bundle_load(const char *dir, struct bundle *b, krun_error_t *err);
void bundle_release(struct bundle *b);
#define cleanup_bundle __attribute__((cleanup(bundle_release)))

#endif
