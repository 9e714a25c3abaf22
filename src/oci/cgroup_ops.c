/* What the lifecycle verbs do with an existing cgroup: pause/resume, ps, kill --all. */
#include "oci/cgroup_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

/* The kernel caps cgroup depth far below this; it only bounds the recursion. */
#define CG_MAX_DEPTH 64

/* The v1 freezer when there is one, else cgroup2's own freezer. */
static const struct cg_hier *freezer(const struct cgroup *cg)
{
	const struct cg_hier *h = cg_find(cg, CG_FREEZER);

	for (size_t i = 0; !h && i < cg->n; i++) {
		if (cg->h[i].v2)
			h = &cg->h[i];
	}
	return h;
}

int cgroup_freeze(const struct cgroup *cg, bool frozen, krun_error_t *err)
{
	const struct cg_hier *h = freezer(cg);

	if (!h)
		return cg_missing(err, CG_FREEZER);
	return h->v2 ? cg_v2_freeze(h, frozen, err) : cg_v1_freeze(h, frozen, err);
}

int cgroup_is_frozen(const struct cgroup *cg, bool *frozen, krun_error_t *err)
{
	const struct cg_hier *h = freezer(cg);

	if (!h)
		return cg_missing(err, CG_FREEZER);
	return h->v2 ? cg_v2_is_frozen(h, frozen, err) : cg_v1_is_frozen(h, frozen, err);
}

struct pid_list {
	pid_t *v;
	size_t n;
};

static void pid_list_release(struct pid_list *l)
{
	free(l->v);
}

static void add_pids(struct pid_list *l, const char *procs)
{
	for (const char *p = procs; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0) {
			l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
			l->v[l->n++] = pid;
		}
		p = end + strspn(end, "\n");
	}
}

static int collect(const char *dir, int depth, struct pid_list *l, krun_error_t *err)
{
	cleanup_free char *procs = NULL;
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int ret;

	ret = cg_read(dir, "cgroup.procs", &procs, err);
	if (ret < 0)
		return ret;
	add_pids(l, procs);
	if (depth >= CG_MAX_DEPTH)
		return 0;
	if (!(d = opendir(dir)))
		return krun_make_error(err, errno, "cgroup: open `%s`", dir);
	while ((de = readdir(d))) {
		cleanup_free char *sub = NULL;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		xasprintf(&sub, "%s/%s", dir, de->d_name);
		ret = collect(sub, depth + 1, l, err);
		/* A sub-cgroup may vanish while we walk. */
		if (ret == -ENOENT)
			krun_error_release(err);
		else if (ret < 0)
			return ret;
	}
	return 0;
}

/* Every process is in every hierarchy: one is enough, the freezer's as pause uses it. */
int cgroup_pids(const struct cgroup *cg, pid_t **pids, size_t *n, krun_error_t *err)
{
	const struct cg_hier *h = freezer(cg);
	__attribute__((cleanup(pid_list_release))) struct pid_list l = { 0 };
	int ret;

	ret = collect(h ? h->dir : cg->h[0].dir, 0, &l, err);
	if (ret < 0)
		return ret;
	*n = l.n;
	*pids = steal_ptr(&l.v);
	return 0;
}

static int signal_each(const struct cgroup *cg, int sig, krun_error_t *err)
{
	cleanup_free pid_t *pids = NULL;
	size_t n;
	int ret = cgroup_pids(cg, &pids, &n, err);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		if (kill(pids[i], sig) < 0 && errno != ESRCH)
			return krun_make_error(err, errno, "cgroup: send signal %d to pid %d", sig,
					       pids[i]);
	}
	return 0;
}

int cgroup_kill_all(const struct cgroup *cg, int sig, krun_error_t *err)
{
	bool was_frozen = false, froze;
	int ret, thaw_ret = 0;

	froze = cgroup_is_frozen(cg, &was_frozen, NULL) == 0 && cgroup_freeze(cg, true, NULL) == 0;
	ret = signal_each(cg, sig, err);
	/* A killed process must run to die; any other signal waits for resume. */
	if (froze && (!was_frozen || sig == SIGKILL))
		thaw_ret = cgroup_freeze(cg, false, ret < 0 ? NULL : err);
	return ret < 0 ? ret : thaw_ret;
}
