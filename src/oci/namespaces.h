/* The Linux namespaces of config.json: which ones the container process creates (clone
 * flags) and which it joins by path (opened by the parent, entered by the child). */
#ifndef KRUN_OCI_NAMESPACES_H
#define KRUN_OCI_NAMESPACES_H

#include <stdbool.h>
#include "config.h"

#define NS_MAX_JOIN 8

struct ns_join {
	int flag; /* CLONE_NEW* */
	int fd;
};

struct ns_plan {
	unsigned long clone_flags; /* created at clone time */
	bool new_cgroup;	   /* created by the child once it is in its cgroup */
	bool new_uts;
	struct ns_join join[NS_MAX_JOIN];
	size_t n_join;
};

/* Validates linux.namespaces and opens the paths to join. A mount namespace of its own is
 * always made unless one is joined: the host binds for the guest must stay private. */
int ns_plan_build(const struct oci_config *cfg, struct ns_plan *p, krun_error_t *err);
void ns_plan_release(struct ns_plan *p);

/* Parent, before clone: joining a pid namespace applies to the children made after. */
int ns_join_pid(const struct ns_plan *p, krun_error_t *err);
/* Child: joins every other namespace given by path, then makes the cgroup namespace. */
int ns_join_rest(const struct ns_plan *p, krun_error_t *err);

#endif
