/* The layout of the cgroup file systems, and creating, joining, limiting and removing the
 * container's cgroup in each hierarchy. */
#include "oci/cgroup_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

/* How long destroy waits for the kernel to let go of an emptied cgroup. */
#define CG_RMDIR_TIMEOUT_MS 2000

/* Drops empty and "." components; the result starts with '/' and is not the root. */
static int normalize_path(const char *path, char **out, krun_error_t *err)
{
	size_t len = path ? strlen(path) : 0;
	cleanup_free char *res = xmalloc(len + 2);
	char *end = res;

	for (const char *p = path ? path : ""; *p;) {
		size_t n;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n == 2 && strncmp(p, "..", 2) == 0)
			return krun_make_error(
			    err, 0, "cgroup: cgroupsPath `%s` must not contain `..`", path);
		if (n > 0 && !(n == 1 && *p == '.')) {
			*end++ = '/';
			memcpy(end, p, n);
			end += n;
		}
		p += n;
	}
	*end = '\0';
	if (end == res || end - res >= PATH_MAX)
		return krun_make_error(err, 0,
				       "cgroup: cgroupsPath `%s` must name a cgroup below the root",
				       path ? path : "");
	*out = steal_ptr(&res);
	return 0;
}

static unsigned v1_controllers(const char *name)
{
	cleanup_free char *copy = xstrdup(name);
	unsigned ctrls = 0;
	char *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (int c = 0; c < CG_NCTRL; c++) {
			if (strcmp(tok, cg_ctrl_names[c]) == 0)
				ctrls |= 1u << c;
		}
	}
	return ctrls;
}

static void add_hier(struct cgroup *cg, const char *mount, bool v2)
{
	struct cg_hier *h;

	cg->h = xrealloc(cg->h, (cg->n + 1) * sizeof(*cg->h));
	h = &cg->h[cg->n++];
	h->mount = xstrdup(mount);
	xasprintf(&h->dir, "%s%s", mount, cg->path);
	h->v2 = v2;
	h->ctrls = v2 ? cg_v2_controllers(mount) : v1_controllers(strrchr(mount, '/') + 1);
	h->made = -1;
}

/* Not following symbolic links. */
static bool is_dir(int dirfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, so that the hierarchies are always handled in the same order. Symbolic links
 * ("cpu" -> "cpu,cpuacct") are aliases and skipped. */
static int list_dirs(const char *root, char ***names, size_t *n, krun_error_t *err)
{
	cleanup_dir DIR *d = opendir(root);
	struct dirent *de;

	*names = NULL;
	*n = 0;
	if (!d)
		return krun_make_error(err, errno, "cgroup: open `%s`", root);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !is_dir(dirfd(d), de))
			continue;
		*names = xrealloc(*names, (*n + 1) * sizeof(**names));
		(*names)[(*n)++] = xstrdup(de->d_name);
	}
	qsort(*names, *n, sizeof(**names), by_name);
	return 0;
}

/* cgroup2 at root is the unified layout. Otherwise each directory of root holding
 * cgroup.procs is a hierarchy: cgroup2 when it has cgroup.controllers, else v1 named
 * after its controllers. */
static int detect_layout(struct cgroup *cg, krun_error_t *err)
{
	char **names;
	size_t n;
	bool v1 = false, v2_seen = false;
	int ret;

	if (cg_has_file(cg->root, "cgroup.controllers")) {
		add_hier(cg, cg->root, true);
		cg->mode = CGROUP_UNIFIED;
		return 0;
	}
	ret = list_dirs(cg->root, &names, &n, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *mount = NULL;

		xasprintf(&mount, "%s/%s", cg->root, names[i]);
		free(names[i]);
		if (!cg_has_file(mount, "cgroup.procs"))
			continue;
		bool v2 = cg_has_file(mount, "cgroup.controllers");
		add_hier(cg, mount, v2);
		v1 |= !v2;
		v2_seen |= v2;
	}
	free(names);
	if (cg->n == 0)
		return krun_make_error(err, 0, "cgroup: no cgroup file system under `%s`",
				       cg->root);
	cg->mode = !v1 ? CGROUP_UNIFIED : v2_seen ? CGROUP_HYBRID : CGROUP_LEGACY;
	return 0;
}

