/* The guest init's mount decisions: OCI option strings, destinations, the default mounts
 * and how OCI entries replace or cover them; and the tmpcopyup tree copy. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include "../../init/copyup.h"
#include "../../init/mount_plan.h"
#include "tap.h"

static int parse_opts(const char *const *opts, struct mount_options *o, struct init_error *err)
{
	size_t n = 0;
	while (opts[n])
		n++;
	memset(err, 0, sizeof(*err));
	return mount_options_parse((char *const *)opts, n, o, err);
}

static void test_options(void)
{
	struct mount_options o;
	struct init_error err;

	const char *const podman_tmpfs[] = { "rw",	  "rprivate",	 "nosuid",    "nodev",
					     "tmpcopyup", "size=65536k", "mode=1777", NULL };
	is_int(parse_opts(podman_tmpfs, &o, &err), 0, "podman tmpfs options parse");
	is_int(o.flags, MS_NOSUID | MS_NODEV, "flags: nosuid, nodev");
	is_int(o.propagation, MS_PRIVATE | MS_REC, "rprivate is propagation");
	ok(o.copy_up && !o.bind, "tmpcopyup recognised");
	is_str(o.data, "size=65536k,mode=1777", "size and mode are data, in order");
	mount_options_free(&o);

	const char *const later_wins[] = { "ro",	  "rw",		"noexec",
					   "exec",	  "nosuid",	"relatime",
					   "strictatime", "norelatime", NULL };
	parse_opts(later_wins, &o, &err);
	is_int(o.flags, MS_NOSUID | MS_STRICTATIME, "a later option undoes an earlier one");
	ok(o.data == NULL, "no data when every option is a flag");

	const char *const recursive[] = { "rro", "rnoexec", "defaults", "", "rshared", NULL };
	parse_opts(recursive, &o, &err);
	is_int(o.flags, MS_RDONLY | MS_NOEXEC, "recursive forms map to the plain flags");
	is_int(o.propagation, MS_SHARED | MS_REC, "rshared");

	const char *const devpts[] = { "nosuid",    "noexec", "newinstance", "ptmxmode=0666",
				       "mode=0620", "gid=5",  NULL };
	parse_opts(devpts, &o, &err);
	is_str(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5", "devpts data");
	mount_options_free(&o);

	const char *const bind[] = { "rbind", "ro", NULL };
	parse_opts(bind, &o, &err);
	ok(o.bind && o.flags == MS_RDONLY, "rbind marks a bind mount");

	const char *const remount[] = { "size=1m", "remount", NULL };
	ok(parse_opts(remount, &o, &err) < 0 && strstr(err.msg, "remount"), "remount refused");
}

static void test_normalize(void)
{
	static const char *const cases[][2] = {
		{ "/", "/" },
		{ "", "/" },
		{ "/dev/shm", "/dev/shm" },
		{ "//dev///shm/", "/dev/shm" },
		{ "/a/./b/.", "/a/b" },
		{ "/a/b/../c", "/a/c" },
		{ "/../../x", "/x" },
		{ "run/lock", "/run/lock" },
		{ "/a/..", "/" },
		{ "/..a/b..", "/..a/b.." },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = path_normalize(cases[i][0]), name[64];
		snprintf(name, sizeof(name), "normalize \"%s\"", cases[i][0]);
		is_str(got, cases[i][1], name);
		free(got);
	}
}

static struct init_mount oci_mount(const char *dest, const char *type, const char *opts_csv)
{
	struct init_mount m = { .destination = strdup(dest), .type = type ? strdup(type) : NULL };
	m.options = calloc(16, sizeof(char *));
	char *copy = strdup(opts_csv), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		m.options[m.num_options++] = strdup(t);
	free(copy);
	return m;
}

static void free_oci(struct init_mount *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].destination);
		free(m[i].type);
		free_strv(m[i].options);
	}
}

/* The plan as "dest:type" joined with spaces, for compact comparisons. */
static char *plan_summary(const struct mount_plan *plan)
{
	char *s = strdup("");
	for (size_t i = 0; i < plan->num_entries; i++) {
		char *next = NULL;
		if (asprintf(&next, "%s%s%s:%s", s, i ? " " : "", plan->entries[i].destination,
			     plan->entries[i].fstype) < 0)
			abort();
		free(s);
		s = next;
	}
	return s;
}

