/* krun ps [--format table|json] ID: the host processes of the container (the VMM, and
 * anything else in its cgroup). */
#include "oci/verbs.h"
#include "oci/cgroup.h"
#include "oci/id_verb.h"
#include "oci/launch.h"
#include "util/json_gen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int parse(int argc, char **argv, bool *json, krun_error_t *err)
{
	static const struct option options[] = { { "format", required_argument, NULL, 'f' },
						 { NULL, 0, NULL, 0 } };
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:f:", options, NULL)) != -1) {
		if (c != 'f')
			return cli_getopt_error(argv[0], c, "+:f:", argv, err);
		if (strcmp(optarg, "table") && strcmp(optarg, "json"))
			return cli_usage_error(err, "ps: unknown format `%s` (table or json)",
					       optarg);
		*json = !strcmp(optarg, "json");
	}
	return id_verb_positionals(argv[0], argc, argv, 1, 1, err);
}

/* Without a cgroup the container is its one process, while it lives. */
static int container_pids(const struct container_state *s, pid_t **pids, size_t *n,
			  krun_error_t *err)
{
	cleanup_cgroup struct cgroup *cg = NULL;
	int ret;

	if (!s->cgroup_path) {
		*n = 0;
		*pids = xmalloc(sizeof(**pids));
		if (status_process_alive(s))
			(*pids)[(*n)++] = s->pid;
		return 0;
	}
	ret = launch_open_cgroup(s, &cg, err);
	return ret < 0 ? ret : cgroup_pids(cg, pids, n, err);
}

int krun_cmd_ps(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_container_state struct container_state *s = NULL;
	cleanup_free pid_t *pids = NULL;
	bool json = false;
	size_t n = 0;
	int ret;

	ret = parse(argc, argv, &json, err);
	if (ret < 0)
		return ret;
	ret = id_verb_load(g, argv[optind], &s, err);
	if (ret < 0)
		return ret;
	ret = container_pids(s, &pids, &n, err);
	if (ret < 0)
		return ret;
	if (json) {
		cleanup_json_gen yajl_gen gen = json_gen_new(false);
		cleanup_free char *text = NULL;

		yajl_gen_array_open(gen);
		for (size_t i = 0; i < n; i++)
			yajl_gen_integer(gen, pids[i]);
		yajl_gen_array_close(gen);
		text = json_gen_take(gen, NULL);
		printf("%s\n", text);
	} else {
		printf("PID\n");
		for (size_t i = 0; i < n; i++)
			printf("%d\n", pids[i]);
	}
	return fflush(stdout) == 0 ? 0 : krun_make_error(err, errno, "ps: write");
}
