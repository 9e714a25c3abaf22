/* The workload's environment: exactly process.env (the OCI way, nothing inherited from
 * init), plus HOME and TERM when the config leaves them out. */
#ifndef KRUN_INIT_ENV_H
#define KRUN_INIT_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEFAULT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PASSWD_PATH	"/etc/passwd"
#define PASSWD_MAX_SIZE (4u << 20)

/* The value of `name` in a NULL-terminated KEY=VALUE array (first match), or NULL. */
const char *env_lookup(char *const *env, const char *name);

/* The home directory of uid in passwd(5) text, newly allocated, or NULL. */
char *passwd_home(const char *passwd, uint32_t uid);

/* process.env + HOME (from passwd, else "/") + TERM=xterm (with a terminal). passwd may
 * be NULL. Returns a new NULL-terminated array. */
char **env_build(char *const *env, size_t n, const char *passwd, uint32_t uid, bool terminal);

struct init_process;
/* env_build for p with the root's passwd file, read now (none just means HOME=/). */
char **env_for_process(const struct init_process *p);

#endif
