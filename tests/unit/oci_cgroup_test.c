/* src/oci/cgroup*.c: on fake cgroup trees in a temporary directory (legacy v1, hybrid,
 * unified), which files get which values; then on the real /sys/fs/cgroup with child
 * processes (needs root; skipped otherwise). A fake tree plays the kernel's part by having
 * the control files of a cgroup exist before krun "creates" it. */
#include "oci/cgroup.h"
#include "util/util.h"
#include "tap.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char *tmp;

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
	static char bufs[8][4096];
	static int next;
	char *buf = bufs[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return buf;
}

static void put(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(content, f) < 0 || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

/* The content of a file without its final newline, or "(missing)". */
static const char *get(const char *path)
{
	static char bufs[4][4096];
	static int next;
	char *buf = bufs[next++ % 4];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return "(missing)";
	n = fread(buf, 1, sizeof(bufs[0]) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void mkdirs(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	mkdir(buf, 0755);
}

/* A cgroup directory as the kernel would make it: dir + the given control files, each
 * "name" or "name=content", NULL-terminated. */
static void cgdir(const char *dir_arg, ...)
{
	cleanup_free char *dir = xstrdup(dir_arg); /* pathf's buffers get reused */
	va_list ap;

	mkdirs(dir);
	put(pathf("%s/cgroup.procs", dir), "");
	va_start(ap, dir_arg);
	for (const char *f; (f = va_arg(ap, const char *));) {
		const char *eq = strchr(f, '=');
		char name[256];

		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - f) : (int)strlen(f), f);
		put(pathf("%s/%s", dir, name), eq ? eq + 1 : "");
	}
	va_end(ap);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void fresh_tree(void)
{
	if (tmp)
		nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(tmp);
	tmp = xstrdup("/tmp/krun-cgroup-test-XXXXXX");
	if (!mkdtemp(tmp)) {
		printf("Bail out! mkdtemp\n");
		exit(1);
	}
}

/* ---- legacy v1 ---- */

#define V1_MEMORY "memory.limit_in_bytes", "memory.soft_limit_in_bytes"
#define V1_CPU	  "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"

/* A cgroup at path in every v1 hierarchy of the fake tree. */
static void v1_cgroup(const char *path, bool memsw)
{
	cgdir(pathf("%s/memory%s", tmp, path), V1_MEMORY,
	      memsw ? "memory.memsw.limit_in_bytes" : NULL, NULL);
	cgdir(pathf("%s/cpu,cpuacct%s", tmp, path), V1_CPU, NULL);
	cgdir(pathf("%s/cpuset%s", tmp, path), "cpuset.cpus", "cpuset.mems", NULL);
	cgdir(pathf("%s/pids%s", tmp, path), "pids.max", NULL);
	cgdir(pathf("%s/freezer%s", tmp, path), "freezer.state=THAWED\n", NULL);
	cgdir(pathf("%s/systemd%s", tmp, path), NULL);
}

/* Like Debian's: "cpu,cpuacct" with "cpu" and "cpuacct" links to it, a named hierarchy,
 * and an unmounted directory (no cgroup.procs) that is not a hierarchy. */
static void v1_tree(void)
{
	fresh_tree();
	v1_cgroup("", true);
	put(pathf("%s/cpuset/cpuset.cpus", tmp), "0-3\n");
	put(pathf("%s/cpuset/cpuset.mems", tmp), "0\n");
	if (symlink("cpu,cpuacct", pathf("%s/cpu", tmp)) < 0 ||
	    symlink("cpu,cpuacct", pathf("%s/cpuacct", tmp)) < 0) {
		printf("Bail out! symlink\n");
		exit(1);
	}
	mkdirs(pathf("%s/rdma", tmp));
}

static struct oci_resources all_limits(void)
{
	return (struct oci_resources){
		.has_memory_limit = true,
		.memory_limit = 300000000,
		.has_memory_reservation = true,
		.memory_reservation = 100000000,
		.has_memory_swap = true,
		.memory_swap = 600000000,
		.has_cpu_shares = true,
		.cpu_shares = 512,
		.has_cpu_quota = true,
		.cpu_quota = 50000,
		.has_cpu_period = true,
		.cpu_period = 100000,
		.has_pids_limit = true,
		.pids_limit = 100,
	};
}

static const char *err_msg(int ret, krun_error_t *err)
{
	static char msg[1024];

	if (ret == 0)
		return "(no error)";
	snprintf(msg, sizeof(msg), "%s", *err ? (*err)->msg : "(no message)");
	krun_error_release(err);
	return msg;
}

/* The error of cgroup_create on the fake tree, or "(no error)". */
static const char *create_error(const char *path, pid_t pid, const struct oci_resources *r)
{
	struct cgroup *cg = NULL;
	krun_error_t err = NULL;
	int ret = cgroup_create(tmp, path, pid, r, &cg, &err);

	cgroup_free(cg);
	return err_msg(ret, &err);
}

static void test_v1_open(void)
{
	struct cgroup *cg;
	krun_error_t err = NULL;

	v1_tree();
	ok(cgroup_open(tmp, "//a/./b/", &cg, &err) == 0, "v1: open");
	is_int(cgroup_get_mode(cg), CGROUP_LEGACY, "v1: legacy layout detected");
	is_str(cgroup_get_path(cg), "/a/b", "v1: empty and . components dropped");
	cgroup_free(cg);
	ok(cgroup_open(tmp, "a/b", &cg, &err) == 0, "v1: a relative path opens");
	is_str(cgroup_get_path(cg), "/a/b", "v1: a relative path is relative to each root");
	cgroup_free(cg);
	is_str(create_error("/a/../../etc", 0, NULL),
	       "cgroup: cgroupsPath `/a/../../etc` must not contain `..`", "'..' is refused");
	is_str(create_error("..", 0, NULL), "cgroup: cgroupsPath `..` must not contain `..`",
	       "a bare '..' is refused");
	is_str(create_error("/./", 0, NULL),
	       "cgroup: cgroupsPath `/./` must name a cgroup below the root",
	       "the root cgroup is refused");
	is_str(create_error("", 0, NULL),
	       "cgroup: cgroupsPath `` must name a cgroup below the root",
	       "an empty path is refused");
	ok(!exists(pathf("%s/memory/etc", tmp)), "nothing was made for refused paths");
	fresh_tree();
	is_str(create_error("/x", 0, NULL), pathf("cgroup: no cgroup file system under `%s`", tmp),
	       "a directory without hierarchies is an error");
}

static void test_v1_create(void)
{
	struct oci_resources r = all_limits();
	struct cgroup *cg = NULL;
	krun_error_t err = NULL;
	int ret;

	v1_tree();
	cgdir(pathf("%s/cpuset/a", tmp), "cpuset.cpus=\n", "cpuset.mems", NULL);
	v1_cgroup("/a/b", true);
	ret = cgroup_create(tmp, "/a/b", 4242, &r, &cg, &err);
	if (!is_str(err_msg(ret, &err), "(no error)", "v1: create /a/b with every limit"))
		return;
	is_str(get(pathf("%s/memory/a/b/memory.limit_in_bytes", tmp)), "300000000",
	       "v1: memory.limit_in_bytes");
	is_str(get(pathf("%s/memory/a/b/memory.soft_limit_in_bytes", tmp)), "100000000",
	       "v1: memory.soft_limit_in_bytes from the reservation");
	is_str(get(pathf("%s/memory/a/b/memory.memsw.limit_in_bytes", tmp)), "600000000",
	       "v1: memory.memsw.limit_in_bytes is the OCI swap as is");
	is_str(get(pathf("%s/cpu,cpuacct/a/b/cpu.shares", tmp)), "512", "v1: cpu.shares");
	is_str(get(pathf("%s/cpu,cpuacct/a/b/cpu.cfs_quota_us", tmp)), "50000",
	       "v1: cpu.cfs_quota_us");
	is_str(get(pathf("%s/cpu,cpuacct/a/b/cpu.cfs_period_us", tmp)), "100000",
	       "v1: cpu.cfs_period_us");
	is_str(get(pathf("%s/pids/a/b/pids.max", tmp)), "100", "v1: pids.max");
	is_str(get(pathf("%s/cpuset/a/cpuset.cpus", tmp)), "0-3",
	       "v1: an empty parent cpuset gets its parent's cpus");
	is_str(get(pathf("%s/cpuset/a/b/cpuset.cpus", tmp)), "0-3",
	       "v1: an empty cpuset gets its parent's cpus");
	is_str(get(pathf("%s/cpuset/a/b/cpuset.mems", tmp)), "0",
	       "v1: an empty cpuset gets its parent's mems");
	const char *hiers[] = { "memory", "cpu,cpuacct", "cpuset", "pids", "freezer", "systemd" };
	int joined = 0;
	for (size_t i = 0; i < ARRAY_SIZE(hiers); i++)
		joined += strcmp(get(pathf("%s/%s/a/b/cgroup.procs", tmp, hiers[i])), "4242") == 0;
	is_int(joined, (int)ARRAY_SIZE(hiers), "v1: the pid joined every hierarchy");
	ok(!exists(pathf("%s/rdma/a", tmp)), "v1: a directory without cgroup.procs is skipped");
	cgroup_free(cg);
}

static void test_v1_values(void)
{
	struct oci_resources r = {
		.has_memory_limit = true,
		.memory_limit = -1,
		.has_memory_swap = true,
		.memory_swap = 1 << 30,
		.has_cpu_quota = true,
		.cpu_quota = -1,
		.has_pids_limit = true,
		.pids_limit = 0,
	};
	struct cgroup *cg;
	krun_error_t err = NULL;

	v1_tree();
	v1_cgroup("/c", false);
	put(pathf("%s/memory/c/memory.soft_limit_in_bytes", tmp), "untouched");
	put(pathf("%s/cpu,cpuacct/c/cpu.cfs_period_us", tmp), "untouched");
	is_str(create_error("/c", 0, &r), "(no error)", "v1: create with unlimited values");
	is_str(get(pathf("%s/memory/c/memory.limit_in_bytes", tmp)), "-1",
	       "v1: unlimited memory is -1");
	is_str(get(pathf("%s/memory/c/memory.soft_limit_in_bytes", tmp)), "untouched",
	       "v1: an absent reservation is not written");
	ok(!exists(pathf("%s/memory/c/memory.memsw.limit_in_bytes", tmp)),
	   "v1: swap is skipped without swap accounting");
	is_str(get(pathf("%s/cpu,cpuacct/c/cpu.cfs_quota_us", tmp)), "-1",
	       "v1: unlimited quota is -1");
	is_str(get(pathf("%s/cpu,cpuacct/c/cpu.cfs_period_us", tmp)), "untouched",
	       "v1: an absent period is not written");
	is_str(get(pathf("%s/pids/c/pids.max", tmp)), "max", "v1: pids limit 0 is max");
	is_str(get(pathf("%s/freezer/c/cgroup.procs", tmp)), "", "v1: pid 0 joins nothing");

	struct oci_resources set = { .cpuset_cpus = "1", .cpuset_mems = "0" };
	ok(cgroup_open(tmp, "/c", &cg, &err) == 0, "v1: open /c");
	put(pathf("%s/cpuset/c/cpuset.cpus", tmp), "");
	is_str(err_msg(cgroup_apply(cg, &set, &err), &err), "(no error)",
	       "v1: apply cpus and mems");
	is_str(get(pathf("%s/cpuset/c/cpuset.cpus", tmp)), "1", "v1: cpuset.cpus");
	is_str(get(pathf("%s/cpuset/c/cpuset.mems", tmp)), "0", "v1: cpuset.mems");
	cgroup_free(cg);
}

static void test_v1_errors(void)
{
	struct oci_resources r = all_limits();
	struct oci_resources pids = { .has_pids_limit = true, .pids_limit = 5 };

	v1_tree();
	v1_cgroup("/e", true);
	remove(pathf("%s/memory/e/memory.limit_in_bytes", tmp));
	mkdir(pathf("%s/memory/e/memory.limit_in_bytes", tmp), 0755);
	is_str(create_error("/e", 0, &r),
	       pathf("cgroup: write `300000000` to `%s/memory/e/memory.limit_in_bytes`: Is a "
		     "directory",
		     tmp),
	       "v1: a failed write names the value and the file");

	/* "cpu,cpuacct" comes before "cpuset", whose new directories lack the files. */
	v1_tree();
	cgdir(pathf("%s/cpu,cpuacct/new", tmp), V1_CPU, NULL);
	is_str(create_error("/new/leaf", 0, NULL),
	       pathf("cgroup: read `%s/cpuset/new/cpuset.cpus`: No such file or directory", tmp),
	       "v1: a failing create reports the file");
	ok(!exists(pathf("%s/cpuset/new", tmp)) && !exists(pathf("%s/cpu,cpuacct/new/leaf", tmp)),
	   "v1: a failing create removes the directories it made");
	ok(exists(pathf("%s/cpu,cpuacct/new", tmp)), "v1: ... and only those");
	ok(!exists(pathf("%s/memory/new", tmp)), "v1: ... and stops at the failing hierarchy");

	v1_tree();
	v1_cgroup("/p", true);
	nftw(pathf("%s/pids", tmp), rm_one, 16, FTW_DEPTH | FTW_PHYS);
	is_str(create_error("/p", 0, &pids),
	       "cgroup: the pids controller is not available on this host",
	       "v1: a limit of a missing controller is an error");
	is_str(create_error("/p", 0, &(struct oci_resources){ 0 }), "(no error)",
	       "v1: a missing controller without its limit is fine");
}

static void test_v1_freeze_and_pids(void)
{
	struct cgroup *cg;
	krun_error_t err = NULL;
	bool frozen = true;
	pid_t *pids = NULL;
	size_t n = 0;

	v1_tree();
	v1_cgroup("/f", true);
	ok(cgroup_open(tmp, "/f", &cg, &err) == 0, "v1: open /f");
	ok(cgroup_is_frozen(cg, &frozen, &err) == 0 && !frozen, "v1: THAWED is not frozen");
	ok(cgroup_freeze(cg, true, &err) == 0, "v1: freeze");
	is_str(get(pathf("%s/freezer/f/freezer.state", tmp)), "FROZEN", "v1: freezer.state FROZEN");
	ok(cgroup_is_frozen(cg, &frozen, &err) == 0 && frozen, "v1: FROZEN is frozen");
	ok(cgroup_freeze(cg, false, &err) == 0, "v1: thaw");
	is_str(get(pathf("%s/freezer/f/freezer.state", tmp)), "THAWED", "v1: freezer.state THAWED");

	put(pathf("%s/freezer/f/cgroup.procs", tmp), "10\n11\n");
	cgdir(pathf("%s/freezer/f/sub", tmp), NULL);
	put(pathf("%s/freezer/f/sub/cgroup.procs", tmp), "12\n");
	put(pathf("%s/memory/f/cgroup.procs", tmp), "99\n");
	ok(cgroup_pids(cg, &pids, &n, &err) == 0, "v1: pids");
	ok(n == 3 && pids[0] == 10 && pids[1] == 11 && pids[2] == 12,
	   "v1: pids of the cgroup and its sub-cgroups, from the freezer hierarchy");
	free(pids);
	cgroup_free(cg);

	ok(cgroup_open(tmp, "/gone", &cg, &err) == 0, "v1: open a cgroup that does not exist");
	is_int(cgroup_is_frozen(cg, &frozen, &err), -ENOENT, "v1: is_frozen of it is -ENOENT");
	krun_error_release(&err);
	is_int(cgroup_pids(cg, &pids, &n, &err), -ENOENT, "v1: pids of it is -ENOENT");
	krun_error_release(&err);
	is_int(cgroup_destroy(cg, &err), 0, "v1: destroying it is fine");
	cgroup_free(cg);
}

/* ---- hybrid ---- */

static void hybrid_tree(const char *unified_ctrls)
{
	v1_tree();
	cgdir(pathf("%s/unified", tmp), pathf("cgroup.controllers=%s\n", unified_ctrls),
	      "cgroup.subtree_control", "cgroup.freeze", NULL);
}

static void test_hybrid(void)
{
	struct oci_resources r = all_limits();
	struct cgroup *cg;
	krun_error_t err = NULL;
	int ret;

	hybrid_tree("hugetlb");
	cgdir(pathf("%s/cpuset/a", tmp), "cpuset.cpus", "cpuset.mems", NULL);
	v1_cgroup("/a/b", true);
	cgdir(pathf("%s/unified/a", tmp), "cgroup.controllers=hugetlb\n", "cgroup.subtree_control",
	      NULL);
	cgdir(pathf("%s/unified/a/b", tmp), "cgroup.controllers=hugetlb\n",
	      "cgroup.subtree_control", "cgroup.freeze", NULL);
	ret = cgroup_create(tmp, "/a/b", 777, &r, &cg, &err);
	if (!is_str(err_msg(ret, &err), "(no error)", "hybrid: create"))
		return;
	is_int(cgroup_get_mode(cg), CGROUP_HYBRID, "hybrid: layout detected");
	is_str(get(pathf("%s/unified/a/b/cgroup.procs", tmp)), "777",
	       "hybrid: the pid joined the cgroup2 hierarchy");
	is_str(get(pathf("%s/memory/a/b/cgroup.procs", tmp)), "777",
	       "hybrid: the pid joined the v1 hierarchies");
	is_str(get(pathf("%s/unified/cgroup.subtree_control", tmp)), "+hugetlb",
	       "hybrid: the cgroup2 root passes its controller down");
	is_str(get(pathf("%s/unified/a/cgroup.subtree_control", tmp)), "+hugetlb",
	       "hybrid: the parent passes it down");
	is_str(get(pathf("%s/unified/a/b/cgroup.subtree_control", tmp)), "",
	       "hybrid: the container's cgroup enables nothing");
	is_str(get(pathf("%s/memory/a/b/memory.limit_in_bytes", tmp)), "300000000",
	       "hybrid: limits go to the v1 hierarchies");
	ok(cgroup_freeze(cg, true, &err) == 0, "hybrid: freeze");
	is_str(get(pathf("%s/freezer/a/b/freezer.state", tmp)), "FROZEN",
	       "hybrid: the v1 freezer is used");
	is_str(get(pathf("%s/unified/a/b/cgroup.freeze", tmp)), "",
	       "hybrid: cgroup.freeze is not touched");
	cgroup_free(cg);
}

/* A controller bound to the cgroup2 hierarchy gets the v2 files. */
static void test_hybrid_v2_controller(void)
{
	struct oci_resources r = { .has_pids_limit = true, .pids_limit = 64 };
	struct cgroup *cg;
	krun_error_t err = NULL;
	int ret;

	hybrid_tree("pids hugetlb");
	nftw(pathf("%s/pids", tmp), rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(pathf("%s/freezer", tmp), rm_one, 16, FTW_DEPTH | FTW_PHYS);
	v1_cgroup("/p", true);
	nftw(pathf("%s/pids", tmp), rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(pathf("%s/freezer", tmp), rm_one, 16, FTW_DEPTH | FTW_PHYS);
	cgdir(pathf("%s/unified/p", tmp), "cgroup.controllers=pids hugetlb\n",
	      "cgroup.subtree_control", "pids.max", "cgroup.freeze", "cgroup.events=frozen 1\n",
	      NULL);
	ret = cgroup_create(tmp, "/p", 0, &r, &cg, &err);
	if (!is_str(err_msg(ret, &err), "(no error)", "hybrid with pids on cgroup2: create"))
		return;
	is_str(get(pathf("%s/unified/cgroup.subtree_control", tmp)), "+pids +hugetlb",
	       "hybrid with pids on cgroup2: both controllers passed down");
	is_str(get(pathf("%s/unified/p/pids.max", tmp)), "64",
	       "hybrid with pids on cgroup2: pids.max written there");
	ok(cgroup_freeze(cg, true, &err) == 0, "hybrid without a v1 freezer: freeze");
	is_str(get(pathf("%s/unified/p/cgroup.freeze", tmp)), "1",
	       "hybrid without a v1 freezer: cgroup2's cgroup.freeze is used");
	cgroup_free(cg);
}

/* ---- unified (pure cgroup2) ---- */

#define V2_FILES                                                                                   \
	"cgroup.subtree_control", "memory.max", "memory.low", "memory.swap.max", "cpu.weight",     \
	    "cpu.max=max 100000\n", "pids.max", "cpuset.cpus", "cpuset.mems", "cgroup.freeze",     \
	    "cgroup.events=populated 0\nfrozen 0\n"

static void v2_tree(void)
{
	fresh_tree();
	cgdir(tmp, "cgroup.controllers=cpuset cpu io memory hugetlb pids\n",
	      "cgroup.subtree_control=memory\n", NULL);
	cgdir(pathf("%s/a", tmp), "cgroup.controllers=cpuset cpu io memory hugetlb pids\n",
	      "cgroup.subtree_control", NULL);
	cgdir(pathf("%s/a/b", tmp), "cgroup.controllers=cpuset cpu io memory hugetlb pids\n",
	      V2_FILES, NULL);
}

static const char *v2_apply(const struct oci_resources *r)
{
	struct cgroup *cg;
	krun_error_t err = NULL;
	int ret;

	if (cgroup_open(tmp, "/a/b", &cg, &err) < 0)
		return err_msg(-1, &err);
	ret = cgroup_apply(cg, r, &err);
	cgroup_free(cg);
	return err_msg(ret, &err);
}

static void test_v2_create(void)
{
	struct oci_resources r = all_limits();
	struct cgroup *cg;
	krun_error_t err = NULL;
	int ret;

	v2_tree();
	r.cpuset_cpus = "0-1";
	r.cpuset_mems = "0";
	ret = cgroup_create(tmp, "/a/b", 31337, &r, &cg, &err);
	if (!is_str(err_msg(ret, &err), "(no error)", "v2: create"))
		return;
	is_int(cgroup_get_mode(cg), CGROUP_UNIFIED, "v2: unified layout detected");
	is_str(get(pathf("%s/cgroup.subtree_control", tmp)), "+cpuset +cpu +io +hugetlb +pids",
	       "v2: the root enables what it lacks");
	is_str(get(pathf("%s/a/cgroup.subtree_control", tmp)),
	       "+cpuset +cpu +io +memory +hugetlb +pids", "v2: the parent enables everything");
	is_str(get(pathf("%s/a/b/cgroup.subtree_control", tmp)), "",
	       "v2: the container's cgroup enables nothing");
	is_str(get(pathf("%s/a/b/cgroup.procs", tmp)), "31337", "v2: the pid joined");
	is_str(get(pathf("%s/a/b/memory.max", tmp)), "300000000", "v2: memory.max");
	is_str(get(pathf("%s/a/b/memory.low", tmp)), "100000000", "v2: memory.low");
	is_str(get(pathf("%s/a/b/memory.swap.max", tmp)), "300000000",
	       "v2: memory.swap.max is swap - limit");
	is_str(get(pathf("%s/a/b/cpu.weight", tmp)), "20", "v2: cpu.weight from 512 shares");
	is_str(get(pathf("%s/a/b/cpu.max", tmp)), "50000 100000", "v2: cpu.max");
	is_str(get(pathf("%s/a/b/pids.max", tmp)), "100", "v2: pids.max");
	is_str(get(pathf("%s/a/b/cpuset.cpus", tmp)), "0-1", "v2: cpuset.cpus");
	is_str(get(pathf("%s/a/b/cpuset.mems", tmp)), "0", "v2: cpuset.mems");
	cgroup_free(cg);
}

/* Enabling anything in /a would break /a/b: /a holds a process. */
static void test_v2_busy_parent(void)
{
	v2_tree();
	put(pathf("%s/a/cgroup.procs", tmp), "77\n");
	is_str(create_error("/a/b", 0, NULL), "(no error)", "v2: create below a busy parent");
	is_str(get(pathf("%s/cgroup.subtree_control", tmp)), "+cpuset +cpu +io +hugetlb +pids",
	       "v2: the root still enables what it lacks");
	is_str(get(pathf("%s/a/cgroup.subtree_control", tmp)), "",
	       "v2: a parent with processes is not touched");
}

static void test_v2_values(void)
{
	v2_tree();
	is_str(v2_apply(&(struct oci_resources){ .has_memory_limit = true,
						 .memory_limit = -1,
						 .has_memory_swap = true,
						 .memory_swap = -1,
						 .has_cpu_quota = true,
						 .cpu_quota = -1,
						 .has_pids_limit = true,
						 .pids_limit = -1 }),
	       "(no error)", "v2: apply unlimited values");
	is_str(get(pathf("%s/a/b/memory.max", tmp)), "max", "v2: unlimited memory is max");
	is_str(get(pathf("%s/a/b/memory.swap.max", tmp)), "max", "v2: unlimited swap is max");
	is_str(get(pathf("%s/a/b/cpu.max", tmp)), "max", "v2: unlimited quota alone is max");
	is_str(get(pathf("%s/a/b/pids.max", tmp)), "max", "v2: unlimited pids is max");
	put(pathf("%s/a/b/cpu.max", tmp), "25000 100000\n");
	is_str(v2_apply(&(struct oci_resources){ .has_cpu_period = true, .cpu_period = 200000 }),
	       "(no error)", "v2: apply a period alone");
	is_str(get(pathf("%s/a/b/cpu.max", tmp)), "25000 200000", "v2: a period keeps the quota");

	const uint64_t shares[] = { 2, 1024, 262144, 1, 1000000 };
	const char *weights[] = { "1", "39", "10000", "1", "10000" };
	for (size_t i = 0; i < ARRAY_SIZE(shares); i++) {
		v2_apply(
		    &(struct oci_resources){ .has_cpu_shares = true, .cpu_shares = shares[i] });
		is_str(get(pathf("%s/a/b/cpu.weight", tmp)), weights[i],
		       pathf("v2: %llu shares is weight %s", (unsigned long long)shares[i],
			     weights[i]));
	}
}

static void test_v2_errors(void)
{
	v2_tree();
	is_str(v2_apply(&(struct oci_resources){ .has_memory_swap = true, .memory_swap = 1000 }),
	       "cgroup: memory.swap (1000) needs a memory.limit on cgroup v2",
	       "v2: swap without a memory limit");
	is_str(v2_apply(&(struct oci_resources){ .has_memory_limit = true,
						 .memory_limit = 2000,
						 .has_memory_swap = true,
						 .memory_swap = 1000 }),
	       "cgroup: memory.swap (1000) must be at least memory.limit (2000)",
	       "v2: swap below the memory limit");
	is_str(get(pathf("%s/a/b/memory.max", tmp)), "", "v2: nothing written on a bad swap");
	remove(pathf("%s/a/b/memory.swap.max", tmp));
	is_str(v2_apply(&(struct oci_resources){ .has_memory_limit = true,
						 .memory_limit = 2000,
						 .has_memory_swap = true,
						 .memory_swap = 1000 }),
	       "(no error)", "v2: without swap accounting the swap is skipped");
	put(pathf("%s/a/b/cgroup.controllers", tmp), "cpu memory\n");
	is_str(v2_apply(&(struct oci_resources){ .has_pids_limit = true, .pids_limit = 1 }),
	       pathf("cgroup: the pids controller is not enabled for `%s/a/b` (its parents' "
		     "cgroup.subtree_control lack it)",
		     tmp),
	       "v2: a controller the parents did not pass down");
	put(pathf("%s/cgroup.controllers", tmp), "cpu memory\n");
	is_str(v2_apply(&(struct oci_resources){ .cpuset_cpus = "0" }),
	       "cgroup: the cpuset controller is not available on this host",
	       "v2: a controller the host lacks");
	is_str(v2_apply(&(struct oci_resources){ 0 }), "(no error)", "v2: no limits, no error");
}

static void test_v2_freeze(void)
{
	struct cgroup *cg;
	krun_error_t err = NULL;
	bool frozen = false;

	v2_tree();
	ok(cgroup_open(tmp, "/a/b", &cg, &err) == 0, "v2: open");
	put(pathf("%s/a/b/cgroup.events", tmp), "populated 1\nfrozen 1\n");
	ok(cgroup_freeze(cg, true, &err) == 0, "v2: freeze once cgroup.events says frozen 1");
	is_str(get(pathf("%s/a/b/cgroup.freeze", tmp)), "1", "v2: cgroup.freeze 1");
	ok(cgroup_is_frozen(cg, &frozen, &err) == 0 && frozen, "v2: is frozen");
	put(pathf("%s/a/b/cgroup.events", tmp), "populated 1\nfrozen 0\n");
	ok(cgroup_freeze(cg, false, &err) == 0, "v2: thaw");
	is_str(get(pathf("%s/a/b/cgroup.freeze", tmp)), "0", "v2: cgroup.freeze 0");
	ok(cgroup_is_frozen(cg, &frozen, &err) == 0 && !frozen, "v2: is not frozen");
	put(pathf("%s/a/b/cgroup.events", tmp), "populated 1\n");
	is_str(err_msg(cgroup_freeze(cg, true, &err), &err),
	       pathf("cgroup: `%s/a/b/cgroup.events` has no `frozen` line", tmp),
	       "v2: a cgroup.events without a frozen line");
	cgroup_free(cg);
}

/* ---- the systemd manager's names ---- */

static const char *sd_parse(const char *path, struct cgroup_systemd_name *n)
{
	krun_error_t err = NULL;

	*n = (struct cgroup_systemd_name){ 0 };
	return err_msg(cgroup_systemd_parse(path, "ctr1", n, &err), &err);
}

static void sd_case(const char *path, const char *slice, const char *unit, const char *cgpath)
{
	struct cgroup_systemd_name n;
	const char *msg = sd_parse(path, &n);

	if (!is_str(msg, "(no error)", pathf("systemd: \"%s\" parses", path ? path : "(null)")))
		return;
	is_str(n.slice, slice, pathf("systemd: \"%s\": slice %s", path ? path : "(null)", slice));
	is_str(n.unit, unit, pathf("systemd: \"%s\": unit %s", path ? path : "(null)", unit));
	is_str(n.path, cgpath, pathf("systemd: \"%s\": cgroup %s", path ? path : "(null)", cgpath));
	cgroup_systemd_name_release(&n);
}

static void sd_error(const char *path, const char *want)
{
	struct cgroup_systemd_name n;

	is_str(sd_parse(path, &n), want, pathf("systemd: \"%s\" is refused", path));
	ok(!n.slice && !n.unit && !n.path, pathf("systemd: \"%s\" leaves nothing", path));
}

static void test_systemd_names(void)
{
	sd_case("machine.slice:libpod:abc", "machine.slice", "libpod-abc.scope",
		"/machine.slice/libpod-abc.scope");
	sd_case("kubepods-besteffort-pod1_2.slice:cri-containerd:x9",
		"kubepods-besteffort-pod1_2.slice", "cri-containerd-x9.scope",
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/"
		"cri-containerd-x9.scope");
	const char *dflt = geteuid() == 0 ? "system.slice" : "user.slice";

	sd_case(":crio:id", dflt, "crio-id.scope", pathf("/%s/crio-id.scope", dflt));
	sd_case("-.slice::lone", "-.slice", "lone.scope", "/lone.scope");
	sd_case(NULL, dflt, "krun-ctr1.scope", pathf("/%s/krun-ctr1.scope", dflt));
	sd_case("", dflt, "krun-ctr1.scope", pathf("/%s/krun-ctr1.scope", dflt));
	sd_error("machine.slice:x", "systemd cgroup manager: cgroupsPath `machine.slice:x` must be "
				    "`slice:prefix:name`");
	sd_error("a.slice:b:c:d", "systemd cgroup manager: cgroupsPath `a.slice:b:c:d` must be "
				  "`slice:prefix:name`");
	sd_error("a.slice:b:", "systemd cgroup manager: cgroupsPath `a.slice:b:` must be "
			       "`slice:prefix:name`");
	sd_error("a.slice:p:../../etc",
		 "systemd cgroup manager: `../../etc` has a character not allowed in a unit "
		 "name: `/`");
	sd_error("machine:p:n", "systemd cgroup manager: bad slice name `machine`");
	sd_error("a--b.slice:p:n", "systemd cgroup manager: bad slice name `a--b.slice`");
	sd_error("a-.slice:p:n", "systemd cgroup manager: bad slice name `a-.slice`");
	sd_error("x.slice:p:y.slice",
		 "systemd cgroup manager: `x.slice:p:y.slice` names a slice; krun makes only "
		 "scope units");
}

static void test_systemd_manager(void)
{
	struct cgroup *cg = NULL;
	krun_error_t err = NULL;
	int ret;

	v2_tree();
	ok(cgroup_open_systemd(tmp, "machine.slice:libpod:abc", "abc", &cg, &err) == 0,
	   "systemd: open");
	is_str(cg ? cgroup_get_path(cg) : "", "/machine.slice/libpod-abc.scope",
	       "systemd: open uses the unit's cgroup");
	cgroup_free(cg);
	if (exists("/run/systemd/system")) {
		ok(1, "systemd: not-running error # SKIP systemd runs on this host");
		return;
	}
	ret = cgroup_create_systemd(tmp, "machine.slice:libpod:abc", "abc", getpid(), NULL, &cg,
				    &err);
	is_str(err_msg(ret, &err),
	       "systemd cgroup manager: systemd is not running on this host (no "
	       "`/run/systemd/system`); use --cgroup-manager=cgroupfs",
	       "systemd: a clear error when systemd is not running");
}

/* ---- the real cgroup file system ---- */

static void exit_42(int sig)
{
	_exit(42);
}

/* A handled SIGTERM is not fatal, so it waits for a frozen process to be thawed (cgroup2
 * lets fatal signals through the freezer). Set before fork: the child has it at once. */
static pid_t spawn_sleeper(bool ignore_term)
{
	pid_t pid;

	signal(SIGTERM, ignore_term ? SIG_IGN : exit_42);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	signal(SIGTERM, SIG_DFL);
	return pid;
}

/* Every line of /proc/pid/cgroup (one per hierarchy) ends with ":" + path; in the legacy
 * layout cgroup2's line ("0::") is left out, as it is not mounted. */
static bool in_every_hierarchy(pid_t pid, const char *path, enum cgroup_mode mode)
{
	char line[4096];
	FILE *f = fopen(pathf("/proc/%d/cgroup", (int)pid), "r");
	int lines = 0, good = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\n"), plen = strlen(path);

		line[n] = '\0';
		if (mode == CGROUP_LEGACY && strncmp(line, "0::", 3) == 0)
			continue;
		lines++;
		good += n > plen && line[n - plen - 1] == ':' && strcmp(line + n - plen, path) == 0;
	}
	fclose(f);
	if (lines != good)
		printf("#   %d of %d lines of /proc/%d/cgroup name %s\n", good, lines, (int)pid,
		       path);
	return lines > 0 && lines == good;
}

/* The limit files, by layout: v1 through the controllers' own directories. */
static void check_real_limits(enum cgroup_mode mode, const char *path)
{
	const char *r = CGROUP_ROOT;

	if (mode == CGROUP_UNIFIED) {
		is_str(get(pathf("%s%s/memory.max", r, path)), "67108864", "real: memory.max");
		is_str(get(pathf("%s%s/pids.max", r, path)), "50", "real: pids.max");
		is_str(get(pathf("%s%s/cpu.weight", r, path)), "20", "real: cpu.weight");
		is_str(get(pathf("%s%s/cpu.max", r, path)), "20000 100000", "real: cpu.max");
		return;
	}
	is_str(get(pathf("%s/memory%s/memory.limit_in_bytes", r, path)), "67108864",
	       "real: memory.limit_in_bytes");
	is_str(get(pathf("%s/pids%s/pids.max", r, path)), "50", "real: pids.max");
	is_str(get(pathf("%s/cpu%s/cpu.shares", r, path)), "512", "real: cpu.shares");
	is_str(get(pathf("%s/cpu%s/cpu.cfs_quota_us", r, path)), "20000", "real: cpu.cfs_quota_us");
}

static const char *freezer_file(enum cgroup_mode mode, const char *path)
{
	if (mode == CGROUP_UNIFIED)
		return get(pathf("%s%s/cgroup.freeze", CGROUP_ROOT, path));
	return get(pathf("%s/freezer%s/freezer.state", CGROUP_ROOT, path));
}

/* On v1 the limit has to go after memsw when both grow past the old memsw. */
static void check_real_update(const struct cgroup *cg, const char *path)
{
	struct oci_resources grow = { .has_memory_limit = true,
				      .memory_limit = 256 << 20,
				      .has_memory_swap = true,
				      .memory_swap = 512 << 20 };
	krun_error_t err = NULL;

	is_str(err_msg(cgroup_apply(cg, &grow, &err), &err), "(no error)",
	       "real: update memory and swap past the old swap limit");
	if (cgroup_get_mode(cg) == CGROUP_UNIFIED)
		is_str(get(pathf("%s%s/memory.max", CGROUP_ROOT, path)), "268435456",
		       "real: memory.max updated");
	else
		is_str(get(pathf("%s/memory%s/memory.limit_in_bytes", CGROUP_ROOT, path)),
		       "268435456", "real: memory.limit_in_bytes updated");
	const char *swap = cgroup_get_mode(cg) == CGROUP_UNIFIED
			       ? "%s%s/memory.swap.max"
			       : "%s/memory%s/memory.memsw.limit_in_bytes";
	if (!exists(pathf(swap, CGROUP_ROOT, path)))
		ok(1, "real: swap limit updated # SKIP no swap accounting");
	else
		is_str(get(pathf(swap, CGROUP_ROOT, path)),
		       cgroup_get_mode(cg) == CGROUP_UNIFIED ? "268435456" : "536870912",
		       "real: swap limit updated");
}

static void check_real_freeze(const struct cgroup *cg, const char *path)
{
	enum cgroup_mode mode = cgroup_get_mode(cg);
	krun_error_t err = NULL;
	bool frozen = false;

	is_str(err_msg(cgroup_freeze(cg, true, &err), &err), "(no error)", "real: freeze");
	is_str(freezer_file(mode, path), mode == CGROUP_UNIFIED ? "1" : "FROZEN",
	       "real: the freezer file says frozen");
	ok(cgroup_is_frozen(cg, &frozen, &err) == 0 && frozen, "real: is frozen");
	is_str(err_msg(cgroup_freeze(cg, false, &err), &err), "(no error)", "real: thaw");
	is_str(freezer_file(mode, path), mode == CGROUP_UNIFIED ? "0" : "THAWED",
	       "real: the freezer file says thawed");
	ok(cgroup_is_frozen(cg, &frozen, &err) == 0 && !frozen, "real: is not frozen");
}

static void check_real_pids(const struct cgroup *cg, pid_t a, pid_t b)
{
	krun_error_t err = NULL;
	pid_t *pids = NULL;
	size_t n = 0;

	ok(cgroup_pids(cg, &pids, &n, &err) == 0, "real: pids");
	ok(n == 2 && ((pids[0] == a && pids[1] == b) || (pids[0] == b && pids[1] == a)),
	   "real: pids lists the child and the child in the sub-cgroup");
	free(pids);
}

/* SIGTERM to a paused cgroup waits for resume; SIGKILL ends even a paused one. */
static void check_real_kill(const struct cgroup *cg, pid_t a, pid_t b)
{
	krun_error_t err = NULL;
	bool frozen = false;
	int status = 0;

	ok(cgroup_freeze(cg, true, &err) == 0, "real: pause before kill --all");
	is_str(err_msg(cgroup_kill_all(cg, SIGTERM, &err), &err), "(no error)",
	       "real: kill --all TERM");
	ok(cgroup_is_frozen(cg, &frozen, &err) == 0 && frozen, "real: still paused after TERM");
	is_int(waitpid(a, &status, WNOHANG), 0, "real: the child has not died while paused");
	ok(cgroup_freeze(cg, false, &err) == 0, "real: resume");
	ok(waitpid(a, &status, 0) == a && WIFEXITED(status) && WEXITSTATUS(status) == 42,
	   "real: the child handled SIGTERM once resumed");
	is_int(kill(b, 0), 0, "real: the child ignoring SIGTERM lives");
	ok(cgroup_freeze(cg, true, &err) == 0, "real: pause again");
	is_str(err_msg(cgroup_kill_all(cg, SIGKILL, &err), &err), "(no error)",
	       "real: kill --all KILL");
	ok(waitpid(b, &status, 0) == b && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	   "real: the child in the sub-cgroup died of SIGKILL though paused");
}

static int real_setup(const char *path, const char *sub, pid_t a, pid_t b, struct cgroup **cg)
{
	struct oci_resources r = { .has_memory_limit = true,
				   .memory_limit = 64 << 20,
				   .has_memory_swap = true,
				   .memory_swap = 128 << 20,
				   .has_pids_limit = true,
				   .pids_limit = 50,
				   .has_cpu_shares = true,
				   .cpu_shares = 512,
				   .has_cpu_quota = true,
				   .cpu_quota = 20000,
				   .has_cpu_period = true,
				   .cpu_period = 100000 };
	struct cgroup *subcg = NULL;
	krun_error_t err = NULL;
	int ret;

	ret = cgroup_create(CGROUP_ROOT, path, a, &r, cg, &err);
	if (!is_str(err_msg(ret, &err), "(no error)", "real: create with limits"))
		return -1;
	ret = cgroup_create(CGROUP_ROOT, sub, b, NULL, &subcg, &err);
	is_str(err_msg(ret, &err), "(no error)", "real: create a sub-cgroup");
	cgroup_free(subcg);
	return ret;
}

static void test_real(void)
{
	char path[128], sub[160], parent[64];
	struct cgroup *cg = NULL, *top = NULL;
	krun_error_t err = NULL;
	pid_t a, b;
	bool frozen;

	if (geteuid() != 0 || !exists(CGROUP_ROOT)) {
		ok(1, "real cgroup file system # SKIP needs root and " CGROUP_ROOT);
		return;
	}
	snprintf(parent, sizeof(parent), "/krun-cgroup-test-%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/c", parent);
	snprintf(sub, sizeof(sub), "%s/sub", path);
	a = spawn_sleeper(false);
	b = spawn_sleeper(true);
	if (real_setup(path, sub, a, b, &cg) == 0) {
		printf("# real layout: %s\n",
		       (const char *[]){ "legacy", "hybrid", "unified" }[cgroup_get_mode(cg)]);
		ok(in_every_hierarchy(a, path, cgroup_get_mode(cg)),
		   "real: the child is in every hierarchy");
		ok(in_every_hierarchy(b, sub, cgroup_get_mode(cg)),
		   "real: the second child is in the sub-cgroup");
		check_real_limits(cgroup_get_mode(cg), path);
		check_real_update(cg, path);
		check_real_freeze(cg, path);
		check_real_pids(cg, a, b);
		check_real_kill(cg, a, b);
		is_str(err_msg(cgroup_destroy(cg, &err), &err), "(no error)", "real: destroy");
		ok(!exists(pathf("%s/memory%s", CGROUP_ROOT, path)) &&
		       !exists(pathf("%s%s", CGROUP_ROOT, path)) &&
		       !exists(pathf("%s/freezer%s", CGROUP_ROOT, path)),
		   "real: the cgroup directories are gone");
		is_int(cgroup_is_frozen(cg, &frozen, &err), -ENOENT,
		       "real: a gone cgroup is ENOENT");
		krun_error_release(&err);
	}
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	cgroup_free(cg);
	if (cgroup_open(CGROUP_ROOT, parent, &top, &err) == 0)
		is_str(err_msg(cgroup_destroy(top, &err), &err), "(no error)",
		       "real: destroy the test's parent cgroup");
	cgroup_free(top);
}

int main(void)
{
	test_v1_open();
	test_v1_create();
	test_v1_values();
	test_v1_errors();
	test_v1_freeze_and_pids();
	test_hybrid();
	test_hybrid_v2_controller();
	test_v2_create();
	test_v2_busy_parent();
	test_v2_values();
	test_v2_errors();
	test_v2_freeze();
	test_systemd_names();
	test_systemd_manager();
	test_real();
	fresh_tree();
	rmdir(tmp);
	return tap_done();
}
