/* krun start: lets a created container boot its VM. */
#include "oci/verbs.h"
#include "oci/id_verb.h"
#include "oci/launch.h"

int krun_cmd_start(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_container_state struct container_state *s = NULL;
	enum container_status st;
	int ret;

	ret = id_verb_container(g, argc, argv, &s, &st, err);
	if (ret < 0)
		return ret;
	ret = launch_start(s, st, err);
	if (ret < 0)
		return ret;
	return launch_poststart(s, err);
}
