/* krun spec (the default config.json, written once) and krun features (the OCI features
 * structure): the documents are parsed back, by our config parser and by yajl. */
#include "oci/config.h"
#include "oci/mounts.h"
#include "oci/spec_features.h"
#include "oci/verbs.h"
#include "annotations/vm_keys.h"
#include "util/util.h"
#include "tap.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })
#define ARGC(...) ((int)ARRAY_SIZE(((char *[]){ __VA_ARGS__ })))
#define SPEC(...) run_verb(krun_cmd_spec, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static char last_msg[512];

static int run_verb(int (*verb)(const struct cli_globals *, int, char **, krun_error_t *), int argc,
		    char **argv)
{
	struct cli_globals g = { 0 };
	krun_error_t err = NULL;
	int ret = verb(&g, argc, argv, &err);

	last_msg[0] = '\0';
	if (err)
		snprintf(last_msg, sizeof(last_msg), "%s", err->msg);
	krun_error_release(&err);
	return ret;
}

static yajl_val get(yajl_val doc, const char *a, const char *b, const char *c)
{
	const char *path[] = { a, b, c, NULL };

	return yajl_tree_get(doc, path, yajl_t_any);
}

static const char *get_str(yajl_val doc, const char *a, const char *b, const char *c)
{
	yajl_val v = get(doc, a, b, c);

	return YAJL_IS_STRING(v) ? v->u.string : NULL;
}

static long long get_int(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val n = yajl_tree_get(v, path, yajl_t_number);

	return n && YAJL_IS_INTEGER(n) ? YAJL_GET_INTEGER(n) : -1;
}

static bool strv_has(const struct strv *s, const char *want)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->v[i], want) == 0)
			return true;
	}
	return false;
}

static bool array_has(yajl_val arr, const char *want)
{
	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		yajl_val v = arr->u.array.values[i];

		if (YAJL_IS_STRING(v) && strcmp(v->u.string, want) == 0)
			return true;
	}
	return false;
}

/* The array's strings joined with ",", to compare whole lists at once. */
static char *joined(yajl_val arr)
{
	char *out = xstrdup("");

	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		yajl_val v = arr->u.array.values[i];
		char *next;

		xasprintf(&next, "%s%s%s", out, i ? "," : "",
			  YAJL_IS_STRING(v) ? v->u.string : "<not a string>");
		free(out);
		out = next;
	}
	return out;
}

static yajl_val parse_tree(const char *text)
{
	char errbuf[256];
	yajl_val doc = yajl_tree_parse(text, errbuf, sizeof(errbuf));

	if (!doc)
		printf("# yajl: %s\n", errbuf);
	return doc;
}

static const struct oci_mount *find_mount(const struct oci_config *cfg, const char *dest)
{
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		if (strcmp(cfg->mounts[i].destination, dest) == 0)
			return &cfg->mounts[i];
	}
	return NULL;
}

static void test_spec_process(const struct oci_config *cfg)
{
	const struct oci_process *p = &cfg->process;
	const struct oci_capabilities *c = &p->capabilities;

	ok(cfg->has_process, "spec: has a process");
	ok(p->terminal, "spec: process.terminal is true");
	is_int(p->args.n, 1, "spec: one argument");
	is_str(p->args.v[0], "sh", "spec: the workload is sh");
	ok(p->env.n == 2 && strncmp(p->env.v[0], "PATH=/usr/local/sbin:", 21) == 0,
	   "spec: PATH is the first variable");
	ok(strv_has(&p->env, "TERM=xterm"), "spec: TERM=xterm");
	is_str(p->cwd, "/", "spec: cwd /");
	ok(p->user.uid == 0 && p->user.gid == 0, "spec: user 0:0");
	ok(p->no_new_privileges, "spec: noNewPrivileges");
	ok(p->has_capabilities && strv_has(&c->bounding, "CAP_CHOWN") &&
	       strv_has(&c->bounding, "CAP_NET_BIND_SERVICE") && strv_has(&c->bounding, "CAP_KILL"),
	   "spec: the usual capabilities are granted");
	ok(!strv_has(&c->bounding, "CAP_SYS_ADMIN") && !strv_has(&c->bounding, "CAP_SYS_MODULE"),
	   "spec: the dangerous ones are not");
	ok(c->effective.n == c->bounding.n && c->permitted.n == c->bounding.n &&
	       c->ambient.n == 0 && c->inheritable.n == 0,
	   "spec: effective and permitted equal bounding; no inheritable or ambient");
	ok(p->n_rlimits == 1 && strcmp(p->rlimits[0].type, "RLIMIT_NOFILE") == 0 &&
	       p->rlimits[0].soft == 1024 && p->rlimits[0].hard == 1024,
	   "spec: RLIMIT_NOFILE 1024");
}

