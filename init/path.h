/* Finds the program to execute the way execvp(3) would, but as a separate step so that
 * the caller knows why nothing was found (127 for "not found", 126 for "not executable"). */
#ifndef KRUN_INIT_PATH_H
#define KRUN_INIT_PATH_H

/* A name with a '/' is used as it is (execve judges it). Otherwise each entry of
 * path_list (colon-separated; an empty entry is the current directory; NULL means
 * DEFAULT_PATH) is tried in order, and the first regular file the caller may execute
 * wins. Returns 0 with *out allocated, or -ENOENT when nothing of that name exists,
 * -EACCES when something exists but cannot be executed, -EISDIR when only directories
 * of that name were found. */
int path_lookup(const char *name, const char *path_list, char **out);

#endif
