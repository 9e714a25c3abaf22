/* One function per verb, one file per verb (src/oci/<verb>.c). The table is in main.c:
 * adding a verb is that file plus one line there. Each returns the exit status (>= 0) or a
 * negative error (CLI_EUSAGE for a usage error). */
#ifndef KRUN_OCI_VERBS_H
#define KRUN_OCI_VERBS_H

#include "oci/cli.h"

#define KRUN_VERB(name)                                                                            \
	int krun_cmd_##name(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)

KRUN_VERB(create);
KRUN_VERB(start);
KRUN_VERB(run);
KRUN_VERB(state);
KRUN_VERB(kill);
KRUN_VERB(delete);
KRUN_VERB(list);
KRUN_VERB(ps);
KRUN_VERB(pause);
KRUN_VERB(resume);
KRUN_VERB(update);
KRUN_VERB(spec);
KRUN_VERB(features);
KRUN_VERB(exec);

#endif