static void test_spec_linux(const struct oci_config *cfg, bool rootless)
{
	static const char *const dests[] = { "/proc",	 "/dev",	"/dev/pts",
					     "/dev/shm", "/dev/mqueue", "/sys" };
	const struct oci_mount *pts = find_mount(cfg, "/dev/pts");
	const struct oci_mount *sys = find_mount(cfg, "/sys");
	bool order = cfg->n_mounts == ARRAY_SIZE(dests);
	char ns[128] = "";

	for (size_t i = 0; order && i < ARRAY_SIZE(dests); i++)
		order = strcmp(cfg->mounts[i].destination, dests[i]) == 0;
	ok(order, "spec: the standard mounts, in order");
	for (size_t i = 0; i < cfg->n_namespaces && strlen(ns) < 100; i++) {
		strcat(ns, i ? "," : "");
		strcat(ns, cfg->namespaces[i].path ? "joined" : cfg->namespaces[i].type);
	}
	is_str(ns, rootless ? "pid,network,ipc,uts,mount,user" : "pid,network,ipc,uts,mount",
	       rootless ? "spec --rootless: namespaces" : "spec: namespaces");
	ok(pts && strv_has(&pts->options, "gid=5") != rootless,
	   rootless ? "spec --rootless: devpts without gid=5 (unmapped)" : "spec: devpts gid=5");
	if (rootless)
		ok(sys && strcmp(sys->type, "none") == 0 && strcmp(sys->source, "/sys") == 0 &&
		       strv_has(&sys->options, "rbind") && strv_has(&sys->options, "ro"),
		   "spec --rootless: /sys is a read-only bind of the host's");
	else
		ok(sys && strcmp(sys->type, "sysfs") == 0 && strv_has(&sys->options, "ro"),
		   "spec: /sys is a read-only sysfs");
}

static void test_spec_parses(bool rootless)
{
	cleanup_free char *text = NULL;
	struct oci_config *cfg = NULL;
	krun_error_t err = NULL;
	size_t len;

	text = oci_spec_generate(rootless, 1234, 5678, &len);
	is_int(len, strlen(text), "spec: the length is the text's");
	ok(strstr(text, "{\n  \"ociVersion\": \"1.0.2\""),
	   "spec: pretty-printed, ociVersion 1.0.2");
	if (!ok(oci_config_parse(text, len, &cfg, &err) == 0, "spec: our parser accepts it")) {
		printf("# %s\n", err ? err->msg : "?");
		krun_error_release(&err);
		return;
	}
	is_str(cfg->oci_version, "1.0.2", "spec: ociVersion");
	is_str(cfg->root_path, "rootfs", "spec: root.path rootfs");
	ok(!cfg->root_readonly, "spec: root is writable");
	is_str(cfg->hostname, "krun", "spec: hostname krun");
	ok(cfg->n_annotations == 0 && !cfg->resources.has_memory_limit && !cfg->cgroups_path,
	   "spec: no annotations, no limits, no cgroups path");
	test_spec_process(cfg);
	test_spec_linux(cfg, rootless);
	oci_config_free(cfg);
}

static void test_spec_mappings(void)
{
	cleanup_free char *plain = oci_spec_generate(false, 1234, 5678, NULL);
	cleanup_free char *text = oci_spec_generate(true, 1234, 5678, NULL);
	yajl_val doc = parse_tree(text), doc_plain = parse_tree(plain);
	yajl_val uids = get(doc, "linux", "uidMappings", NULL);
	yajl_val gids = get(doc, "linux", "gidMappings", NULL);

	ok(YAJL_IS_ARRAY(uids) && uids->u.array.len == 1 &&
	       get_int(uids->u.array.values[0], "containerID") == 0 &&
	       get_int(uids->u.array.values[0], "hostID") == 1234 &&
	       get_int(uids->u.array.values[0], "size") == 1,
	   "spec --rootless: root in the container is the caller's uid");
	ok(YAJL_IS_ARRAY(gids) && gids->u.array.len == 1 &&
	       get_int(gids->u.array.values[0], "containerID") == 0 &&
	       get_int(gids->u.array.values[0], "hostID") == 5678 &&
	       get_int(gids->u.array.values[0], "size") == 1,
	   "spec --rootless: and the caller's gid");
	ok(doc_plain && !get(doc_plain, "linux", "uidMappings", NULL) &&
	       !get(doc_plain, "linux", "gidMappings", NULL),
	   "spec: no id mappings without --rootless");
	yajl_tree_free(doc);
	yajl_tree_free(doc_plain);
}

