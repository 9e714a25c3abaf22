/* The VMM's own confinement (docs/confinement.md). Before the machine is built, the process
 * moves to an empty root with /proc in it; once it is built and before the first guest
 * instruction, it keeps only the capabilities its devices need that the container may
 * have, sets no_new_privs, and runs under a seccomp allow-list that kills it on any other
 * system call. Knows nothing of OCI: the caller gives the container's bounding set. */
#ifndef KRUN_CONFINE_CONFINE_H
#define KRUN_CONFINE_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/error.h"

/* A set of capabilities: bit n is capability n. */
typedef uint64_t confine_caps_t;
#define CONFINE_CAP(n) ((confine_caps_t)1 << (n))

struct confine_config {
	/* The container's bounding set: the VMM keeps nothing outside it. */
	confine_caps_t bounding;
};

/* The capabilities some part of the VMM uses after boot, and why (the table of
 * docs/confinement.md). */
struct confine_cap_use {
	int cap;
	const char *who;
};
extern const struct confine_cap_use confine_cap_uses[];
extern const size_t confine_n_cap_uses;

/* Every capability this kernel knows. */
confine_caps_t confine_caps_all(void);
/* The set named by config.json's strings ("CAP_SYS_ADMIN", any case); names this libcap
 * does not know are left out (a capability the kernel lacks cannot be granted anyway). */
confine_caps_t confine_caps_from_names(const char *const *names, size_t n);
/* What the VMM keeps of a bounding set: the capabilities of confine_cap_uses in it. */
confine_caps_t confine_caps_kept(confine_caps_t bounding);

/* The root, before the machine is built (see root.c): in a mount namespace of the
 * process' own, its root becomes an empty read-only tmpfs holding /proc and /dev/null. root_fd is
 * the container root; *tree gets an O_PATH fd on a detached copy of its mount tree (the root with
 * the mounts beneath it), from which the devices serve it, as /proc/self/fd/N. Anything else the
 * VMM needs later must be open before (kept fds name themselves as /proc/self/fd/N). Needs
 * CAP_SYS_ADMIN. */
int confine_root(int root_fd, int *tree, krun_error_t *err);
/* Fails when the process holds a directory fd other than `tree`. */
int confine_no_directory_fds(int tree, krun_error_t *err);

/* Keeps `keep` (as far as the process has it) in the permitted and effective sets and the
 * bounding set, clears the inheritable and ambient ones. */
int confine_caps(confine_caps_t keep, krun_error_t *err);
/* Sets no_new_privs and loads the allow-list; any other system call kills the process. */
int confine_seccomp(krun_error_t *err);

/* Once the machine is built, before the first guest instruction: the capabilities kept
 * of cfg->bounding, then no_new_privs and the filter. Single-threaded callers only:
 * capabilities are per thread, and the threads made later inherit them. */
int confine_apply(const struct confine_config *cfg, krun_error_t *err);

#endif
