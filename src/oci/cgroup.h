/* The container's cgroup on the host: created from linux.cgroupsPath, limits from
 * linux.resources, and the operations of the lifecycle verbs (pause, resume, ps,
 * kill --all, delete, update). Works on the three layouts of /sys/fs/cgroup:
 *   legacy  one cgroup v1 hierarchy per directory (cpu,cpuacct / memory / ... / systemd)
 *   hybrid  the same plus cgroup2 at <root>/unified: every hierarchy is joined
 *   unified cgroup2 at <root>
 * A limit goes to whichever hierarchy holds its controller, with that version's files.
 * cgroupsPath is relative to each hierarchy's root ("/a/b" and "a/b" are the same); "."
 * and empty components are dropped, ".." and the root cgroup itself are refused. */
#ifndef KRUN_OCI_CGROUP_H
#define KRUN_OCI_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "oci/resources.h"
#include "util/error.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

enum cgroup_mode { CGROUP_LEGACY, CGROUP_HYBRID, CGROUP_UNIFIED };

struct cgroup;

/* Creates the cgroup in every hierarchy under root (parents too; on cgroup2 the parents'
 * cgroup.subtree_control get every available controller), applies r (may be NULL), then
 * moves pid (when > 0) into it. On failure the directories it made are removed. */
int cgroup_create(const char *root, const char *path, pid_t pid, const struct oci_resources *r,
		  struct cgroup **out, krun_error_t *err);

/* Describes an existing cgroup (a later verb); does not check that it still exists. The
 * operations below fail with -ENOENT once it is gone. */
int cgroup_open(const char *root, const char *path, struct cgroup **out, krun_error_t *err);

/* Moves pid (a whole process) into the cgroup in every hierarchy. */
int cgroup_enter(const struct cgroup *cg, pid_t pid, krun_error_t *err);

/* Writes the limits present in r. A limit whose controller the host lacks is an error
 * ("cgroup: the pids controller is not available on this host"); an absent limit is not
 * touched. memory.swap is memory + swap (OCI); without swap accounting it is skipped. */
int cgroup_apply(const struct cgroup *cg, const struct oci_resources *r, krun_error_t *err);

/* Freezes or thaws every process of the cgroup and waits until the kernel says it is done
 * (v1 freezer, else cgroup2 cgroup.freeze). */
int cgroup_freeze(const struct cgroup *cg, bool frozen, krun_error_t *err);
int cgroup_is_frozen(const struct cgroup *cg, bool *frozen, krun_error_t *err);

/* The pids of the cgroup and its descendants, in one hierarchy. Free *pids. */
int cgroup_pids(const struct cgroup *cg, pid_t **pids, size_t *n, krun_error_t *err);

/* Sends sig to every process of the cgroup, frozen meanwhile when a freezer is available
 * so that none escapes by forking. A paused cgroup stays paused, except after SIGKILL. */
int cgroup_kill_all(const struct cgroup *cg, int sig, krun_error_t *err);

/* Removes the cgroup and its sub-cgroups in every hierarchy (stops the systemd unit
 * first). A cgroup that is already gone is not an error. Does not free cg. */
int cgroup_destroy(struct cgroup *cg, krun_error_t *err);

void cgroup_free(struct cgroup *cg);

static inline void cleanup_cgroupp(struct cgroup **cg)
{
	cgroup_free(*cg);
}
#define cleanup_cgroup __attribute__((cleanup(cleanup_cgroupp)))

enum cgroup_mode cgroup_get_mode(const struct cgroup *cg);
/* The normalized cgroup path ("/libpod_parent/libpod-x"). */
const char *cgroup_get_path(const struct cgroup *cg);

/* --- the systemd cgroup manager (cgroup_systemd.c) --- */

/* cgroupsPath "slice:prefix:name" means the unit "prefix-name.scope" in slice, whose
 * cgroup is the slice's path ("a-b.slice" is /a.slice/a-b.slice) + "/" + unit. An empty
 * slice is system.slice (user.slice when not root); an empty or absent cgroupsPath is
 * "krun-<id>.scope" there. */
struct cgroup_systemd_name {
	char *slice, *unit, *path;
};
int cgroup_systemd_parse(const char *cgroups_path, const char *id, struct cgroup_systemd_name *out,
			 krun_error_t *err);
void cgroup_systemd_name_release(struct cgroup_systemd_name *n);
#define cleanup_systemd_name __attribute__((cleanup(cgroup_systemd_name_release)))

/* Asks systemd (over D-Bus) for a transient scope holding pid, with Delegate=yes, waits
 * until pid is in it, then applies r through the cgroup files like cgroup_create. Fails
 * with a clear message when systemd is not running. */
int cgroup_create_systemd(const char *root, const char *cgroups_path, const char *id, pid_t pid,
			  const struct oci_resources *r, struct cgroup **out, krun_error_t *err);
int cgroup_open_systemd(const char *root, const char *cgroups_path, const char *id,
			struct cgroup **out, krun_error_t *err);

#endif
