/* Shared by cgroup.c, cgroup_v1.c, cgroup_v2.c and cgroup_systemd.c. */
#ifndef KRUN_OCI_CGROUP_INTERNAL_H
#define KRUN_OCI_CGROUP_INTERNAL_H

#include "oci/cgroup.h"

enum cg_ctrl { CG_CPU, CG_CPUSET, CG_MEMORY, CG_PIDS, CG_FREEZER, CG_NCTRL };

struct cg_hier {
	char *mount; /* the hierarchy's root directory */
	char *dir;   /* mount + the cgroup path */
	bool v2;
	unsigned ctrls; /* 1 << enum cg_ctrl, for the controllers this hierarchy holds */
	int made;	/* the first path level create made (-1: none), for its undo */
};

struct cgroup {
	enum cgroup_mode mode;
	char *root, *path;
	struct cg_hier *h;
	size_t n;
	char *systemd_unit; /* NULL unless the systemd manager made it */
};

/* How long freezing may take; the test host's emulated CPUs are slow. */
#define CG_FREEZE_TIMEOUT_MS 10000

extern const char *const cg_ctrl_names[CG_NCTRL];

/* Opens without checking existence; manage_parents: enable controllers in the parents'
 * cgroup.subtree_control on cgroup2 (systemd does that itself for its units). */
int cg_create(const char *root, const char *path, pid_t pid, const struct oci_resources *r,
	      bool manage_parents, struct cgroup **out, krun_error_t *err);

/* The hierarchy holding ctrl, or NULL. */
const struct cg_hier *cg_find(const struct cgroup *cg, enum cg_ctrl ctrl);
int cg_missing(krun_error_t *err, enum cg_ctrl ctrl);

/* Control files. Errors name the file and, for writes, the value. Reads drop the final
 * newline. */
int cg_write(const char *dir, const char *file, const char *value, krun_error_t *err);
int cg_write_int(const char *dir, const char *file, long long value, krun_error_t *err);
int cg_read(const char *dir, const char *file, char **out, krun_error_t *err);
bool cg_has_file(const char *dir, const char *file);
/* Sleeps a little more each call, and says when timeout_ms have passed in all. */
bool cg_backoff(unsigned *waited_ms, unsigned timeout_ms);

/* Whether the space-separated list holds word. */
bool cg_word_in(const char *list, const char *word);

int cg_v1_memory(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err);
int cg_v1_cpu(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err);
int cg_v1_cpuset(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err);
int cg_v1_cpuset_init(const struct cg_hier *h, const char *path, krun_error_t *err);
int cg_v1_freeze(const struct cg_hier *h, bool frozen, krun_error_t *err);
int cg_v1_is_frozen(const struct cg_hier *h, bool *frozen, krun_error_t *err);

unsigned cg_v2_controllers(const char *dir);
int cg_v2_enable(const struct cg_hier *h, const char *path, krun_error_t *err);
int cg_v2_check(const struct cg_hier *h, enum cg_ctrl ctrl, krun_error_t *err);
int cg_v2_memory(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err);
int cg_v2_cpu(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err);
int cg_v2_freeze(const struct cg_hier *h, bool frozen, krun_error_t *err);
int cg_v2_is_frozen(const struct cg_hier *h, bool *frozen, krun_error_t *err);

int cg_systemd_stop(const char *unit, krun_error_t *err);

#endif
