/* What the host CLI trusts of what others can plant: the state root real root picks, the
 * owner and mode of the state root and of a container's directory, and the files krun
 * writes for its caller (pid file, log) where a symlink was planted. Runs as root. */
#include "oci/id_verb.h"
#include "oci/launch.h"
#include "oci/log.h"
#include "oci/status.h"
#include "util/util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

static char tmp[] = "/tmp/oci_state_root_test.XXXXXX";

static char *path_of(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", tmp, name);
	return p;
}

static void must(int cond, const char *what)
{
	if (!cond) {
		printf("Bail out! %s: %m\n", what);
		exit(1);
	}
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);

	must(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && close(fd) == 0,
	     path);
}

static char *read_text(const char *path)
{
	char *text = NULL;

	return read_file_at(AT_FDCWD, path, 4096, &text, NULL) < 0 ? NULL : text;
}

static bool has(const char *msg, const char *needle)
{
	if (msg && strstr(msg, needle))
		return true;
	printf("#   message: %s\n#   wanted: %s\n", msg ? msg : "(none)", needle);
	return false;
}

/* What the reproduction planted: a user's runtime directory whose krun/evil/status names
 * pid 1, as a container of theirs. */
static char *plant_xdg(void)
{
	cleanup_free char *krun = NULL, *evil = NULL, *status = NULL, *text = NULL;
	char *xdg = path_of("xdg");

	xasprintf(&krun, "%s/krun", xdg);
	xasprintf(&evil, "%s/evil", krun);
	xasprintf(&status, "%s/status", evil);
	must(mkdir(xdg, 0700) == 0 && mkdir(krun, 0700) == 0 && mkdir(evil, 0700) == 0, xdg);
	xasprintf(&text,
		  "{\"pid\":1,\"process-start-time\":%llu,\"bundle\":\"/\",\"rootfs\":\"/\","
		  "\"created\":\"2026-01-01T00:00:00Z\",\"owner\":\"nobody\","
		  "\"cgroup-manager\":0,\"cgroup-path\":null,\"detached\":true}",
		  status_process_start_time(1));
	write_text(status, text);
	must(chown(status, NOBODY, NOBODY) == 0 && chown(evil, NOBODY, NOBODY) == 0 &&
		 chown(krun, NOBODY, NOBODY) == 0 && chown(xdg, NOBODY, NOBODY) == 0,
	     "chown the planted state");
	return xdg;
}

static void test_real_root_ignores_xdg(void)
{
	cleanup_free char *xdg = plant_xdg(), *root = NULL, *want = NULL;
	struct cli_globals g = { 0 };
	struct container_state *s = NULL;
	krun_error_t err = NULL;
	int status;
	pid_t pid;

	setenv("XDG_RUNTIME_DIR", xdg, 1);
	ok(status_real_root(), "this test runs as real root");
	root = status_root(&g);
	is_str(root, "/run/krun", "real root's state root is /run/krun whatever XDG_RUNTIME_DIR");
	is_int(id_verb_load(&g, "evil", &s, &err), -ENOENT,
	       "the planted container is not found (not merely refused)");
	ok(!s, "and nothing is loaded");
	container_state_free(s);
	krun_error_release(&err);
	g.root = "/given";
	free(root);
	root = status_root(&g);
	is_str(root, "/given", "--root is always used");

	/* Rootless podman: uid 0 of a user namespace, XDG_RUNTIME_DIR the user's. */
	xasprintf(&want, "%s/krun", xdg);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct cli_globals none = { 0 };
		cleanup_free char *got = NULL;
		int fd;

		if (unshare(CLONE_NEWUSER) < 0)
			_exit(3);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, "0 0 1", 5) != 5)
			_exit(4);
		close(fd);
		got = status_root(&none);
		_exit(geteuid() == 0 && !status_real_root() && !strcmp(got, want) ? 0 : 1);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0,
	   "uid 0 of a user namespace uses $XDG_RUNTIME_DIR/krun");
	unsetenv("XDG_RUNTIME_DIR");
}

static void expect_root_refused(const char *root, const char *needle, const char *what)
{
	cleanup_free char *dir = NULL, *msg = NULL;
	struct container_state *s = NULL;
	krun_error_t err = NULL;
	char name[128];
	int ret;

	ret = status_dir_create(root, "c1", &dir, &err);
	snprintf(name, sizeof(name), "create: %s", what);
	ok(ret == -EPERM && err && has(err->msg, needle) && has(err->msg, root), name);
	krun_error_release(&err);
	ret = status_load(root, "c1", &s, &err);
	snprintf(name, sizeof(name), "load: %s", what);
	ok(ret == -EPERM && err && has(err->msg, needle), name);
	krun_error_release(&err);
	container_state_free(s);
}

