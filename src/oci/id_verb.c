/* What the verbs acting on an existing container share: `VERB [options] ID` and finding
 * that container in the state root. */
#include "oci/id_verb.h"

#include <string.h>

int id_verb_positionals(const char *verb, int argc, char **argv, int min, int max,
			krun_error_t *err)
{
	int n = argc - optind;

	if (n < min)
		return cli_usage_error(err, "%s: missing container ID", verb);
	if (n > max)
		return cli_usage_error(err, "%s: unexpected argument `%s`", verb,
				       argv[optind + max]);
	return 0;
}

int id_verb_parse(int argc, char **argv, const char **id, krun_error_t *err)
{
	static const struct option none[] = { { NULL, 0, NULL, 0 } };
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", none, NULL)) != -1)
		return cli_getopt_error(argv[0], c, "+:", argv, err);
	ret = id_verb_positionals(argv[0], argc, argv, 1, 1, err);
	if (ret < 0)
		return ret;
	*id = argv[optind];
	return 0;
}

int id_verb_load(const struct cli_globals *g, const char *id, struct container_state **s,
		 krun_error_t *err)
{
	cleanup_free char *root = status_root(g);

	return status_load(root, id, s, err);
}

int id_verb_container(const struct cli_globals *g, int argc, char **argv,
		      struct container_state **s, enum container_status *st, krun_error_t *err)
{
	const char *id;
	int ret;

	ret = id_verb_parse(argc, argv, &id, err);
	if (ret < 0)
		return ret;
	ret = id_verb_load(g, id, s, err);
	if (ret < 0)
		return ret;
	return status_get(*s, st, err);
}