int cgroup_open(const char *root, const char *path, struct cgroup **out, krun_error_t *err)
{
	cleanup_cgroup struct cgroup *cg = xzalloc(sizeof(*cg));
	int ret;

	cg->root = xstrdup(root);
	ret = normalize_path(path, &cg->path, err);
	if (ret < 0)
		return ret;
	ret = detect_layout(cg, err);
	if (ret < 0)
		return ret;
	*out = steal_ptr(&cg);
	return 0;
}

/* mkdir -p of cg->path under the hierarchy, remembering the first level it made. */
static int make_dirs(struct cg_hier *h, const char *path, krun_error_t *err)
{
	cleanup_free char *dir = xstrdup(h->mount);
	int level = 0;

	for (const char *p = path; *p; level++) {
		size_t n = strcspn(p + 1, "/") + 1;
		char *longer;

		xasprintf(&longer, "%s%.*s", dir, (int)n, p);
		free(dir);
		dir = longer;
		p += n;
		if (mkdir(dir, 0755) == 0) {
			if (h->made < 0)
				h->made = level;
		} else if (errno != EEXIST) {
			return krun_make_error(err, errno, "cgroup: create `%s`", dir);
		}
	}
	return 0;
}

/* Removes the levels make_dirs made, deepest first. */
static void unmake_dirs(struct cg_hier *h, const char *path)
{
	cleanup_free char *dir = NULL;
	int levels = 0;

	if (h->made < 0)
		return;
	for (const char *p = path; *p; p++)
		levels += *p == '/';
	dir = xstrdup(h->dir);
	for (int level = levels - 1; level >= h->made; level--) {
		rmdir(dir);
		*strrchr(dir, '/') = '\0';
	}
	h->made = -1;
}

static int prepare_hier(struct cg_hier *h, const char *path, bool manage_parents, krun_error_t *err)
{
	int ret = make_dirs(h, path, err);

	if (ret < 0)
		return ret;
	if (h->v2 && manage_parents)
		return cg_v2_enable(h, path, err);
	if (!h->v2 && (h->ctrls & (1u << CG_CPUSET)))
		return cg_v1_cpuset_init(h, path, err);
	return 0;
}

/* The directories and controllers in every hierarchy, the limits, then the process. */
static int fill_cgroup(struct cgroup *cg, pid_t pid, const struct oci_resources *r,
		       bool manage_parents, krun_error_t *err)
{
	int ret;

	for (size_t i = 0; i < cg->n; i++) {
		ret = prepare_hier(&cg->h[i], cg->path, manage_parents, err);
		if (ret < 0)
			return ret;
	}
	if (r) {
		ret = cgroup_apply(cg, r, err);
		if (ret < 0)
			return ret;
	}
	if (pid > 0)
		return cgroup_enter(cg, pid, err);
	return 0;
}

int cg_create(const char *root, const char *path, pid_t pid, const struct oci_resources *r,
	      bool manage_parents, struct cgroup **out, krun_error_t *err)
{
	cleanup_cgroup struct cgroup *cg = NULL;
	int ret;

	ret = cgroup_open(root, path, &cg, err);
	if (ret < 0)
		return ret;
	ret = fill_cgroup(cg, pid, r, manage_parents, err);
	if (ret < 0) {
		for (size_t i = 0; i < cg->n; i++)
			unmake_dirs(&cg->h[i], cg->path);
		return ret;
	}
	*out = steal_ptr(&cg);
	return 0;
}

int cgroup_create(const char *root, const char *path, pid_t pid, const struct oci_resources *r,
		  struct cgroup **out, krun_error_t *err)
{
	return cg_create(root, path, pid, r, true, out, err);
}

