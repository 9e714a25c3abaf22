/* Finds the program to execute as execvp(3) would, telling "not found" from "not executable". */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common.h"
#include "env.h"
#include "path.h"

/* What one candidate turned out to be. Returns 0 when it can be executed, else the errno
 * that execve would give (or ENOENT to keep looking quietly). */
static int check_candidate(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOTDIR || errno == ENAMETOOLONG || errno == ELOOP ? ENOENT : errno;
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	if (!S_ISREG(st.st_mode))
		return EACCES;
	/* AT_EACCESS: judge with the effective ids, the ones execve uses. */
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return errno;
	return 0;
}

int path_lookup(const char *name, const char *path_list, char **out)
{
	bool seen_eacces = false, seen_eisdir = false;

	if (name[0] == '\0')
		return -ENOENT;
	if (strchr(name, '/')) {
		*out = xstrdup(name);
		return 0;
	}
	for (const char *p = path_list ? path_list : DEFAULT_PATH;;) {
		const char *end = strchrnul(p, ':');
		int dir_len = end - p;
		cleanup_free char *candidate =
		    dir_len ? xstrfmt("%.*s/%s", dir_len, p, name) : xstrfmt("./%s", name);
		int e = check_candidate(candidate);
		if (e == 0) {
			*out = steal_ptr(&candidate);
			return 0;
		}
		seen_eacces |= e != ENOENT && e != EISDIR;
		seen_eisdir |= e == EISDIR;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	if (seen_eacces)
		return -EACCES;
	return seen_eisdir ? -EISDIR : -ENOENT;
}
