/* krun pause / resume ID: freezes the container's cgroup, and with it the whole VM. */
#include "oci/verbs.h"
#include "oci/cgroup.h"
#include "oci/id_verb.h"
#include "oci/launch.h"

static int set_frozen(const struct cli_globals *g, int argc, char **argv, bool frozen,
		      krun_error_t *err)
{
	cleanup_container_state struct container_state *s = NULL;
	cleanup_cgroup struct cgroup *cg = NULL;
	enum container_status st, wanted = frozen ? CONTAINER_RUNNING : CONTAINER_PAUSED;
	int ret;

	ret = id_verb_container(g, argc, argv, &s, &st, err);
	if (ret < 0)
		return ret;
	if (st != wanted)
		return krun_make_error(err, 0, "container `%s` is %s, not %s", s->id,
				       status_name(st), status_name(wanted));
	if (!s->cgroup_path)
		return krun_make_error(err, 0, "%s: container `%s` has no cgroup to freeze",
				       argv[0], s->id);
	ret = launch_open_cgroup(s, &cg, err);
	return ret < 0 ? ret : cgroup_freeze(cg, frozen, err);
}

int krun_cmd_pause(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	return set_frozen(g, argc, argv, true, err);
}

int krun_cmd_resume(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	return set_frozen(g, argc, argv, false, err);
}
