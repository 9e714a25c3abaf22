/* krun delete [--force] ID: removes a stopped (or created) container; --force kills a
 * running one first and succeeds when there is nothing to delete. */
#include "oci/verbs.h"
#include "oci/id_verb.h"
#include "oci/launch.h"

#include <errno.h>

int krun_cmd_delete(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	static const struct option options[] = { { "force", no_argument, NULL, 'f' },
						 { NULL, 0, NULL, 0 } };
	cleanup_container_state struct container_state *s = NULL;
	enum container_status st;
	bool force = false;
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:f", options, NULL)) != -1) {
		if (c != 'f')
			return cli_getopt_error(argv[0], c, "+:f", argv, err);
		force = true;
	}
	ret = id_verb_positionals(argv[0], argc, argv, 1, 1, err);
	if (ret < 0)
		return ret;
	ret = id_verb_load(g, argv[optind], &s, err);
	if (ret == -ENOENT && force) {
		krun_error_release(err);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = status_get(s, &st, err);
	if (ret < 0)
		return ret;
	if (!force && (st == CONTAINER_RUNNING || st == CONTAINER_PAUSED))
		return krun_make_error(err, 0,
				       "container `%s` is %s: stop it first, or use --force", s->id,
				       status_name(st));
	if (st != CONTAINER_STOPPED) {
		ret = launch_kill_and_wait(s, err);
		if (ret < 0)
			return ret;
	}
	return launch_cleanup(s, err);
}
