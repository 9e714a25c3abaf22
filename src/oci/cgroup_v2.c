/* Limits, controller delegation and the freezer on cgroup2. */
#include "oci/cgroup_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static unsigned controller_bits(const char *list)
{
	unsigned ctrls = 0;

	for (int c = 0; c < CG_NCTRL; c++) {
		if (cg_word_in(list, cg_ctrl_names[c]))
			ctrls |= 1u << c;
	}
	return ctrls;
}

unsigned cg_v2_controllers(const char *dir)
{
	cleanup_free char *list = NULL;

	if (cg_read(dir, "cgroup.controllers", &list, NULL) < 0)
		return 0;
	return controller_bits(list);
}

/* "+a +b" for the controllers of dir not yet in its subtree_control, or NULL. */
static int missing_controllers(const char *dir, char **out, krun_error_t *err)
{
	cleanup_free char *avail = NULL, *enabled = NULL;
	cleanup_free char *req = NULL;
	char *save = NULL;
	int ret;

	ret = cg_read(dir, "cgroup.controllers", &avail, err);
	if (ret < 0)
		return ret;
	ret = cg_read(dir, "cgroup.subtree_control", &enabled, err);
	if (ret < 0)
		return ret;
	req = xstrdup("");
	for (char *w = strtok_r(avail, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		char *longer;

		if (cg_word_in(enabled, w))
			continue;
		xasprintf(&longer, "%s%s+%s", req, *req ? " " : "", w);
		free(req);
		req = longer;
	}
	*out = *req ? steal_ptr(&req) : NULL;
	return 0;
}

/* All at once; when that fails (a controller may refuse, e.g. cpu while realtime tasks
 * are in the way) one by one, and a controller left out is reported by the limit that
 * needs it. A non-root cgroup with processes is left alone: it can take only the threaded
 * controllers, which would turn it into a thread root and forbid our domain cgroup below. */
static int enable_in(const char *dir, bool is_root, krun_error_t *err)
{
	cleanup_free char *req = NULL, *procs = NULL;
	char *save = NULL;
	int ret;

	if (!is_root) {
		ret = cg_read(dir, "cgroup.procs", &procs, err);
		if (ret < 0)
			return ret;
		if (*procs)
			return 0;
	}
	ret = missing_controllers(dir, &req, err);
	if (ret < 0 || !req || cg_write(dir, "cgroup.subtree_control", req, NULL) == 0)
		return ret;
	for (char *w = strtok_r(req, " ", &save); w; w = strtok_r(NULL, " ", &save))
		cg_write(dir, "cgroup.subtree_control", w, NULL);
	return 0;
}

/* Every controller is passed down to the container's cgroup, so that it gets its limits
 * and a nested runtime finds them too. The cgroup itself enables none: processes live in
 * it, and cgroup2 forbids both. */
int cg_v2_enable(const struct cg_hier *h, const char *path, krun_error_t *err)
{
	cleanup_free char *dir = xstrdup(h->mount);

	for (const char *p = path; *p;) {
		size_t n = strcspn(p + 1, "/") + 1;
		char *longer;
		int ret;

		ret = enable_in(dir, p == path, err);
		if (ret < 0)
			return ret;
		xasprintf(&longer, "%s%.*s", dir, (int)n, p);
		free(dir);
		dir = longer;
		p += n;
	}
	return 0;
}

int cg_v2_check(const struct cg_hier *h, enum cg_ctrl ctrl, krun_error_t *err)
{
	cleanup_free char *list = NULL;
	int ret;

	if (!(h->ctrls & (1u << ctrl)))
		return cg_missing(err, ctrl);
	ret = cg_read(h->dir, "cgroup.controllers", &list, err);
	if (ret < 0)
		return ret;
	if (cg_word_in(list, cg_ctrl_names[ctrl]))
		return 0;
	return krun_make_error(err, 0,
			       "cgroup: the %s controller is not enabled for `%s` (its parents' "
			       "cgroup.subtree_control lack it)",
			       cg_ctrl_names[ctrl], h->dir);
}

static int write_limit(const char *dir, const char *file, int64_t v, krun_error_t *err)
{
	return v < 0 ? cg_write(dir, file, "max", err) : cg_write_int(dir, file, v, err);
}

/* OCI's swap is memory + swap; memory.swap.max is the swap alone. */
static int swap_max(const struct oci_resources *r, int64_t *out, krun_error_t *err)
{
	if (r->memory_swap < 0) {
		*out = -1;
		return 0;
	}
	if (!r->has_memory_limit || r->memory_limit < 0)
		return krun_make_error(err, 0,
				       "cgroup: memory.swap (%" PRId64 ") needs a memory.limit on "
				       "cgroup v2",
				       r->memory_swap);
	if (r->memory_swap < r->memory_limit)
		return krun_make_error(err, 0,
				       "cgroup: memory.swap (%" PRId64 ") must be at least "
				       "memory.limit (%" PRId64 ")",
				       r->memory_swap, r->memory_limit);
	*out = r->memory_swap - r->memory_limit;
	return 0;
}

int cg_v2_memory(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err)
{
	bool swap = r->has_memory_swap && cg_has_file(h->dir, "memory.swap.max");
	int64_t swap_value = 0;
	int ret;

	ret = cg_v2_check(h, CG_MEMORY, err);
	if (ret < 0)
		return ret;
	if (swap) {
		ret = swap_max(r, &swap_value, err);
		if (ret < 0)
			return ret;
	}
	if (r->has_memory_limit) {
		ret = write_limit(h->dir, "memory.max", r->memory_limit, err);
		if (ret < 0)
			return ret;
	}
	if (r->has_memory_reservation) {
		ret = write_limit(h->dir, "memory.low", r->memory_reservation, err);
		if (ret < 0)
			return ret;
	}
	return swap ? write_limit(h->dir, "memory.swap.max", swap_value, err) : 0;
}

/* v1 shares [2, 262144] onto v2 weights [1, 10000]. */
static uint64_t shares_to_weight(uint64_t shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

/* cpu.max is "quota period"; a period alone keeps the quota already there. */
static int write_cpu_max(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err)
{
	cleanup_free char *cur = NULL, *value = NULL;
	int ret;

	if (r->has_cpu_quota && r->cpu_quota >= 0)
		xasprintf(&value, "%" PRId64, r->cpu_quota);
	else if (r->has_cpu_quota)
		value = xstrdup("max");
	if (!r->has_cpu_quota) {
		ret = cg_read(h->dir, "cpu.max", &cur, err);
		if (ret < 0)
			return ret;
		xasprintf(&value, "%.*s", (int)strcspn(cur, " "), cur);
	}
	if (r->has_cpu_period) {
		char *longer;

		xasprintf(&longer, "%s %" PRIu64, value, r->cpu_period);
		free(value);
		value = longer;
	}
	return cg_write(h->dir, "cpu.max", value, err);
}

int cg_v2_cpu(const struct cg_hier *h, const struct oci_resources *r, krun_error_t *err)
{
	int ret;

	ret = cg_v2_check(h, CG_CPU, err);
	if (ret < 0)
		return ret;
	if (r->has_cpu_shares) {
		ret = cg_write_int(h->dir, "cpu.weight", (long long)shares_to_weight(r->cpu_shares),
				   err);
		if (ret < 0)
			return ret;
	}
	if (r->has_cpu_quota || r->has_cpu_period)
		return write_cpu_max(h, r, err);
	return 0;
}

int cg_v2_is_frozen(const struct cg_hier *h, bool *frozen, krun_error_t *err)
{
	cleanup_free char *v = NULL;
	int ret = cg_read(h->dir, "cgroup.freeze", &v, err);

	if (ret < 0)
		return ret;
	*frozen = strcmp(v, "1") == 0;
	return 0;
}

static int events_frozen(const struct cg_hier *h, bool *frozen, krun_error_t *err)
{
	cleanup_free char *events = NULL;
	const char *line;
	int ret = cg_read(h->dir, "cgroup.events", &events, err);

	if (ret < 0)
		return ret;
	for (line = events; line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, "frozen ", 7) == 0) {
			*frozen = line[7] == '1';
			return 0;
		}
	}
	return krun_make_error(err, 0, "cgroup: `%s/cgroup.events` has no `frozen` line", h->dir);
}

