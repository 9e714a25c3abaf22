/* krun state ID: the OCI state document. */
#include "oci/verbs.h"
#include "oci/id_verb.h"

#include <errno.h>
#include <stdio.h>

int krun_cmd_state(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_container_state struct container_state *s = NULL;
	cleanup_free char *json = NULL;
	enum container_status st;
	int ret;

	ret = id_verb_container(g, argc, argv, &s, &st, err);
	if (ret < 0)
		return ret;
	json = status_state_json(s, st, false, NULL);
	printf("%s\n", json);
	return fflush(stdout) == 0 ? 0 : krun_make_error(err, errno, "state: write");
}