static const struct mount_entry *find_entry(const struct mount_plan *plan, const char *dest)
{
	for (size_t i = 0; i < plan->num_entries; i++)
		if (strcmp(plan->entries[i].destination, dest) == 0)
			return &plan->entries[i];
	return NULL;
}

static void test_plan_defaults(void)
{
	struct mount_plan plan;
	struct init_error err = { 0 };

	is_int(mount_plan_build(NULL, 0, &plan, &err), 0, "defaults only");
	char *s = plan_summary(&plan);
	is_str(s,
	       "/dev:devtmpfs /proc:proc /sys:sysfs /sys/fs/cgroup:cgroup2 /dev/pts:devpts "
	       "/dev/shm:tmpfs /dev/mqueue:mqueue",
	       "the default set, parents first");
	free(s);
	const struct mount_entry *pts = find_entry(&plan, "/dev/pts");
	ok(pts && pts->options.data && strstr(pts->options.data, "newinstance") &&
	       strstr(pts->options.data, "ptmxmode=0666") && strstr(pts->options.data, "gid=5"),
	   "devpts: a new instance with ptmxmode=0666 and gid=5");
	const struct mount_entry *shm = find_entry(&plan, "/dev/shm");
	ok(shm && shm->options.data && strcmp(shm->options.data, "mode=1777") == 0, "shm is 1777");
	ok(find_entry(&plan, "/sys/fs/cgroup")->best_effort &&
	       !find_entry(&plan, "/proc")->best_effort,
	   "cgroup2 is best effort, proc is not");
	mount_plan_free(&plan);
}