static char *read_text(const char *path)
{
	char *text = NULL;
	size_t len;

	if (read_file_at(AT_FDCWD, path, 1 << 20, &text, &len) < 0)
		return NULL;
	return text;
}

static void test_spec_verb(const char *tmp)
{
	cleanup_free char *want = oci_spec_generate(false, getuid(), getgid(), NULL);
	cleanup_free char *want_rootless = oci_spec_generate(true, getuid(), getgid(), NULL);
	cleanup_free char *dir = NULL, *file = NULL, *got = NULL, *again = NULL;
	cleanup_free char *rdir = NULL, *rfile = NULL, *rgot = NULL;
	cleanup_free char *missing = NULL;

	xasprintf(&dir, "%s/b1", tmp);
	xasprintf(&file, "%s/config.json", dir);
	mkdir(dir, 0755);
	is_int(SPEC("spec", "-b", dir), 0, "spec -b DIR: succeeds");
	got = read_text(file);
	ok(got && strcmp(got, want) == 0, "spec -b DIR: writes DIR/config.json");
	is_int(SPEC("spec", "--bundle", dir), -EEXIST, "spec: an existing config.json is an error");
	ok(strstr(last_msg, file) && strstr(last_msg, "refusing to overwrite"),
	   "spec: the error names the existing file");
	again = read_text(file);
	ok(again && strcmp(again, want) == 0, "spec: the existing file is left as it was");

	xasprintf(&rdir, "%s/b2", tmp);
	xasprintf(&rfile, "%s/config.json", rdir);
	mkdir(rdir, 0755);
	is_int(SPEC("spec", "--rootless", "--bundle=x", "--bundle", rdir), 0,
	       "spec --rootless --bundle DIR (the last --bundle wins)");
	rgot = read_text(rfile);
	ok(rgot && strcmp(rgot, want_rootless) == 0, "spec --rootless: the rootless document");

	xasprintf(&missing, "%s/none", tmp);
	is_int(SPEC("spec", "-b", missing), -ENOENT, "spec: a missing directory fails");
	ok(strstr(last_msg, missing), "spec: the error names the path");
	is_int(SPEC("spec", "-b", dir, "extra"), CLI_EUSAGE, "spec: an argument is a usage error");
	ok(strstr(last_msg, "extra"), "spec: the usage error names the argument");
	is_int(SPEC("spec", "--force"), CLI_EUSAGE, "spec: an unknown option is a usage error");
	is_int(SPEC("spec", "-b"), CLI_EUSAGE, "spec: -b needs a value");
	is_int(SPEC("spec", "-b", ""), CLI_EUSAGE, "spec: an empty --bundle is a usage error");
}

static void test_spec_cwd(const char *tmp)
{
	cleanup_free char *dir = NULL, *file = NULL, *got = NULL;
	cleanup_close int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	xasprintf(&dir, "%s/b3", tmp);
	xasprintf(&file, "%s/config.json", dir);
	mkdir(dir, 0755);
	if (!ok(chdir(dir) == 0, "chdir to an empty bundle"))
		return;
	is_int(SPEC("spec"), 0, "spec without --bundle: succeeds");
	if (fchdir(here) < 0)
		printf("# fchdir: %s\n", strerror(errno));
	got = read_text(file);
	ok(got && strstr(got, "\"rootfs\""), "spec without --bundle: writes ./config.json");
}

static void cleanup_tree(const char *tmp)
{
	static const char *const files[] = {
		"b1/config.json", "b2/config.json", "b3/config.json", "b1", "b2", "b3"
	};

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		cleanup_free char *p = NULL;

		xasprintf(&p, "%s/%s", tmp, files[i]);
		if (unlink(p) < 0)
			rmdir(p);
	}
	rmdir(tmp);
}

