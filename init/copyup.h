/* "tmpcopyup": copies a directory tree into another (a new tmpfs over it), keeping
 * modes, owners and file types. */
#ifndef KRUN_INIT_COPYUP_H
#define KRUN_INIT_COPYUP_H

#include "common.h"

/* Copies the contents of directory src_dir into directory dst_dir (both open fds). */
int copy_tree(int src_dir, int dst_dir, struct init_error *err);

#endif
