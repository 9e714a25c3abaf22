/* krun start: lets a created container boot its VM. */
#include "verbs.h"
#include "id_verb.h"
#include "launch.h"

int krun_cmd_start(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_container_state struct container_state *s = NULL;
	const char *id;
	int ret;

	ret = id_verb_parse(argc, argv, &id, err);
	if (ret == 0)
		ret = id_verb_load(g, id, &s, err);
	if (ret == 0)
		ret = launch_start(s, err);
	if (ret == 0)
		ret = launch_poststart(s, err);
	return ret;
}