static void test_features_top(yajl_val doc)
{
	cleanup_free char *hooks = joined(get(doc, "hooks", NULL, NULL));
	cleanup_free char *unsafe =
	    joined(get(doc, "potentiallyUnsafeConfigAnnotations", NULL, NULL));
	yajl_val opts = get(doc, "mountOptions", NULL, NULL);

	is_str(get_str(doc, "ociVersionMin", NULL, NULL), "1.0.0", "features: ociVersionMin");
	is_str(get_str(doc, "ociVersionMax", NULL, NULL), "1.1.0", "features: ociVersionMax");
	is_str(hooks, "prestart,createRuntime,createContainer,startContainer,poststart,poststop",
	       "features: the six hooks");
	ok(array_has(opts, "bind") && array_has(opts, "rbind") && array_has(opts, "ro") &&
	       array_has(opts, "rw") && array_has(opts, "nosuid") && array_has(opts, "nodev") &&
	       array_has(opts, "noexec") && array_has(opts, "rprivate"),
	   "features: mountOptions has the bind and flag words");
	ok(!array_has(opts, "idmap") && !array_has(opts, "rro"),
	   "features: no mount option krun does not honour");
	is_str(unsafe, "krun.", "features: krun.* annotations are potentially unsafe");
}

static void test_features_capabilities(yajl_val doc)
{
	yajl_val caps = get(doc, "linux", "capabilities", NULL);
	char *last = cap_to_name(CAP_LAST_CAP);
	bool upper = YAJL_IS_ARRAY(caps) && caps->u.array.len > 0;

	for (char *p = last; *p; p++)
		*p = toupper((unsigned char)*p);
	for (size_t i = 0; upper && i < caps->u.array.len; i++) {
		const char *s = YAJL_IS_STRING(caps->u.array.values[i])
				    ? caps->u.array.values[i]->u.string
				    : "";

		upper = strncmp(s, "CAP_", 4) == 0;
		for (; upper && *s; s++)
			upper = !islower((unsigned char)*s);
	}
	ok(upper, "features: capabilities are upper-case CAP_ names");
	ok(YAJL_IS_ARRAY(caps) && caps->u.array.len == CAP_LAST_CAP + 1,
	   "features: every capability up to CAP_LAST_CAP");
	ok(array_has(caps, "CAP_CHOWN") && array_has(caps, "CAP_SYS_ADMIN") &&
	       array_has(caps, last),
	   "features: CAP_CHOWN, CAP_SYS_ADMIN and the last one are listed");
	cap_free(last);
}

static bool get_bool(yajl_val doc, const char *a, const char *b, const char *c, bool want)
{
	yajl_val v = get(doc, a, b, c);

	return want ? YAJL_IS_TRUE(v) : YAJL_IS_FALSE(v);
}

static void test_features_linux(yajl_val doc)
{
	cleanup_free char *ns = joined(get(doc, "linux", "namespaces", NULL));

	is_str(ns, "cgroup,ipc,mount,network,pid,user,uts", "features: namespaces, user included");
	ok(get_bool(doc, "linux", "cgroup", "v1", true) &&
	       get_bool(doc, "linux", "cgroup", "v2", true) &&
	       get_bool(doc, "linux", "cgroup", "systemd", true) &&
	       get_bool(doc, "linux", "cgroup", "systemdUser", false),
	   "features: cgroup v1, v2 and systemd; not systemd --user");
	ok(get_bool(doc, "linux", "seccomp", "enabled", false), "features: seccomp not enabled");
	ok(get_bool(doc, "linux", "apparmor", "enabled", false), "features: apparmor not enabled");
	ok(get_bool(doc, "linux", "selinux", "enabled", false), "features: selinux not enabled");
	test_features_capabilities(doc);
}

