/* The Linux namespaces of config.json: which ones the container process creates and which
 * it joins by path (opened by the parent, entered by the child).
 *
 * Order matters once a user namespace is involved. The child joins the namespaces given by
 * path and makes its new mount, uts, ipc and cgroup namespaces while it is still host root,
 * so that the binds can reach any host path; then it enters (or makes) the user namespace
 * and becomes root there; a new network namespace comes last, owned by the user namespace,
 * so that the VMM may bind the container's ports in it. A new pid namespace is made at
 * clone time, since only children enter it. */
#ifndef KRUN_OCI_NAMESPACES_H
#define KRUN_OCI_NAMESPACES_H

#include <stdbool.h>
#include <sys/types.h>
#include "oci/config.h"

#define NS_MAX_JOIN 8

struct ns_join {
	int flag; /* CLONE_NEW* */
	int fd;
};

struct ns_plan {
	unsigned long clone_flags;	  /* CLONE_NEWPID or 0 */
	unsigned long unshare_flags;	  /* made by the child before the user namespace */
	unsigned long late_flags;	  /* made after it: CLONE_NEWNET or 0 */
	bool new_user;			  /* the parent writes its id maps */
	struct ns_join join[NS_MAX_JOIN]; /* the user namespace, if joined, comes last */
	size_t n_join;
};

/* Validates linux.namespaces (and the id mappings a new user namespace needs) and opens the
 * paths to join. A mount namespace of its own is always made unless one is joined: the host
 * binds for the guest must stay private. */
int ns_plan_build(const struct oci_config *cfg, struct ns_plan *p, krun_error_t *err);
void ns_plan_release(struct ns_plan *p);
/* A user namespace is joined or made. */
bool ns_plan_has_user(const struct ns_plan *p);

/* Parent, before clone: joining a pid namespace applies to the children made after. */
int ns_join_pid(const struct ns_plan *p, krun_error_t *err);
/* Child: joins every namespace given by path but pid and user. */
int ns_join_paths(const struct ns_plan *p, krun_error_t *err);
/* Child: joins or makes the user namespace (nothing without one). */
int ns_enter_user(const struct ns_plan *p, krun_error_t *err);
/* Child, once the user namespace has its maps: becomes its root. */
int ns_become_root(krun_error_t *err);
/* Child: makes the new namespaces of one stage (unshare_flags or late_flags). */
int ns_unshare(unsigned long flags, krun_error_t *err);

/* Parent: writes the child's uid_map and gid_map from the config. */
int ns_write_id_maps(pid_t pid, const struct oci_config *cfg, krun_error_t *err);

#endif
