/* The system side of the mounts: performs a mount plan and the /dev symlinks. */
#ifndef KRUN_INIT_MOUNTS_H
#define KRUN_INIT_MOUNTS_H

#include "common.h"
#include "config.h"
#include "mount_plan.h"

/* Builds and performs the plan for the OCI entries (none when oci is NULL). When the OCI
 * entries are invalid the defaults are still mounted, because the console and the stdio
 * ports live in /dev and /sys, and the error is returned. A best-effort entry that fails
 * is reported on the log and skipped. */
int mounts_setup(const struct init_mount *oci, size_t n, struct init_error *err);

/* /dev/fd, /dev/std{in,out,err} and /dev/ptmx -> pts/ptmx, where the OCI spec puts them. */
int dev_links_setup(struct init_error *err);

#endif