static void test_features_annotations(yajl_val doc)
{
	const char *list = get_str(doc, "annotations", "run.oci.krun.vm_annotations", NULL);
	bool all = list != NULL;
	size_t n = 0;

	is_str(get_str(doc, "annotations", "run.oci.krun.version", NULL), KRUN_VERSION,
	       "features: run.oci.krun.version is the package version");
	for (int f = 0; all && f < VM_N_FIELDS; f++) {
		size_t klen;
		const char *p;

		if (!vm_keys[f].annotation)
			continue;
		n++;
		klen = strlen(vm_keys[f].annotation);
		p = strstr(list, vm_keys[f].annotation);
		all = p && (p == list || p[-1] == ',') && (p[klen] == ',' || p[klen] == '\0');
	}
	ok(all && n > 0, "features: every krun.* annotation of the table is listed");
	ok(list && !strstr(list, "kernel_path") && !strstr(list, ",,"),
	   "features: and nothing else (the .krun_vm.json-only keys are not annotations)");
	ok(list && strncmp(list, "krun.cpus,", 10) == 0, "features: in table order");
	is_str(get_str(doc, "annotations", "run.oci.krun.vmm.seccomp", NULL), "allow-list",
	       "features: the VMM runs under a seccomp allow-list");
	is_str(get_str(doc, "annotations", "run.oci.krun.vmm.capabilities", NULL),
	       "container-bounding-set",
	       "features: the VMM keeps capabilities of the bounding set");
	is_str(get_str(doc, "annotations", "run.oci.krun.vmm.root", NULL), "empty",
	       "features: the VMM's root is empty");
}

static void test_features(void)
{
	size_t len;
	cleanup_free char *text = oci_features_generate(&len);
	yajl_val doc = parse_tree(text);

	is_int(len, strlen(text), "features: the length is the text's");
	ok(strncmp(text, "{\n  \"", 5) == 0 && text[len - 1] == '\n',
	   "features: pretty-printed, ending with a newline");
	if (!ok(YAJL_IS_OBJECT(doc), "features: yajl parses the output"))
		return;
	test_features_top(doc);
	test_features_linux(doc);
	test_features_annotations(doc);
	yajl_tree_free(doc);
}

/* Runs `krun features` with stdout sent to a file, and returns what it printed. */
static char *features_stdout(const char *tmp, int *ret)
{
	cleanup_free char *path = NULL;
	char *text = NULL;
	int saved = dup(STDOUT_FILENO), fd;

	xasprintf(&path, "%s/features.out", tmp);
	fflush(stdout);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || saved < 0)
		return NULL;
	dup2(fd, STDOUT_FILENO);
	close(fd);
	*ret = run_verb(krun_cmd_features, 1, ARGV("features"));
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	text = read_text(path);
	unlink(path);
	return text;
}

/* Every word is honoured somewhere: by the host for bind mounts, or (the few listed here)
 * only by the guest init for the mounts it makes. */
static void test_mount_options_honoured(void)
{
	static const char *const guest_only[] = { "dirsync", "tmpcopyup", "notmpcopyup" };
	char *words[2] = { NULL, NULL };
	struct oci_mount m = { .destination = "/data", .type = "bind", .source = "/tmp" };
	bool all = true;

	m.options.v = words;
	m.options.n = 1;
	for (const char *const *w = oci_mount_options; *w; w++) {
		struct bind_options o;
		krun_error_t err = NULL;
		bool guest = false;

		for (size_t i = 0; i < ARRAY_SIZE(guest_only); i++)
			guest |= strcmp(*w, guest_only[i]) == 0;
		words[0] = (char *)*w;
		if (!guest && bind_options_parse(&m, &o, &err) < 0) {
			printf("# %s\n", err->msg);
			all = false;
		}
		krun_error_release(&err);
	}
	ok(all, "features: every mount option but the guest's own is honoured for bind mounts");
}

static void test_features_verb(const char *tmp)
{
	cleanup_free char *want = oci_features_generate(NULL);
	cleanup_free char *got = NULL;
	int ret = -1;

	got = features_stdout(tmp, &ret);
	is_int(ret, 0, "krun features: succeeds");
	ok(got && strcmp(got, want) == 0, "krun features: prints the features structure");
	is_int(run_verb(krun_cmd_features, 2, ARGV("features", "x")), CLI_EUSAGE,
	       "krun features: an argument is a usage error");
}

int main(void)
{
	char tmp[] = "/tmp/krun-spec-test.XXXXXX";

	if (!mkdtemp(tmp)) {
		printf("not ok 1 - mkdtemp: %s\n1..1\n", strerror(errno));
		return 1;
	}
	test_spec_parses(false);
	test_spec_parses(true);
	test_spec_mappings();
	test_spec_verb(tmp);
	test_spec_cwd(tmp);
	test_features();
	test_mount_options_honoured();
	test_features_verb(tmp);
	cleanup_tree(tmp);
	return tap_done();
}
