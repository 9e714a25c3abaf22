/* What the verbs that act on an existing container share: `VERB [options] ID` parsing and
 * finding the container in the state root. */
#ifndef KRUN_OCI_ID_VERB_H
#define KRUN_OCI_ID_VERB_H

#include <getopt.h>
#include "oci/cli.h"
#include "oci/status.h"
#include "util/util.h"

/* `VERB ID` with no options. */
int id_verb_parse(int argc, char **argv, const char **id, krun_error_t *err);
/* After getopt_long has consumed the options: exactly `min..max` positional arguments. */
int id_verb_positionals(const char *verb, int argc, char **argv, int min, int max,
			krun_error_t *err);
int id_verb_load(const struct cli_globals *g, const char *id, struct container_state **s,
		 krun_error_t *err);
/* `VERB ID` with no options: the container and its current status. */
int id_verb_container(const struct cli_globals *g, int argc, char **argv,
		      struct container_state **s, enum container_status *st, krun_error_t *err);

#endif
