/* The guest init's PATH lookup: what it finds, and the 127/126 classes when it does not. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../../init/path.h"
#include "tap.h"

static char root[] = "/tmp/init_path_test.XXXXXX";

static void make(const char *rel, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (S_ISDIR(mode)) {
		mkdir(path, mode & 07777);
		return;
	}
	if (S_ISFIFO(mode)) {
		mkfifo(path, mode & 07777);
		return;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode & 07777);
	if (fd < 0 || write(fd, "#!/bin/sh\n", 10) != 10)
		abort();
	close(fd);
	chmod(path, mode & 07777);
}

/* Looks `name` up along a PATH whose entries are relative to root (joined by ':'). */
static int lookup_in(const char *name, const char *entries, char **out)
{
	char path_list[512] = "";
	char *copy = strdup(entries), *save = NULL;
	for (char *e = strtok_r(copy, ":", &save); e; e = strtok_r(NULL, ":", &save)) {
		size_t len = strlen(path_list);
		snprintf(path_list + len, sizeof(path_list) - len, "%s%s/%s", len ? ":" : "", root,
			 e);
	}
	free(copy);
	*out = NULL;
	return path_lookup(name, path_list, out);
}

static void expect_found(const char *name, const char *entries, const char *want_rel,
			 const char *test)
{
	char *got, want[256];
	snprintf(want, sizeof(want), "%s/%s", root, want_rel);
	int ret = lookup_in(name, entries, &got);
	ok(ret == 0 && got && strcmp(got, want) == 0, test);
	if (ret != 0 || !got || strcmp(got, want) != 0)
		printf("#   ret %d, got %s, want %s\n", ret, got ? got : "(null)", want);
	free(got);
}

static void expect_error(const char *name, const char *entries, int want, const char *test)
{
	char *got;
	is_int(lookup_in(name, entries, &got), -want, test);
	free(got);
}

int main(void)
{
	char *got = NULL;

	if (!mkdtemp(root))
		abort();
	make("bin", S_IFDIR | 0755);
	make("bin2", S_IFDIR | 0755);
	make("plain", S_IFDIR | 0755);
	make("bin/prog", 0755);
	make("bin2/prog", 0755);
	make("bin/noexec", 0644);
	make("bin2/noexec", 0700);
	make("bin/only-noexec", 0644);
	make("bin/adir", S_IFDIR | 0755);
	make("bin/fifo", S_IFIFO | 0755);
	make("plain/prog", 0755);

	expect_found("prog", "bin", "bin/prog", "found in the only PATH entry");
	expect_found("prog", "bin2:bin", "bin2/prog", "the first PATH entry wins");
	expect_found("prog", "missing:bin/prog:bin", "bin/prog",
		     "missing dirs and non-dirs along PATH are skipped");
	expect_found("noexec", "bin:bin2", "bin2/noexec",
		     "a non-executable match does not stop the search");
	expect_error("nothing", "bin:bin2", ENOENT, "not found: ENOENT (127 class)");
	expect_error("only-noexec", "bin:bin2", EACCES, "found but not executable: EACCES (126)");
	expect_error("adir", "bin", EISDIR, "only a directory of that name: EISDIR (126)");
	expect_error("fifo", "bin", EACCES, "not a regular file: EACCES (126)");
	expect_error("", "bin", ENOENT, "an empty name is not found");

	/* Relative PATH entries, and the empty entry, are relative to the working directory. */
	char *cwd = getcwd(NULL, 0);
	if (chdir(root) < 0)
		abort();
	ok(path_lookup("prog", "nowhere:bin2", &got) == 0 && strcmp(got, "bin2/prog") == 0,
	   "a relative PATH entry resolves against the cwd");
	free(got);
	if (chdir("plain") < 0)
		abort();
	ok(path_lookup("prog", "/nonexistent::/also-not", &got) == 0 && strcmp(got, "./prog") == 0,
	   "an empty PATH entry means the current directory");
	free(got);
	ok(path_lookup("prog", "/nonexistent", &got) == -ENOENT,
	   "the current directory is not searched unless PATH says so");
	if (chdir(cwd) < 0)
		abort();
	free(cwd);

	ok(path_lookup("./relative/x", "/bin", &got) == 0 && strcmp(got, "./relative/x") == 0,
	   "a name with a slash is used as it is, without search");
	free(got);
	ok(path_lookup("/no/such/file", NULL, &got) == 0 && strcmp(got, "/no/such/file") == 0,
	   "an absolute name is left to execve to judge");
	free(got);
	ok(path_lookup("sh", NULL, &got) == 0 && got && strstr(got, "/sh"),
	   "no PATH: the default PATH finds sh");
	free(got);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		abort();
	return tap_done();
}
