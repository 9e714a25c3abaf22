/* What init mounts, decided without touching the system: the file systems every container
 * expects, and the OCI `mounts` entries that belong to the guest kernel (tmpfs, proc,
 * sysfs, devpts, mqueue, cgroup). Bind mounts are the host's: virtio-fs shows them. */
#ifndef KRUN_INIT_MOUNT_PLAN_H
#define KRUN_INIT_MOUNT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include "common.h"
#include "config.h"

/* An OCI option list split the way mount(2) wants it. */
struct mount_options {
	unsigned long flags;	   /* MS_RDONLY, MS_NOSUID... */
	unsigned long propagation; /* MS_PRIVATE, MS_SHARED... (with MS_REC), 0 for none */
	char *data;		   /* the file-system specific rest, comma-separated, or NULL */
	bool bind;		   /* "bind" or "rbind": the host's business */
	bool copy_up;		   /* "tmpcopyup": fill the new tmpfs with what was there */
};

struct mount_entry {
	char *destination; /* normalised absolute path */
	char *fstype;
	char *source;
	struct mount_options options;
	bool best_effort; /* a failure is reported as a warning (optional kernel features) */
};

struct mount_plan {
	struct mount_entry *entries;
	size_t num_entries;
};

/* Splits OCI option strings into flags, propagation and data. Fails on options that make
 * no sense for a new mount ("remount"). */
int mount_options_parse(char *const *options, size_t n, struct mount_options *out,
			struct init_error *err);
void mount_options_free(struct mount_options *o);

/* Lexical normalisation: absolute, no "", "." or ".." components, no trailing slash.
 * A relative path is taken relative to "/". */
char *path_normalize(const char *path);

/* Builds the plan: the defaults not replaced by an OCI guest mount at the same place, then
 * the OCI guest mounts in their order. A default that lives below an OCI guest mount (say
 * the cgroup2 default below an OCI sysfs at /sys) goes right after it, so that it is not
 * hidden. /dev is always the guest's devtmpfs: it holds the virtual devices (console
 * ports) that init and the workload need, so an OCI entry for /dev itself is skipped. */
int mount_plan_build(const struct init_mount *oci, size_t n, struct mount_plan *plan,
		     struct init_error *err);
void mount_plan_free(struct mount_plan *plan);

#endif
