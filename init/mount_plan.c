/* The list of mounts init performs, in order (see mount_plan.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include "mount_plan.h"

struct default_mount {
	const char *destination, *fstype, *source;
	unsigned long flags;
	const char *data;
	bool best_effort;
};

#define MS_PSEUDO (MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* Parents before children. cgroup2 and mqueue are optional kernel features: their
 * absence is reported but does not stop the container. devtmpfs is one instance shared
 * with the kernel: it takes no options. */
static const struct default_mount default_mounts[] = {
	{ "/dev", "devtmpfs", "devtmpfs", MS_NOSUID, NULL, false },
	{ "/proc", "proc", "proc", MS_PSEUDO, NULL, false },
	{ "/sys", "sysfs", "sysfs", MS_PSEUDO, NULL, false },
	{ "/sys/fs/cgroup", "cgroup2", "cgroup2", MS_PSEUDO | MS_RELATIME, NULL, true },
	{ "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
	  "newinstance,ptmxmode=0666,mode=0620,gid=5", false },
	{ "/dev/shm", "tmpfs", "shm", MS_PSEUDO, "mode=1777", false },
	{ "/dev/mqueue", "mqueue", "mqueue", MS_PSEUDO, NULL, true },
};

static const char *const guest_types[] = { "tmpfs",  "proc",   "sysfs",	 "devpts",
					   "mqueue", "cgroup", "cgroup2" };

/* True when the OCI mount type is one the guest kernel mounts itself. */
static bool mount_type_is_guest(const char *type)
{
	for (size_t i = 0; type && i < ARRAY_SIZE(guest_types); i++)
		if (strcmp(type, guest_types[i]) == 0)
			return true;
	return false;
}

char *path_normalize(const char *path)
{
	size_t len = strlen(path);
	char *out = xmalloc(len + 2);
	size_t o = 0;

	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t n = end - p;
		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing to add */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[--o] != '/')
				;
		} else {
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = end;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* True when `dir` is a strict ancestor of `path` (both normalised). */
static bool path_is_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (strcmp(dir, "/") == 0)
		return strcmp(path, "/") != 0;
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static struct mount_entry *plan_append(struct mount_plan *plan)
{
	/* The plan is small (a few defaults plus the config's entries): grow one by one. */
	plan->entries = xrealloc(plan->entries, (plan->num_entries + 1) * sizeof(*plan->entries));
	struct mount_entry *e = &plan->entries[plan->num_entries++];
	memset(e, 0, sizeof(*e));
	return e;
}

static void plan_append_default(struct mount_plan *plan, const struct default_mount *d)
{
	struct mount_entry *e = plan_append(plan);
	e->destination = xstrdup(d->destination);
	e->fstype = xstrdup(d->fstype);
	e->source = xstrdup(d->source);
	e->options.flags = d->flags;
	e->options.data = d->data ? xstrdup(d->data) : NULL;
	e->best_effort = d->best_effort;
}

static void mount_entry_free(struct mount_entry *e)
{
	free(e->destination);
	free(e->fstype);
	free(e->source);
	mount_options_free(&e->options);
	memset(e, 0, sizeof(*e));
}

/* Turns OCI entry `m` into a plan entry. Returns 1 when it belongs in the guest, 0 when it
 * is the host's (bind mounts, other types) or the guest's own /dev. */
static int convert_oci_mount(const struct init_mount *m, const char *name, struct mount_entry *e,
			     struct init_error *err)
{
	memset(e, 0, sizeof(*e));
	if (!mount_type_is_guest(m->type))
		return 0;
	int ret = mount_options_parse(m->options, m->num_options, &e->options, err);
	if (ret < 0)
		return init_fail_wrap(err, "%s (%s)", name, m->destination);
	e->destination = path_normalize(m->destination);
	if (e->options.bind || strcmp(e->destination, "/dev") == 0) {
		mount_entry_free(e);
		return 0;
	}
	if (strcmp(e->destination, "/") == 0) {
		mount_entry_free(e);
		return init_fail(err, 0, "%s: cannot mount %s over the root directory", name,
				 m->type);
	}
	/* cgroup v1 does not exist in the guest kernel: the unified hierarchy stands in. */
	e->fstype = xstrdup(strcmp(m->type, "cgroup") == 0 ? "cgroup2" : m->type);
	e->source = xstrdup(m->source && m->source[0] ? m->source : e->fstype);
	return 1;
}

/* The index of the last guest entry that `destination` lives below, or -1. Returns -2 when
 * a guest entry replaces the default outright (same destination). */
static long default_anchor(const char *destination, const struct mount_entry *oci, size_t n)
{
	long anchor = -1;
	for (size_t i = 0; i < n; i++) {
		if (!oci[i].destination)
			continue;
		if (strcmp(oci[i].destination, destination) == 0)
			return -2;
		if (path_is_below(destination, oci[i].destination))
			anchor = i;
	}
	return anchor;
}

static void emit_plan(struct mount_entry *oci, size_t n, const long *anchors,
		      struct mount_plan *plan)
{
	for (size_t d = 0; d < ARRAY_SIZE(default_mounts); d++)
		if (anchors[d] == -1)
			plan_append_default(plan, &default_mounts[d]);
	for (size_t i = 0; i < n; i++) {
		if (!oci[i].destination)
			continue;
		*plan_append(plan) = oci[i];
		memset(&oci[i], 0, sizeof(oci[i])); /* moved into the plan */
		for (size_t d = 0; d < ARRAY_SIZE(default_mounts); d++)
			if (anchors[d] == (long)i)
				plan_append_default(plan, &default_mounts[d]);
	}
}

int mount_plan_build(const struct init_mount *oci, size_t n, struct mount_plan *plan,
		     struct init_error *err)
{
	struct mount_entry *entries = xcalloc(n, sizeof(*entries));
	long anchors[ARRAY_SIZE(default_mounts)];
	int ret = 0;

	memset(plan, 0, sizeof(*plan));
	for (size_t i = 0; i < n && ret >= 0; i++) {
		char name[64];
		snprintf(name, sizeof(name), "mounts[%zu]", i);
		ret = convert_oci_mount(&oci[i], name, &entries[i], err);
	}
	if (ret >= 0) {
		for (size_t d = 0; d < ARRAY_SIZE(default_mounts); d++)
			anchors[d] = default_anchor(default_mounts[d].destination, entries, n);
		emit_plan(entries, n, anchors, plan);
	}
	for (size_t i = 0; i < n; i++)
		mount_entry_free(&entries[i]);
	free(entries);
	return ret < 0 ? ret : 0;
}

void mount_plan_free(struct mount_plan *plan)
{
	for (size_t i = 0; i < plan->num_entries; i++)
		mount_entry_free(&plan->entries[i]);
	free(plan->entries);
	memset(plan, 0, sizeof(*plan));
}
