/* krun update [--resources FILE|-] [--memory N ...] ID: changes the cgroup limits of a
 * running container's VMM (the guest's RAM and vCPUs stay as they were booted). */
#include "oci/verbs.h"
#include "oci/cgroup.h"
#include "oci/id_verb.h"
#include "oci/launch.h"
#include "oci/resources.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define RESOURCES_MAX_SIZE (1u << 20)
#define RESOURCES_DOC	   "resources"

enum {
	OPT_MEMORY = 256,
	OPT_MEMORY_RESERVATION,
	OPT_MEMORY_SWAP,
	OPT_CPU_SHARE,
	OPT_CPU_QUOTA,
	OPT_CPU_PERIOD,
	OPT_CPUSET_CPUS,
	OPT_CPUSET_MEMS,
	OPT_PIDS_LIMIT,
};

static const struct option update_options[] = {
	{ "resources", required_argument, NULL, 'r' },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "memory-reservation", required_argument, NULL, OPT_MEMORY_RESERVATION },
	{ "memory-swap", required_argument, NULL, OPT_MEMORY_SWAP },
	{ "cpu-share", required_argument, NULL, OPT_CPU_SHARE },
	{ "cpu-shares", required_argument, NULL, OPT_CPU_SHARE },
	{ "cpu-quota", required_argument, NULL, OPT_CPU_QUOTA },
	{ "cpu-period", required_argument, NULL, OPT_CPU_PERIOD },
	{ "cpuset-cpus", required_argument, NULL, OPT_CPUSET_CPUS },
	{ "cpuset-mems", required_argument, NULL, OPT_CPUSET_MEMS },
	{ "pids-limit", required_argument, NULL, OPT_PIDS_LIMIT },
	{ NULL, 0, NULL, 0 },
};

static int read_resources(const char *path, struct oci_resources *r, krun_error_t *err)
{
	cleanup_free char *text = NULL;
	yajl_val doc = NULL;
	size_t len;
	int ret;

	ret = read_file_at(AT_FDCWD, strcmp(path, "-") ? path : "/dev/stdin", RESOURCES_MAX_SIZE,
			   &text, &len);
	if (ret < 0)
		return krun_make_error(err, -ret, "update: read resources `%s`", path);
	ret = json_parse_object(RESOURCES_DOC, text, len, &doc, err);
	if (ret < 0)
		return ret;
	ret = oci_resources_parse(RESOURCES_DOC, "", doc, r, err);
	yajl_tree_free(doc);
	return ret;
}

static int parse_int(const char *opt, const char *text, int64_t *out, krun_error_t *err)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno || end == text || *end)
		return cli_usage_error(err, "update: --%s `%s`: not a number", opt, text);
	*out = n;
	return 0;
}

static int apply_flag(int c, const char *arg, struct oci_resources *r, krun_error_t *err)
{
	const char *name = NULL;
	int64_t v = 0;
	int ret;

	for (const struct option *o = update_options; o->name; o++)
		if (o->val == c) {
			name = o->name;
			break;
		}
	if (c != OPT_CPUSET_CPUS && c != OPT_CPUSET_MEMS) {
		ret = parse_int(name, arg, &v, err);
		if (ret < 0)
			return ret;
	}
	switch (c) {
	case OPT_MEMORY:
		r->has_memory_limit = true, r->memory_limit = v;
		break;
	case OPT_MEMORY_RESERVATION:
		r->has_memory_reservation = true, r->memory_reservation = v;
		break;
	case OPT_MEMORY_SWAP:
		r->has_memory_swap = true, r->memory_swap = v;
		break;
	case OPT_CPU_SHARE:
		r->has_cpu_shares = true, r->cpu_shares = v;
		break;
	case OPT_CPU_QUOTA:
		r->has_cpu_quota = true, r->cpu_quota = v;
		break;
	case OPT_CPU_PERIOD:
		r->has_cpu_period = true, r->cpu_period = v;
		break;
	case OPT_CPUSET_CPUS:
		free(r->cpuset_cpus), r->cpuset_cpus = xstrdup(arg);
		break;
	case OPT_CPUSET_MEMS:
		free(r->cpuset_mems), r->cpuset_mems = xstrdup(arg);
		break;
	case OPT_PIDS_LIMIT:
		r->has_pids_limit = true, r->pids_limit = v;
		break;
	}
	return 0;
}

/* The --resources document is the base and the discrete flags apply on top of it, so the
 * options are read twice: once to find the file, once to apply the flags. */
static int parse(int argc, char **argv, struct oci_resources *r, krun_error_t *err)
{
	const char *file = NULL;
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:r:", update_options, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_getopt_error(argv[0], c, "+:r:", argv, err);
		if (c == 'r')
			file = optarg;
	}
	ret = id_verb_positionals(argv[0], argc, argv, 1, 1, err);
	if (ret < 0)
		return ret;
	if (file) {
		ret = read_resources(file, r, err);
		if (ret < 0)
			return ret;
	}
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:r:", update_options, NULL)) != -1) {
		if (c == 'r')
			continue;
		ret = apply_flag(c, optarg, r, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int krun_cmd_update(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_container_state struct container_state *s = NULL;
	cleanup_cgroup struct cgroup *cg = NULL;
	cleanup_resources struct oci_resources r = { 0 };
	enum container_status st;
	int ret;

	ret = parse(argc, argv, &r, err);
	if (ret < 0)
		return ret;
	ret = id_verb_load(g, argv[optind], &s, err);
	if (ret < 0)
		return ret;
	ret = status_get(s, &st, err);
	if (ret < 0)
		return ret;
	if (st == CONTAINER_STOPPED)
		return krun_make_error(err, 0, "update: container `%s` is stopped", s->id);
	if (!s->cgroup_path)
		return krun_make_error(err, 0, "update: container `%s` has no cgroup", s->id);
	ret = launch_open_cgroup(s, &cg, err);
	if (ret < 0)
		return ret;
	return cgroup_apply(cg, &r, err);
}
