/* krun create: the container process is made and waits for `krun start`. */
#include "oci/verbs.h"
#include "oci/launch.h"

int krun_cmd_create(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_container_state struct container_state *s = NULL;
	cleanup_bundle struct bundle b = { .kernel_fd = -1 };
	struct container_opts opts;
	struct launch l = { .g = g, .opts = &opts, .bundle = &b };
	int ret;

	ret = container_opts_parse(argc, argv, false, &opts, err);
	if (ret < 0)
		return ret;
	ret = bundle_load(opts.bundle, &b, err);
	if (ret < 0)
		return ret;
	return launch_container(&l, &s, err);
}