static void test_state_root_checked(void)
{
	cleanup_free char *other = path_of("other"), *open_root = path_of("open"),
			  *group = path_of("group"), *good = path_of("good/deeper"), *dir = NULL,
			  *missing = path_of("missing");
	struct container_state *s = NULL;
	krun_error_t err = NULL;
	struct stat st;

	must(mkdir(other, 0700) == 0 && chown(other, NOBODY, NOBODY) == 0, other);
	expect_root_refused(other, "is owned by uid 65534, not by uid 0",
			    "a state root owned by another user is refused");
	must(mkdir(open_root, 0700) == 0 && chmod(open_root, 0777) == 0, open_root);
	expect_root_refused(open_root, "is writable by others (mode 0777)",
			    "a state root of mode 0777 is refused");
	must(mkdir(group, 0700) == 0 && chmod(group, 0770) == 0, group);
	expect_root_refused(group, "is writable by its group (mode 0770)",
			    "a group-writable state root is refused");

	is_int(status_load(missing, "c1", &s, &err), -ENOENT,
	       "a missing state root holds no container");
	krun_error_release(&err);
	is_int(status_dir_create(good, "c1", &dir, &err), 0, "a new state root is made");
	ok(stat(good, &st) == 0 && (st.st_mode & 07777) == 0700, "with mode 0700");
	ok(dir && stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700,
	   "and the container's directory too");
	krun_error_release(&err);
}

static void test_container_dir_checked(void)
{
	cleanup_free char *root = path_of("root"), *planted = NULL, *link = NULL;
	struct container_state *s = NULL;
	krun_error_t err = NULL;

	must(mkdir(root, 0700) == 0, root);
	xasprintf(&planted, "%s/planted", root);
	must(mkdir(planted, 0700) == 0 && chown(planted, NOBODY, NOBODY) == 0, planted);
	ok(status_load(root, "planted", &s, &err) == -EPERM && err &&
	       has(err->msg, "the state directory") && has(err->msg, "owned by uid 65534"),
	   "a container directory owned by another user is refused");
	krun_error_release(&err);
	xasprintf(&link, "%s/link", root);
	must(symlink(planted, link) == 0, link);
	ok(status_load(root, "link", &s, &err) == -ELOOP && err && has(err->msg, "symbolic link"),
	   "a container directory that is a symlink is refused");
	krun_error_release(&err);
	container_state_free(s);
}

static int count_entries(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	return n;
}

static void test_pid_file_replaces_symlink(void)
{
	cleanup_free char *dir = path_of("pid"), *target = NULL, *pidfile = NULL, *text = NULL,
			  *dangling = NULL, *created = NULL;
	krun_error_t err = NULL;
	struct stat st;

	must(mkdir(dir, 0755) == 0, dir);
	xasprintf(&target, "%s/precious", dir);
	xasprintf(&pidfile, "%s/pidfile", dir);
	write_text(target, "precious\n");
	must(symlink(target, pidfile) == 0, pidfile);
	is_int(launch_write_pid_file(pidfile, 1234, &err), 0, "the pid file is written");
	ok(lstat(pidfile, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644,
	   "a regular file of mode 0644 replaced the symlink");
	text = read_text(pidfile);
	is_str(text, "1234", "it holds the pid");
	free(text);
	text = read_text(target);
	is_str(text, "precious\n", "the symlink's target is unchanged");

	/* A dangling symlink would have made krun create its target. */
	xasprintf(&created, "%s/created", dir);
	xasprintf(&dangling, "%s/dangling", dir);
	must(symlink(created, dangling) == 0, dangling);
	is_int(launch_write_pid_file(dangling, 1, &err), 0, "a dangling symlink is replaced");
	ok(access(created, F_OK) < 0, "its target is not created");
	is_int(count_entries(dir), 3, "no temporary file is left");
	krun_error_release(&err);
}

static void test_log_refuses_symlink(void)
{
	cleanup_free char *target = path_of("log-target"), *link = path_of("log"), *text = NULL;
	struct cli_globals g = { .log_path = link };
	krun_error_t err = NULL;

	write_text(target, "precious\n");
	must(symlink(target, link) == 0, link);
	must(lchown(link, 65534, 65534) == 0, "lchown");
	ok(log_open(&g, &err) == -ELOOP && err && has(err->msg, "is a symbolic link") &&
	       has(err->msg, link),
	   "a --log file that is another user's symlink is refused");
	krun_error_release(&err);
	log_error("(oci_state_root_test: an error that must not reach the symlink's target)");
	log_close();
	text = read_text(target);
	is_str(text, "precious\n", "its target is unchanged");
	must(lchown(link, 0, 0) == 0, "lchown");
	ok(log_open(&g, &err) == 0, "one of root's (as /dev/stderr) is followed");
	log_close();
	krun_error_release(&err);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (chown to another user)\n");
		return 0;
	}
	must(mkdtemp(tmp) != NULL, "mkdtemp");
	test_real_root_ignores_xdg();
	test_state_root_checked();
	test_container_dir_checked();
	test_pid_file_replaces_symlink();
	test_log_refuses_symlink();
	{
		char *cmd;

		xasprintf(&cmd, "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmp);
		free(cmd);
	}
	return tap_done();
}