int cgroup_enter(const struct cgroup *cg, pid_t pid, krun_error_t *err)
{
	for (size_t i = 0; i < cg->n; i++) {
		int ret = cg_write_int(cg->h[i].dir, "cgroup.procs", pid, err);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static int apply_memory(const struct cgroup *cg, const struct oci_resources *r, krun_error_t *err)
{
	const struct cg_hier *h;

	if (!r->has_memory_limit && !r->has_memory_reservation && !r->has_memory_swap)
		return 0;
	if (!(h = cg_find(cg, CG_MEMORY)))
		return cg_missing(err, CG_MEMORY);
	return h->v2 ? cg_v2_memory(h, r, err) : cg_v1_memory(h, r, err);
}

static int apply_cpu(const struct cgroup *cg, const struct oci_resources *r, krun_error_t *err)
{
	const struct cg_hier *h;

	if (!r->has_cpu_shares && !r->has_cpu_quota && !r->has_cpu_period)
		return 0;
	if (!(h = cg_find(cg, CG_CPU)))
		return cg_missing(err, CG_CPU);
	return h->v2 ? cg_v2_cpu(h, r, err) : cg_v1_cpu(h, r, err);
}

/* cpuset and pids use the same file names in both versions. */
static int apply_cpuset(const struct cgroup *cg, const struct oci_resources *r, krun_error_t *err)
{
	const struct cg_hier *h;
	int ret;

	if (!r->cpuset_cpus && !r->cpuset_mems)
		return 0;
	if (!(h = cg_find(cg, CG_CPUSET)))
		return cg_missing(err, CG_CPUSET);
	if (h->v2) {
		ret = cg_v2_check(h, CG_CPUSET, err);
		if (ret < 0)
			return ret;
	}
	if (r->cpuset_cpus) {
		ret = cg_write(h->dir, "cpuset.cpus", r->cpuset_cpus, err);
		if (ret < 0)
			return ret;
	}
	return r->cpuset_mems ? cg_write(h->dir, "cpuset.mems", r->cpuset_mems, err) : 0;
}

static int apply_pids(const struct cgroup *cg, const struct oci_resources *r, krun_error_t *err)
{
	const struct cg_hier *h;
	int ret;

	if (!r->has_pids_limit)
		return 0;
	if (!(h = cg_find(cg, CG_PIDS)))
		return cg_missing(err, CG_PIDS);
	if (h->v2) {
		ret = cg_v2_check(h, CG_PIDS, err);
		if (ret < 0)
			return ret;
	}
	if (r->pids_limit <= 0)
		return cg_write(h->dir, "pids.max", "max", err);
	return cg_write_int(h->dir, "pids.max", r->pids_limit, err);
}

int cgroup_apply(const struct cgroup *cg, const struct oci_resources *r, krun_error_t *err)
{
	int ret;

	ret = apply_memory(cg, r, err);
	if (ret < 0)
		return ret;
	ret = apply_cpu(cg, r, err);
	if (ret < 0)
		return ret;
	ret = apply_cpuset(cg, r, err);
	if (ret < 0)
		return ret;
	return apply_pids(cg, r, err);
}

static int rmdir_retry(const char *dir, krun_error_t *err)
{
	unsigned waited = 0;

	while (rmdir(dir) < 0) {
		if (errno == ENOENT)
			return 0;
		/* The last processes may still be exiting. */
		if (errno != EBUSY || !cg_backoff(&waited, CG_RMDIR_TIMEOUT_MS))
			return krun_make_error(err, errno, "cgroup: remove `%s`", dir);
	}
	return 0;
}

/* Sub-cgroups first; the control files go away with their directory. */
static int remove_tree(const char *dir, int depth, krun_error_t *err)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ? 0 : krun_make_error(err, errno, "cgroup: open `%s`", dir);
	while (depth < 64 && (de = readdir(d))) {
		cleanup_free char *sub = NULL;
		int ret;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    !is_dir(dirfd(d), de))
			continue;
		xasprintf(&sub, "%s/%s", dir, de->d_name);
		ret = remove_tree(sub, depth + 1, err);
		if (ret < 0)
			return ret;
	}
	return rmdir_retry(dir, err);
}

int cgroup_destroy(struct cgroup *cg, krun_error_t *err)
{
	int ret = 0;

	if (cg->systemd_unit)
		ret = cg_systemd_stop(cg->systemd_unit, err);
	for (size_t i = 0; i < cg->n; i++) {
		int r = remove_tree(cg->h[i].dir, 0, err);

		if (ret == 0)
			ret = r; /* every hierarchy is tried; the first failure is reported */
	}
	return ret;
}

void cgroup_free(struct cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->n; i++) {
		free(cg->h[i].mount);
		free(cg->h[i].dir);
	}
	free(cg->h);
	free(cg->root);
	free(cg->path);
	free(cg->systemd_unit);
	free(cg);
}

enum cgroup_mode cgroup_get_mode(const struct cgroup *cg)
{
	return cg->mode;
}

const char *cgroup_get_path(const struct cgroup *cg)
{
	return cg->path;
}
