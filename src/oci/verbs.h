/* One function per verb, one file per verb (src/oci/<verb>.c). The table is in main.c:
 * adding a verb is that file plus one line there. */
#ifndef KRUN_OCI_VERBS_H
#define KRUN_OCI_VERBS_H

#include "cli.h"

int krun_cmd_run(const struct cli_globals *g, int argc, char **argv, krun_error_t *err);

#endif
