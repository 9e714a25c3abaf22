/* The OCI config.json of the container, as the VMM serves it to the guest. Only what the
 * guest applies is kept. The file is untrusted input: every field is type-checked, and a
 * missing or malformed field fails the whole load with a message naming the field. */
#ifndef KRUN_INIT_CONFIG_H
#define KRUN_INIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common.h"

#define KRUN_CONFIG_PATH     "/.krun_config.json"
#define KRUN_CONFIG_MAX_SIZE (16u << 20)

struct init_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

struct init_user {
	uint32_t uid, gid;
	uint32_t *additional_gids;
	size_t num_additional_gids;
	bool has_umask;
	uint32_t umask;
};

struct init_process {
	char **args; /* NULL-terminated, at least one entry */
	size_t num_args;
	char **env; /* NULL-terminated, every entry KEY=VALUE */
	size_t num_env;
	char *cwd; /* absolute */
	bool terminal;
	struct init_user user;
	struct init_rlimit *rlimits;
	size_t num_rlimits;
	bool no_new_privileges;
	bool has_oom_score_adj;
	int oom_score_adj;
};

/* One entry of the OCI `mounts` array, as written (options are interpreted later). */
struct init_mount {
	char *destination;
	char *type;	/* NULL when absent */
	char *source;	/* NULL when absent */
	char **options; /* NULL-terminated, possibly empty */
	size_t num_options;
};

struct init_config {
	struct init_process process;
	char *hostname;	  /* NULL when absent */
	char *domainname; /* NULL when absent */
	struct init_mount *mounts;
	size_t num_mounts;
};

/* Parses a config from text (len bytes, need not be NUL-terminated). On failure *cfg is
 * left empty and needs no config_free. */
int config_parse(const char *text, size_t len, struct init_config *cfg, struct init_error *err);
void config_free_process(struct init_process *p);
/* Parses an exec request, {"process": an OCI process object}, as the main process is. */
int config_parse_exec(const char *text, size_t len, struct init_process *p, struct init_error *err);
int config_load(const char *path, struct init_config *cfg, struct init_error *err);
void config_free(struct init_config *cfg);

#endif