/* The name of a kernel thread in the cgroup, if there is one (caller frees): no freezer
 * freezes those. Linux before 6.13 puts KVM's kvm-nx-lpage-recovery thread in the cgroup
 * of the process that created the VM. */
static char *kernel_thread_in(const struct cg_hier *h)
{
	cleanup_free char *threads = NULL;
	krun_error_t ignored = NULL;
	char *save = NULL;

	if (cg_read(h->dir, "cgroup.threads", &threads, &ignored) < 0) {
		krun_error_release(&ignored);
		return NULL;
	}
	for (char *tid = strtok_r(threads, "\n", &save); tid; tid = strtok_r(NULL, "\n", &save)) {
		cleanup_free char *path = NULL, *stat = NULL;
		unsigned long flags;
		const char *p;

		xasprintf(&path, "/proc/%s/stat", tid);
		if (read_file_at(AT_FDCWD, path, 4096, &stat, NULL) < 0 ||
		    !(p = strrchr(stat, ')')) ||
		    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
			continue;
		if (flags & 0x00200000 /* PF_KTHREAD */) {
			char *name = strchr(stat, '(');
			char *end = strrchr(stat, ')');

			*end = '\0';
			return xstrdup(name + 1);
		}
	}
	return NULL;
}

int cg_v2_freeze(const struct cg_hier *h, bool frozen, krun_error_t *err)
{
	cleanup_free char *kthread = NULL;
	unsigned waited = 0;
	int ret;

	ret = cg_write(h->dir, "cgroup.freeze", frozen ? "1" : "0", err);
	if (ret < 0)
		return ret;
	do {
		bool now = false;

		ret = events_frozen(h, &now, err);
		if (ret < 0)
			return ret;
		if (now == frozen)
			return 0;
	} while (cg_backoff(&waited, CG_FREEZE_TIMEOUT_MS));
	if (frozen)
		cg_write(h->dir, "cgroup.freeze", "0", NULL);
	if (frozen && (kthread = kernel_thread_in(h)))
		return krun_make_error(
		    err, EBUSY,
		    "cgroup: `%s` cannot be frozen: it holds the kernel thread `%s` "
		    "(KVM on Linux before 6.13 with nx_huge_pages on; load kvm "
		    "with nx_huge_pages=never, or use a newer kernel)",
		    h->dir, kthread);
	return krun_make_error(err, EBUSY, "cgroup: `%s/cgroup.events` did not say `frozen %d`",
			       h->dir, frozen);
}
