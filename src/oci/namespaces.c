#include "namespaces.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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
	if (t->flag == CLONE_NEWUSER || t->flag == CLONE_NEWTIME)
		return krun_make_error(err, 0,
				       "config.json: linux.namespaces: a `%s` namespace is not "
				       "supported yet",
				       ns->type);
	if (ns->path)
		return add_join(p, t, ns->path, err);
	if (t->flag == CLONE_NEWCGROUP)
		p->new_cgroup = true;
	else
		p->clone_flags |= t->flag;
	if (t->flag == CLONE_NEWUTS)
		p->new_uts = true;
	return 0;
}

int ns_plan_build(const struct oci_config *cfg, struct ns_plan *p, krun_error_t *err)
{
	unsigned long seen = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		ret = add_namespace(p, &cfg->namespaces[i], &seen, err);
		if (ret < 0) {
			ns_plan_release(p);
			return ret;
		}
	}
	if (!(seen & CLONE_NEWNS))
		p->clone_flags |= CLONE_NEWNS;
	return 0;
}

void ns_plan_release(struct ns_plan *p)
{
	for (size_t i = 0; i < p->n_join; i++)
		close(p->join[i].fd);
	p->n_join = 0;
}

int ns_join_pid(const struct ns_plan *p, krun_error_t *err)
{
	for (size_t i = 0; i < p->n_join; i++)
		if (p->join[i].flag == CLONE_NEWPID && setns(p->join[i].fd, CLONE_NEWPID) < 0)
			return krun_make_error(err, errno, "join the pid namespace");
	return 0;
}

int ns_join_rest(const struct ns_plan *p, krun_error_t *err)
{
	for (size_t i = 0; i < p->n_join; i++) {
		const struct ns_join *j = &p->join[i];

		if (j->flag != CLONE_NEWPID && setns(j->fd, j->flag) < 0) {
			for (size_t k = 0; k < ARRAY_SIZE(ns_types); k++)
				if (ns_types[k].flag == j->flag)
					return krun_make_error(err, errno, "join the %s namespace",
							       ns_types[k].name);
		}
	}
	if (p->new_cgroup && unshare(CLONE_NEWCGROUP) < 0)
		return krun_make_error(err, errno, "create the cgroup namespace");
	return 0;
}
