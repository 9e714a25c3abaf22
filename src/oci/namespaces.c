/* The Linux namespaces of config.json: the plan of which to create and which to join, and
 * the steps that carry it out in the right order. */
#include "oci/namespaces.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct ns_type {
	const char *name;
	int flag;
};

static const struct ns_type ns_types[] = {
	{ "pid", CLONE_NEWPID },       { "network", CLONE_NEWNET }, { "mount", CLONE_NEWNS },
	{ "ipc", CLONE_NEWIPC },       { "uts", CLONE_NEWUTS },	    { "user", CLONE_NEWUSER },
	{ "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

static const struct ns_type *find_type(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_types); i++)
		if (!strcmp(ns_types[i].name, name))
			return &ns_types[i];
	return NULL;
}

static const char *type_name(int flag)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_types); i++)
		if (ns_types[i].flag == flag)
			return ns_types[i].name;
	return "?";
}

static int add_join(struct ns_plan *p, const struct ns_type *t, const char *path, krun_error_t *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return krun_make_error(err, errno, "%s namespace `%s`", t->name, path);
	p->join[p->n_join].flag = t->flag;
	p->join[p->n_join].fd = fd;
	p->n_join++;
	return 0;
}

static int add_namespace(struct ns_plan *p, const struct oci_namespace *ns, unsigned long *seen,
			 krun_error_t *err)
{
	const struct ns_type *t = find_type(ns->type);

	if (!t)
		return krun_make_error(err, 0, "config.json: linux.namespaces: unknown type `%s`",
				       ns->type);
	if (*seen & t->flag)
		return krun_make_error(err, 0, "config.json: linux.namespaces: `%s` appears twice",
				       ns->type);
	*seen |= t->flag;
	if (t->flag == CLONE_NEWTIME)
		return krun_make_error(err, 0,
				       "config.json: linux.namespaces: a `time` namespace is not "
				       "supported: the guest keeps its own clock");
	if (ns->path)
		return add_join(p, t, ns->path, err);
	if (t->flag == CLONE_NEWPID)
		p->clone_flags |= t->flag;
	else if (t->flag == CLONE_NEWUSER)
		p->new_user = true;
	else
		p->unshare_flags |= t->flag;
	return 0;
}

/* setns into a user namespace drops the host capabilities the other joins need. */
static void join_user_last(struct ns_plan *p)
{
	for (size_t i = 0; i + 1 < p->n_join; i++) {
		if (p->join[i].flag == CLONE_NEWUSER) {
			struct ns_join user = p->join[i];

			memmove(&p->join[i], &p->join[i + 1], (p->n_join - i - 1) * sizeof(user));
			p->join[p->n_join - 1] = user;
			return;
		}
	}
}

static int add_namespaces(const struct oci_config *cfg, struct ns_plan *p, unsigned long *seen,
			  krun_error_t *err)
{
	int ret;

	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		ret = add_namespace(p, &cfg->namespaces[i], seen, err);
		if (ret < 0)
			return ret;
	}
	if (p->new_user && (!cfg->n_uid_mappings || !cfg->n_gid_mappings))
		return krun_make_error(err, 0,
				       "config.json: a new user namespace needs "
				       "linux.uidMappings and linux.gidMappings");
	return 0;
}

int ns_plan_build(const struct oci_config *cfg, struct ns_plan *p, krun_error_t *err)
{
	unsigned long seen = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = add_namespaces(cfg, p, &seen, err);
	if (ret < 0) {
		ns_plan_release(p);
		return ret;
	}
	if (!(seen & CLONE_NEWNS))
		p->unshare_flags |= CLONE_NEWNS;
	join_user_last(p);
	if (ns_plan_has_user(p)) {
		p->late_flags = p->unshare_flags & CLONE_NEWNET;
		p->unshare_flags &= ~CLONE_NEWNET;
	}
	return 0;
}

void ns_plan_release(struct ns_plan *p)
{
	for (size_t i = 0; i < p->n_join; i++)
		close(p->join[i].fd);
	p->n_join = 0;
}

bool ns_plan_has_user(const struct ns_plan *p)
{
	return p->new_user || (p->n_join && p->join[p->n_join - 1].flag == CLONE_NEWUSER);
}

static int join(const struct ns_join *j, krun_error_t *err)
{
	if (setns(j->fd, j->flag) < 0)
		return krun_make_error(err, errno, "join the %s namespace", type_name(j->flag));
	return 0;
}

int ns_join_pid(const struct ns_plan *p, krun_error_t *err)
{
	for (size_t i = 0; i < p->n_join; i++)
		if (p->join[i].flag == CLONE_NEWPID)
			return join(&p->join[i], err);
	return 0;
}

int ns_join_paths(const struct ns_plan *p, krun_error_t *err)
{
	int ret;

	for (size_t i = 0; i < p->n_join; i++) {
		const struct ns_join *j = &p->join[i];

		if (j->flag != CLONE_NEWPID && j->flag != CLONE_NEWUSER) {
			ret = join(j, err);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

int ns_enter_user(const struct ns_plan *p, krun_error_t *err)
{
	if (p->new_user && unshare(CLONE_NEWUSER) < 0)
		return krun_make_error(err, errno, "create the user namespace");
	if (!p->new_user && ns_plan_has_user(p))
		return join(&p->join[p->n_join - 1], err);
	return 0;
}

int ns_become_root(krun_error_t *err)
{
	if (setresgid(0, 0, 0) < 0)
		return krun_make_error(err, errno,
				       "become gid 0 in the user namespace (is gid 0 mapped?)");
	/* Refused when the namespace's setgroups is "deny"; there are none to drop then. */
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return krun_make_error(err, errno, "drop the supplementary groups");
	if (setresuid(0, 0, 0) < 0)
		return krun_make_error(err, errno,
				       "become uid 0 in the user namespace (is uid 0 mapped?)");
	return 0;
}

int ns_unshare(unsigned long flags, krun_error_t *err)
{
	if (flags && unshare(flags) < 0)
		return krun_make_error(err, errno, "create the container's namespaces");
	return 0;
}

static int write_map(pid_t pid, const char *name, const struct oci_id_mapping *m, size_t n,
		     krun_error_t *err)
{
	cleanup_free char *path = NULL, *text = NULL;
	cleanup_close int fd = -1;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return krun_make_error(err, errno, "memory");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%u %u %u\n", m[i].container_id, m[i].host_id, m[i].size);
	fclose(f);
	xasprintf(&path, "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		return krun_make_error(err, errno, "write the user namespace's %s (%zu line%s)",
				       name, n, n == 1 ? "" : "s");
	return 0;
}

int ns_write_id_maps(pid_t pid, const struct oci_config *cfg, krun_error_t *err)
{
	int ret = write_map(pid, "uid_map", cfg->uid_mappings, cfg->n_uid_mappings, err);

	if (ret < 0)
		return ret;
	return write_map(pid, "gid_map", cfg->gid_mappings, cfg->n_gid_mappings, err);
}
