/* The OCI runtime configuration (a bundle's config.json), parsed with yajl into a
 * validated model. Only the fields krun uses are kept; unknown fields are ignored. */
#ifndef KRUN_OCI_CONFIG_H
#define KRUN_OCI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "annotations/json.h"
#include "oci/hooks.h"
#include "oci/resources.h"
#include "util/error.h"

/* config.json is read whole; podman's largest are well below this. */
#define OCI_CONFIG_MAX_SIZE (4u << 20)
/* The document's name in error messages. */
#define OCI_DOC "config.json"

struct oci_rlimit {
	char *type; /* "RLIMIT_NOFILE", ... (validated against the known names) */
	uint64_t soft, hard;
};

struct oci_user {
	uint32_t uid, gid;
	bool has_umask;
	uint32_t umask;
	uint32_t *additional_gids;
	size_t n_additional_gids;
};

struct oci_capabilities {
	struct strv bounding, effective, inheritable, permitted, ambient;
};

struct oci_process {
	bool terminal;
	struct strv args; /* at least one entry */
	struct strv env;
	char *cwd; /* absolute */
	struct oci_user user;
	struct oci_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	bool has_capabilities;
	struct oci_capabilities capabilities;
};

struct oci_mount {
	char *destination;
	char *type, *source; /* NULL when absent */
	struct strv options;
};

struct oci_annotation {
	char *key, *value;
};

struct oci_namespace {
	char *type; /* pid, network, mount, ipc, uts, user, cgroup, time */
	char *path; /* NULL: create a new one */
};

/* One line of linux.uidMappings / gidMappings. */
struct oci_id_mapping {
	uint32_t container_id, host_id, size;
};

struct oci_config {
	char *oci_version;
	char *root_path; /* as written: relative paths are relative to the bundle */
	bool root_readonly;
	bool has_process;
	struct oci_process process;
	char *hostname;
	struct oci_mount *mounts;
	size_t n_mounts;
	struct oci_annotation *annotations; /* in document order, keys unique */
	size_t n_annotations;
	struct oci_resources resources; /* linux.resources */
	struct oci_hooks hooks;
	struct oci_namespace *namespaces;
	size_t n_namespaces;
	char *cgroups_path;
	char *rootfs_propagation; /* NULL: private */
	struct oci_id_mapping *uid_mappings, *gid_mappings;
	size_t n_uid_mappings, n_gid_mappings;
};

/* Parses a config.json document of len bytes (NUL-terminated at text[len]). */
int oci_config_parse(const char *text, size_t len, struct oci_config **out, krun_error_t *err);

/* Reads and parses <bundle>/config.json. *raw (optional) receives the exact bytes, which
 * the guest init reads the process from; *raw_len their length. */
int oci_config_load(const char *bundle, struct oci_config **out, char **raw, size_t *raw_len,
		    krun_error_t *err);

void oci_config_free(struct oci_config *cfg);
static inline void cleanup_oci_configp(struct oci_config **cfg)
{
	oci_config_free(*cfg);
}
#define cleanup_oci_config __attribute__((cleanup(cleanup_oci_configp)))

/* The value of annotation key, or NULL. */
const char *oci_config_annotation(const struct oci_config *cfg, const char *key);

/* Internal to the parser: the process object (config_process.c). */
int oci_parse_process(yajl_val v, struct oci_process *p, krun_error_t *err);
void oci_process_release(struct oci_process *p);

#endif
