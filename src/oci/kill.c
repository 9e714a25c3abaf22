/* krun kill [--all] ID [SIGNAL]: signals the container's process (the VMM, which passes the
 * signal on to the workload in the guest), or with --all every process of its cgroup. */
#include "oci/verbs.h"
#include "oci/cgroup.h"
#include "oci/id_verb.h"
#include "oci/launch.h"
#include "oci/process.h"
#include "oci/signals.h"

#include <signal.h>

static int kill_all(const struct container_state *s, int sig, krun_error_t *err)
{
	cleanup_cgroup struct cgroup *cg = NULL;
	int ret;

	if (!s->cgroup_path)
		return krun_make_error(err, 0, "kill --all: container `%s` has no cgroup", s->id);
	ret = launch_open_cgroup(s, &cg, err);
	return ret < 0 ? ret : cgroup_kill_all(cg, sig, err);
}

int krun_cmd_kill(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	static const struct option options[] = { { "all", no_argument, NULL, 'a' },
						 { NULL, 0, NULL, 0 } };
	cleanup_container_state struct container_state *s = NULL;
	cleanup_close int pidfd = -1;
	int c, ret, sig = SIGTERM;
	bool all = false;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:a", options, NULL)) != -1) {
		if (c != 'a')
			return cli_getopt_error(argv[0], c, "+:a", argv, err);
		all = true;
	}
	ret = id_verb_positionals(argv[0], argc, argv, 1, 2, err);
	if (ret < 0)
		return ret;
	if (optind + 1 < argc) {
		sig = signal_parse(argv[optind + 1]);
		if (sig < 0)
			return krun_make_error(err, 0, "kill: unknown signal `%s`",
					       argv[optind + 1]);
	}
	ret = id_verb_load(g, argv[optind], &s, err);
	if (ret < 0)
		return ret;
	ret = process_open(s, &pidfd, err);
	if (ret < 0)
		return ret;
	if (all)
		return kill_all(s, sig, err);
	return process_signal(pidfd, sig, s->id, err);
}
