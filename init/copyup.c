/* "tmpcopyup": copies a directory tree into the tmpfs mounted over it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include "copyup.h"

/* Deeper trees than this are refused rather than risking PID 1's stack. */
#define MAX_DEPTH 64

static int copy_tree_at(int src_dir, int dst_dir, int depth, struct init_error *err);

static int copy_data(int src, int dst, const char *name, struct init_error *err)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(src, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return init_fail(err, errno, "read `%s`", name);
		if (n == 0)
			return 0;
		int ret = write_all(dst, buf, n);
		if (ret < 0)
			return init_fail(err, -ret, "write `%s`", name);
	}
}

static int copy_file(int src_dir, int dst_dir, const char *name, const struct stat *st,
		     struct init_error *err)
{
	cleanup_close int src = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return init_fail(err, errno, "open `%s`", name);
	cleanup_close int dst =
	    openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->st_mode & 07777);
	if (dst < 0)
		return init_fail(err, errno, "create `%s`", name);
	return copy_data(src, dst, name, err);
}

static int copy_dir(int src_dir, int dst_dir, const char *name, const struct stat *st, int depth,
		    struct init_error *err)
{
	if (depth >= MAX_DEPTH)
		return init_fail(err, ELOOP, "`%s` is nested too deeply", name);
	if (mkdirat(dst_dir, name, st->st_mode & 07777) < 0 && errno != EEXIST)
		return init_fail(err, errno, "create directory `%s`", name);
	cleanup_close int src =
	    openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_close int dst =
	    openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0 || dst < 0)
		return init_fail(err, errno, "open directory `%s`", name);
	int ret = copy_tree_at(src, dst, depth + 1, err);
	return ret < 0 ? init_fail_wrap(err, "%s", name) : 0;
}

static int copy_symlink(int src_dir, int dst_dir, const char *name, struct init_error *err)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(src_dir, name, target, sizeof(target) - 1);

	if (n < 0)
		return init_fail(err, errno, "read symlink `%s`", name);
	target[n] = '\0';
	if (symlinkat(target, dst_dir, name) < 0)
		return init_fail(err, errno, "create symlink `%s`", name);
	return 0;
}

static int copy_entry(int src_dir, int dst_dir, const char *name, int depth, struct init_error *err)
{
	struct stat st;
	int ret;

	if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return init_fail(err, errno, "stat `%s`", name);
	if (S_ISDIR(st.st_mode))
		ret = copy_dir(src_dir, dst_dir, name, &st, depth, err);
	else if (S_ISREG(st.st_mode))
		ret = copy_file(src_dir, dst_dir, name, &st, err);
	else if (S_ISLNK(st.st_mode))
		ret = copy_symlink(src_dir, dst_dir, name, err);
	else if (mknodat(dst_dir, name, st.st_mode, st.st_rdev) < 0)
		ret = init_fail(err, errno, "create node `%s`", name);
	else
		ret = 0;
	if (ret < 0)
		return ret;
	/* Owner first: chown clears the set-id bits that the mode then restores. */
	if (fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return init_fail(err, errno, "set the owner of `%s`", name);
	if (!S_ISLNK(st.st_mode) && fchmodat(dst_dir, name, st.st_mode & 07777, 0) < 0)
		return init_fail(err, errno, "set the mode of `%s`", name);
	return 0;
}

static int copy_tree_at(int src_dir, int dst_dir, int depth, struct init_error *err)
{
	int fd = dup(src_dir);
	if (fd < 0)
		return init_fail(err, errno, "dup");
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return init_fail(err, errno, "read directory");
	}
	rewinddir(dir);
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (errno = 0, de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ret = copy_entry(src_dir, dst_dir, de->d_name, depth, err);
	}
	if (ret == 0 && errno != 0)
		ret = init_fail(err, errno, "read directory");
	closedir(dir);
	return ret;
}

int copy_tree(int src_dir, int dst_dir, struct init_error *err)
{
	return copy_tree_at(src_dir, dst_dir, 0, err);
}
