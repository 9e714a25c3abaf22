/* OCI rlimit names ("RLIMIT_NOFILE") to and from the kernel's resource numbers. */
#ifndef KRUN_INIT_RLIMIT_H
#define KRUN_INIT_RLIMIT_H

/* Returns the RLIMIT_* number, or -1 for a name the kernel does not have. */
int rlimit_from_name(const char *name);
/* Returns the OCI name, or NULL for an unknown number. */
const char *rlimit_name(int resource);

#endif
