/* The command line: global options (before the verb), the verb table, usage errors.
 * Parsing never prints and never exits: main() does. */
#ifndef KRUN_OCI_CLI_H
#define KRUN_OCI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "util/error.h"

#define CLI_EXIT_USAGE 64
/* Returned by the parsers for a usage error (exit 64); outside the errno range. */
#define CLI_EUSAGE (-4096)

enum cli_log_format { CLI_LOG_TEXT, CLI_LOG_JSON };
enum cli_log_level { CLI_LOG_ERROR, CLI_LOG_WARNING, CLI_LOG_DEBUG };
enum cli_cgroup_manager { CLI_CGROUP_CGROUPFS, CLI_CGROUP_SYSTEMD, CLI_CGROUP_DISABLED };
enum cli_action { CLI_ACTION_VERB, CLI_ACTION_HELP, CLI_ACTION_VERSION };

struct cli_globals {
	const char *root;     /* --root; NULL: the default state root */
	const char *log_path; /* --log file (a "file:" prefix removed); NULL: none */
	enum cli_log_format log_format;
	enum cli_log_level log_level;
	bool debug;
	enum cli_cgroup_manager cgroup_manager;
	enum cli_action action;
	int argc; /* the verb and its arguments */
	char **argv;
};

struct cli_verb {
	const char *name;
	const char *summary;
	/* Returns the exit status (>= 0) or a negative error (CLI_EUSAGE: usage error). */
	int (*main)(const struct cli_globals *g, int argc, char **argv, krun_error_t *err);
};

/* Parses the global options; on success g->argv[0] is the verb (action VERB). */
int cli_parse_global(int argc, char **argv, struct cli_globals *g, krun_error_t *err);

int cli_find_verb(const struct cli_verb *verbs, size_t n, const char *name,
		  const struct cli_verb **out, krun_error_t *err);

void cli_print_usage(FILE *f, const struct cli_verb *verbs, size_t n);
void cli_print_version(FILE *f);

/* Fills *err and returns CLI_EUSAGE. */
int cli_usage_error(krun_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The usage error after getopt_long(..., optstring, ...) returned c (':' or '?') on argv. */
int cli_getopt_error(const char *verb, int c, const char *optstring, char **argv,
		     krun_error_t *err);

#endif
