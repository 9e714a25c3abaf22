/* OCI lifecycle hooks (config.json "hooks"): parsing, and running a list of them on the
 * host with the container state on their stdin. */
#ifndef KRUN_OCI_HOOKS_H
#define KRUN_OCI_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>
#include "annotations/json.h"
#include "util/error.h"

struct oci_hook {
	char *path;	  /* absolute */
	struct strv args; /* argv, args.v[0] is argv[0]; n == 0: argv is [path] */
	struct strv env;  /* the whole environment; n == 0: empty */
	bool has_timeout;
	int timeout; /* seconds, > 0 */
};

struct oci_hooks {
	struct oci_hook *prestart, *create_runtime, *create_container, *start_container, *poststart,
	    *poststop;
	size_t n_prestart, n_create_runtime, n_create_container, n_start_container, n_poststart,
	    n_poststop;
};

/* v: the config's "hooks" object (NULL when absent: *out stays empty). *out must be zeroed
 * by the caller; on failure it holds what was parsed so far, to be released. Errors name
 * the key path ("config.json: hooks.prestart[0].path must be an absolute path"). */
int oci_hooks_parse(yajl_val v, struct oci_hooks *out, krun_error_t *err);
void oci_hooks_release(struct oci_hooks *h);

/* Runs hooks[0..n) in order, each with state_json on its stdin (stdout/stderr inherited, no
 * other fd), waiting for it to exit or for its timeout (then SIGKILL). Stops at the first
 * that fails: "<phase> hook `<path>`: exited with status 3", "...: killed by signal 9",
 * "...: timed out after 5 s", "...: cannot execute: <strerror>". Only the hook's own pid
 * is waited for, so the caller's other children are left alone; the caller must not have
 * SIGCHLD ignored (the kernel would reap the hook before we see its status). */
int hooks_run(const struct oci_hook *hooks, size_t n, const char *phase, const char *state_json,
	      size_t state_len, krun_error_t *err);

#endif
