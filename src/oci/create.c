/* krun create: the container process is made and waits for `krun start`. */
#include "oci/verbs.h"
#include "oci/launch.h"

int krun_cmd_create(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	struct container_opts opts;
	struct bundle b;
	struct container_state *s = NULL;
	int ret;

	ret = container_opts_parse(argc, argv, false, &opts, err);
	if (ret < 0)
		return ret;
	ret = bundle_load(opts.bundle, &b, err);
	if (ret == 0) {
		struct launch l = { .g = g, .opts = &opts, .bundle = &b };

		ret = launch_container(&l, &s, err);
	}
	container_state_free(s);
	bundle_release(&b);
	return ret;
}