static void test_plan_podman(void)
{
	struct init_mount oci[] = {
		oci_mount("/proc", "proc", "nosuid,noexec,nodev"),
		oci_mount("/dev", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"),
		oci_mount("/dev/pts", "devpts",
			  "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"),
		oci_mount("/dev/mqueue", "mqueue", "nosuid,noexec,nodev"),
		oci_mount("/sys", "sysfs", "nosuid,noexec,nodev,ro"),
		oci_mount("/sys/fs/cgroup", "cgroup", "rprivate,nosuid,noexec,nodev,relatime,ro"),
		oci_mount("/dev/shm", "bind", "bind,private"),
		oci_mount("/etc/hosts", "bind", "rbind,ro"),
		oci_mount("/tmp", "tmpfs", "rw,nosuid,nodev,tmpcopyup"),
		oci_mount("/data", NULL, "rbind"),
		oci_mount("/run/x", "tmpfs", "bind"),
	};
	struct mount_plan plan;
	struct init_error err = { 0 };

	is_int(mount_plan_build(oci, ARRAY_SIZE(oci), &plan, &err), 0, "podman mounts");
	char *s = plan_summary(&plan);
	is_str(s,
	       "/dev:devtmpfs /dev/shm:tmpfs /proc:proc /dev/pts:devpts /dev/mqueue:mqueue "
	       "/sys:sysfs /sys/fs/cgroup:cgroup2 /tmp:tmpfs",
	       "devtmpfs kept, OCI guest mounts replace defaults, binds left to the host");
	free(s);
	const struct mount_entry *sys = find_entry(&plan, "/sys");
	ok(sys && (sys->options.flags & MS_RDONLY) && !sys->best_effort, "OCI sysfs keeps ro");
	const struct mount_entry *cg = find_entry(&plan, "/sys/fs/cgroup");
	ok(cg && strcmp(cg->source, "cgroup2") == 0 && (cg->options.flags & MS_RDONLY),
	   "cgroup becomes cgroup2, source defaults to the type");
	ok(find_entry(&plan, "/tmp")->options.copy_up, "tmpcopyup carried");
	mount_plan_free(&plan);
	free_oci(oci, ARRAY_SIZE(oci));
}

static void test_plan_covering(void)
{
	struct init_mount oci[] = {
		oci_mount("/run", "tmpfs", "mode=755"),
		oci_mount("//sys/", "sysfs", "ro"),
		oci_mount("/dev/shm", "tmpfs", "size=1m"),
	};
	struct mount_plan plan;
	struct init_error err = { 0 };

	is_int(mount_plan_build(oci, ARRAY_SIZE(oci), &plan, &err), 0, "covering mounts");
	char *s = plan_summary(&plan);
	is_str(s,
	       "/dev:devtmpfs /proc:proc /dev/pts:devpts /dev/mqueue:mqueue /run:tmpfs "
	       "/sys:sysfs /sys/fs/cgroup:cgroup2 /dev/shm:tmpfs",
	       "a default below an OCI mount follows it; a same-place OCI entry replaces it");
	free(s);
	mount_plan_free(&plan);
	free_oci(oci, ARRAY_SIZE(oci));

	struct init_mount root[] = { oci_mount("/a/..", "tmpfs", "") };
	ok(mount_plan_build(root, 1, &plan, &err) < 0 && strstr(err.msg, "root directory"),
	   "a guest mount over / is refused");
	free_oci(root, 1);

	struct init_mount bad[] = { oci_mount("/x", "tmpfs", "remount") };
	memset(&err, 0, sizeof(err));
	ok(mount_plan_build(bad, 1, &plan, &err) < 0 && strstr(err.msg, "mounts[0] (/x)"),
	   "a bad option names the entry");
	free_oci(bad, 1);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		abort();
	close(fd);
	chmod(path, mode);
}

static void test_copy_tree(void)
{
	char src[] = "/tmp/init_copy_src.XXXXXX", dst[] = "/tmp/init_copy_dst.XXXXXX";
	char path[256], buf[64];
	struct init_error err = { 0 };
	struct stat st;

	if (!mkdtemp(src) || !mkdtemp(dst))
		abort();
	snprintf(path, sizeof(path), "%s/file", src);
	write_file(path, "hello", 0640);
	snprintf(path, sizeof(path), "%s/sub", src);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/sub/script", src);
	write_file(path, "#!/bin/sh\n", 04755);
	snprintf(path, sizeof(path), "%s/sub/link", src);
	if (symlink("../file", path) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/fifo", src);
	mkfifo(path, 0600);

	int s = open(src, O_RDONLY | O_DIRECTORY), d = open(dst, O_RDONLY | O_DIRECTORY);
	is_int(copy_tree(s, d, &err), 0, "copy_tree");
	if (err.msg[0])
		printf("#   %s\n", err.msg);
	snprintf(path, sizeof(path), "%s/file", dst);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	is_str(buf, "hello", "file content copied");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "file mode kept");
	snprintf(path, sizeof(path), "%s/sub", dst);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700,
	   "directory and its mode copied");
	snprintf(path, sizeof(path), "%s/sub/script", dst);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 04755, "set-uid bit survives");
	snprintf(path, sizeof(path), "%s/sub/link", dst);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, "../file", "symlink copied as a symlink");
	snprintf(path, sizeof(path), "%s/fifo", dst);
	ok(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode), "fifo recreated");

	memset(&err, 0, sizeof(err));
	ok(copy_tree(s, d, &err) < 0 && strstr(err.msg, "File exists"),
	   "copying over existing files fails, naming the file");
	close(s);
	close(d);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", src, dst);
	if (system(cmd) != 0)
		abort();
}

int main(void)
{
	test_options();
	test_normalize();
	test_plan_defaults();
	test_plan_podman();
	test_plan_covering();
	test_copy_tree();
	return tap_done();
}
