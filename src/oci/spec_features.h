/* The documents of `krun spec` (a default config.json) and `krun features` (the OCI
 * features structure), exposed for the unit tests. */
#ifndef KRUN_OCI_SPEC_FEATURES_H
#define KRUN_OCI_SPEC_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The default config.json of a krun bundle, pretty-printed. rootless adds a user namespace
 * that maps root in the container to uid/gid. *len (optional): its length. Caller frees. */
char *oci_spec_generate(bool rootless, uid_t uid, gid_t gid, size_t *len);

/* The features structure, pretty-printed. *len (optional): its length. Caller frees. */
char *oci_features_generate(size_t *len);

/* The OCI mount options krun's host side accepts (NULL-terminated), as listed by
 * `krun features`. */
extern const char *const oci_mount_options[];

#endif
