/* Helpers shared by the virtio-fs server tests. */
#ifndef KRUN_TESTS_FS_TEST_UTIL_H
#define KRUN_TESTS_FS_TEST_UTIL_H

#include <stddef.h>

/* A fresh directory under /tmp (or $TMPDIR); aborts the test when it cannot. */
char *fs_test_tempdir(const char *prefix);
/* rm -rf, never crossing into other file systems. */
void fs_test_rmtree(const char *path);
/* dir/name, freshly allocated; aborts the test when it cannot. */
char *fs_test_path(const char *dir, const char *name);
/* Writes a whole file; returns 0 or -errno. */
int fs_test_write_file(const char *path, const void *data, size_t len);

#endif
