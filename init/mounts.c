/* Performs a mount plan in the guest and makes the /dev symlinks. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include "copyup.h"
#include "log.h"
#include "mounts.h"

/* Creates dir and its missing parents (mode 0755). */
static int mkdir_p(const char *dir, struct init_error *err)
{
	cleanup_free char *path = xstrdup(dir);

	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return init_fail(err, errno, "create directory `%s`", path);
		*p = saved;
		if (saved == '\0')
			return 0;
	}
}

/* A new tmpfs with "tmpcopyup" starts with a copy of the directory it covers: keep a
 * handle on that directory across the mount, then copy from it. Read-only is applied
 * afterwards, by a remount, or the copy could not be written. */
static int mount_copy_up(const struct mount_entry *e, struct init_error *err)
{
	const struct mount_options *o = &e->options;
	unsigned long flags = o->flags & ~MS_RDONLY;
	cleanup_close int under = open(e->destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (under < 0)
		return init_fail(err, errno, "open `%s` for tmpcopyup", e->destination);
	if (mount(e->source, e->destination, e->fstype, flags, o->data) < 0)
		return init_fail(err, errno, "mount %s on `%s`", e->fstype, e->destination);
	cleanup_close int top = open(e->destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return init_fail(err, errno, "open `%s` after mounting it", e->destination);
	int ret = copy_tree(under, top, err);
	if (ret < 0)
		return init_fail_wrap(err, "tmpcopyup into `%s`", e->destination);
	if ((o->flags & MS_RDONLY) &&
	    mount(NULL, e->destination, NULL, MS_REMOUNT | o->flags, o->data) < 0)
		return init_fail(err, errno, "remount `%s` read-only", e->destination);
	return 0;
}

/* Mounts one plan entry, creating the mount point if needed. */
static int mount_entry_apply(const struct mount_entry *e, struct init_error *err)
{
	const struct mount_options *o = &e->options;
	int ret = mkdir_p(e->destination, err);
	if (ret < 0)
		return ret;

	if (o->copy_up && strcmp(e->fstype, "tmpfs") == 0) {
		ret = mount_copy_up(e, err);
		if (ret < 0)
			return ret;
	} else if (mount(e->source, e->destination, e->fstype, o->flags, o->data) < 0) {
		/* EBUSY: the kernel (or an earlier boot stage) mounted it already. */
		if (errno != EBUSY)
			return init_fail(err, errno, "mount %s on `%s`%s%s", e->fstype,
					 e->destination, o->data ? " with " : "",
					 o->data ? o->data : "");
	}
	if (o->propagation && mount(NULL, e->destination, NULL, o->propagation, NULL) < 0)
		return init_fail(err, errno, "set the propagation of `%s`", e->destination);
	return 0;
}

static int apply_plan(const struct mount_plan *plan, struct init_error *err)
{
	for (size_t i = 0; i < plan->num_entries; i++) {
		const struct mount_entry *e = &plan->entries[i];
		struct init_error local = { 0 };
		int ret = mount_entry_apply(e, e->best_effort ? &local : err);
		if (ret < 0 && e->best_effort)
			log_msg("warning: %s", local.msg);
		else if (ret < 0)
			return ret;
	}
	return 0;
}

int mounts_setup(const struct init_mount *oci, size_t n, struct init_error *err)
{
	struct mount_plan plan;
	int ret = mount_plan_build(oci, n, &plan, err);
	if (ret < 0) {
		struct init_error ignored = { 0 };
		if (mount_plan_build(NULL, 0, &plan, &ignored) == 0)
			apply_plan(&plan, &ignored);
	} else {
		ret = apply_plan(&plan, err);
	}
	mount_plan_free(&plan);
	return ret;
}

static int make_link(const char *target, const char *path, bool replace, struct init_error *err)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode) || !replace)
			return 0;
		if (unlink(path) < 0)
			return init_fail(err, errno, "remove `%s`", path);
	}
	if (symlink(target, path) < 0 && errno != EEXIST)
		return init_fail(err, errno, "create symlink `%s`", path);
	return 0;
}

int dev_links_setup(struct init_error *err)
{
	int ret;

	ret = make_link("/proc/self/fd", "/dev/fd", false, err);
	if (ret < 0)
		return ret;
	ret = make_link("/proc/self/fd/0", "/dev/stdin", false, err);
	if (ret < 0)
		return ret;
	ret = make_link("/proc/self/fd/1", "/dev/stdout", false, err);
	if (ret < 0)
		return ret;
	ret = make_link("/proc/self/fd/2", "/dev/stderr", false, err);
	if (ret < 0)
		return ret;
	/* devtmpfs has a ptmx node; the OCI layout wants the one of this devpts instance. */
	return make_link("pts/ptmx", "/dev/ptmx", true, err);
}
