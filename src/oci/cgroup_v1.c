/* Limits and the freezer on cgroup v1 hierarchies. */
#include "oci/cgroup_internal.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

/* The kernel keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every step, so
 * which one goes first depends on the old values: when the limit cannot be written first,
 * it is written again after the swap limit. */
int cg_v1_memory(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err)
{
	bool swap = r->has_memory_swap && cg_has_file(h->dir, "memory.memsw.limit_in_bytes");
	krun_error_t first_err = NULL;
	int limit_ret = 0, ret;

	if (r->has_memory_reservation) {
		ret =
		    cg_write_int(h->dir, "memory.soft_limit_in_bytes", r->memory_reservation, err);
		if (ret < 0)
			return ret;
	}
	if (r->has_memory_limit)
		limit_ret = cg_write_int(h->dir, "memory.limit_in_bytes", r->memory_limit,
					 swap ? &first_err : err);
	if (!swap)
		return limit_ret;
	krun_error_release(&first_err);
	ret = cg_write_int(h->dir, "memory.memsw.limit_in_bytes", r->memory_swap, err);
	if (ret < 0 || limit_ret == 0)
		return ret;
	return cg_write_int(h->dir, "memory.limit_in_bytes", r->memory_limit, err);
}

/* The period first: the kernel checks the quota against it. */
int cg_v1_cpu(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err)
{
	int ret;

	if (r->has_cpu_shares) {
		ret = cg_write_int(h->dir, "cpu.shares", (long long)r->cpu_shares, err);
		if (ret < 0)
			return ret;
	}
	if (r->has_cpu_period) {
		ret = cg_write_int(h->dir, "cpu.cfs_period_us", (long long)r->cpu_period, err);
		if (ret < 0)
			return ret;
	}
	if (r->has_cpu_quota)
		return cg_write_int(h->dir, "cpu.cfs_quota_us", r->cpu_quota, err);
	return 0;
}

static int copy_if_empty(const char *parent, const char *dir, const char *file, krun_error_t *err)
{
	cleanup_free char *mine = NULL, *theirs = NULL;
	int ret;

	ret = cg_read(dir, file, &mine, err);
	if (ret < 0)
		return ret;
	if (mine[strspn(mine, " \n")] != '\0')
		return 0;
	ret = cg_read(parent, file, &theirs, err);
	if (ret < 0)
		return ret;
	return cg_write(dir, file, theirs, err);
}

/* A new v1 cpuset starts with no cpus and no mems, and a process cannot join it then
 * (ENOSPC): each level gets its parent's unless it has its own. */
int cg_v1_cpuset_init(const struct cg_hier *h, const char *path, krun_error_t *err)
{
	cleanup_free char *parent = xstrdup(h->mount);

	for (const char *p = path; *p;) {
		size_t n = strcspn(p + 1, "/") + 1;
		cleanup_free char *dir = NULL;
		int ret;

		xasprintf(&dir, "%s%.*s", parent, (int)n, p);
		ret = copy_if_empty(parent, dir, "cpuset.cpus", err);
		if (ret < 0)
			return ret;
		ret = copy_if_empty(parent, dir, "cpuset.mems", err);
		if (ret < 0)
			return ret;
		free(parent);
		parent = steal_ptr(&dir);
		p += n;
	}
	return 0;
}

int cg_v1_is_frozen(const struct cg_hier *h, bool *frozen, krun_error_t *err)
{
	cleanup_free char *state = NULL;
	int ret = cg_read(h->dir, "freezer.state", &state, err);

	if (ret < 0)
		return ret;
	*frozen = strcmp(state, "FROZEN") == 0;
	return 0;
}

/* FREEZING means some task has not stopped yet; writing the state again retries it. */
int cg_v1_freeze(const struct cg_hier *h, bool frozen, krun_error_t *err)
{
	const char *want = frozen ? "FROZEN" : "THAWED";
	unsigned waited = 0;

	do {
		cleanup_free char *state = NULL;
		int ret;

		ret = cg_write(h->dir, "freezer.state", want, err);
		if (ret < 0)
			return ret;
		ret = cg_read(h->dir, "freezer.state", &state, err);
		if (ret < 0)
			return ret;
		if (strcmp(state, want) == 0)
			return 0;
	} while (cg_backoff(&waited, CG_FREEZE_TIMEOUT_MS));
	if (frozen)
		cg_write(h->dir, "freezer.state", "THAWED", NULL);
	return krun_make_error(err, EBUSY, "cgroup: `%s/freezer.state` did not become `%s`", h->dir,
			       want);
}
