/* krun: the command line entry. Parses the global options, picks the verb and turns its
 * result into the exit status: the verb's own, 64 for usage errors, 1 for other errors. */
#include "oci/cli.h"
#include "oci/log.h"
#include "oci/verbs.h"
#include "util/util.h"

/* Adding a verb: its file in src/oci/ and one line here. */
static const struct cli_verb verbs[] = {
	{ "create", "create a container; it waits for `start`", krun_cmd_create },
	{ "start", "boot a created container", krun_cmd_start },
	{ "run", "create and start a container (in the foreground unless --detach)", krun_cmd_run },
	{ "state", "print a container's OCI state", krun_cmd_state },
	{ "exec", "run a process in a running container's VM", krun_cmd_exec },
	{ "kill", "send a signal to a container", krun_cmd_kill },
	{ "delete", "remove a container", krun_cmd_delete },
	{ "list", "list the containers", krun_cmd_list },
	{ "ps", "list a container's host processes", krun_cmd_ps },
	{ "pause", "freeze a container's VM", krun_cmd_pause },
	{ "resume", "thaw a paused container", krun_cmd_resume },
	{ "update", "change a container's cgroup limits", krun_cmd_update },
	{ "spec", "write a default config.json", krun_cmd_spec },
	{ "features", "print the OCI features krun supports", krun_cmd_features },
};

static int fail(int ret, krun_error_t *err)
{
	log_error(*err ? (*err)->msg : "unknown error");
	krun_error_release(err);
	return ret == CLI_EUSAGE ? CLI_EXIT_USAGE : 1;
}

static int run_verb(const struct cli_globals *g, krun_error_t *err)
{
	const struct cli_verb *verb;
	int ret;

	ret = cli_find_verb(verbs, ARRAY_SIZE(verbs), g->argv[0], &verb, err);
	if (ret < 0)
		return ret;
	return verb->main(g, g->argc, g->argv, err);
}

int main(int argc, char **argv)
{
	struct cli_globals g;
	krun_error_t err = NULL;
	int ret;

	ret = cli_parse_global(argc, argv, &g, &err);
	if (ret < 0)
		return fail(ret, &err);
	if (g.action == CLI_ACTION_HELP) {
		cli_print_usage(stdout, verbs, ARRAY_SIZE(verbs));
		return 0;
	}
	if (g.action == CLI_ACTION_VERSION) {
		cli_print_version(stdout);
		return 0;
	}
	ret = log_open(&g, &err);
	if (ret < 0)
		return fail(ret, &err);
	ret = run_verb(&g, &err);
	if (ret < 0)
		ret = fail(ret, &err);
	log_close();
	return ret;
}
