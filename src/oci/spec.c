/* krun spec: writes a default config.json for a krun bundle, never over an existing one. */
#include "oci/spec_features.h"
#include "oci/verbs.h"
#include "util/json_gen.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

/* Docker's default set: enough for a root shell to manage files, users and sockets,
 * without the ones that administer the (guest) system. */
static const char *const default_caps[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
	NULL,
};

static const char *const default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=xterm",
	NULL,
};

static const char *const default_namespaces[] = { "pid", "network", "ipc", "uts", "mount", NULL };

struct spec_mount {
	const char *destination, *type, *source;
	const char *options[8];
};

static const struct spec_mount default_mounts[] = {
	{ "/proc", "proc", "proc", { NULL } },
	{ "/dev", "tmpfs", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
	{ "/dev/pts",
	  "devpts",
	  "devpts",
	  { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" } },
	{ "/dev/shm", "tmpfs", "shm", { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" } },
	{ "/dev/mqueue", "mqueue", "mqueue", { "nosuid", "noexec", "nodev" } },
	{ "/sys", "sysfs", "sysfs", { "nosuid", "noexec", "nodev", "ro" } },
};

/* In a user namespace that does not own the network namespace's sysfs, /sys can only be
 * bound from the host; and gid 5 (tty) is not mapped there. */
static const struct spec_mount rootless_sys = {
	"/sys", "none", "/sys", { "rbind", "nosuid", "noexec", "nodev", "ro" }
};

static void gen_process(yajl_gen g)
{
	static const char *const sh[] = { "sh", NULL };

	json_gen_str(g, "process");
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "terminal", true);
	json_gen_str(g, "user");
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "uid", 0);
	json_gen_kv_int(g, "gid", 0);
	yajl_gen_map_close(g);
	json_gen_kv_strv(g, "args", sh);
	json_gen_kv_strv(g, "env", default_env);
	json_gen_kv_str(g, "cwd", "/");
	json_gen_str(g, "capabilities");
	yajl_gen_map_open(g);
	json_gen_kv_strv(g, "bounding", default_caps);
	json_gen_kv_strv(g, "effective", default_caps);
	json_gen_kv_strv(g, "permitted", default_caps);
	yajl_gen_map_close(g);
	json_gen_str(g, "rlimits");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "type", "RLIMIT_NOFILE");
	json_gen_kv_int(g, "hard", 1024);
	json_gen_kv_int(g, "soft", 1024);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	json_gen_kv_bool(g, "noNewPrivileges", true);
	yajl_gen_map_close(g);
}

static void gen_mount(yajl_gen g, const struct spec_mount *m, bool rootless)
{
	json_gen_kv_str(g, "destination", m->destination);
	json_gen_kv_str(g, "type", m->type);
	json_gen_kv_str(g, "source", m->source);
	if (!m->options[0])
		return;
	json_gen_str(g, "options");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < ARRAY_SIZE(m->options) && m->options[i]; i++) {
		if (rootless && strncmp(m->options[i], "gid=", 4) == 0)
			continue;
		json_gen_str(g, m->options[i]);
	}
	yajl_gen_array_close(g);
}

static void gen_mounts(yajl_gen g, bool rootless)
{
	json_gen_str(g, "mounts");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < ARRAY_SIZE(default_mounts); i++) {
		const struct spec_mount *m = &default_mounts[i];

		if (rootless && strcmp(m->destination, "/sys") == 0)
			m = &rootless_sys;
		yajl_gen_map_open(g);
		gen_mount(g, m, rootless);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/* The caller's own id becomes root in the container: the only mapping an unprivileged
 * user may write without newuidmap. */
static void gen_id_mapping(yajl_gen g, const char *key, unsigned id)
{
	json_gen_str(g, key);
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "containerID", 0);
	json_gen_kv_int(g, "hostID", id);
	json_gen_kv_int(g, "size", 1);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
}

static void gen_linux(yajl_gen g, bool rootless, uid_t uid, gid_t gid)
{
	json_gen_str(g, "linux");
	yajl_gen_map_open(g);
	if (rootless) {
		gen_id_mapping(g, "uidMappings", uid);
		gen_id_mapping(g, "gidMappings", gid);
	}
	json_gen_str(g, "namespaces");
	yajl_gen_array_open(g);
	for (const char *const *ns = default_namespaces; *ns; ns++) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", *ns);
		yajl_gen_map_close(g);
	}
	if (rootless) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", "user");
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

char *oci_spec_generate(bool rootless, uid_t uid, gid_t gid, size_t *len)
{
	cleanup_json_gen yajl_gen g = json_gen_new(true);

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ociVersion", "1.0.2");
	gen_process(g);
	json_gen_str(g, "root");
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "path", "rootfs");
	json_gen_kv_bool(g, "readonly", false);
	yajl_gen_map_close(g);
	json_gen_kv_str(g, "hostname", "krun");
	gen_mounts(g, rootless);
	gen_linux(g, rootless, uid, gid);
	yajl_gen_map_close(g);
	return json_gen_take(g, len);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= n;
	}
	return 0;
}

static int write_spec(const char *dir, const char *text, size_t len, krun_error_t *err)
{
	cleanup_free char *path = NULL;
	cleanup_close int fd = -1;
	int ret;

	xasprintf(&path, "%s/config.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST)
		return krun_make_error(err, EEXIST, "refusing to overwrite `%s`", path);
	if (fd < 0)
		return krun_make_error(err, errno, "create `%s`", path);
	ret = write_all(fd, text, len);
	if (ret == 0 && close(steal_fd(&fd)) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(path); /* a truncated config.json would only fail later, less clearly */
		return krun_make_error(err, -ret, "write `%s`", path);
	}
	return 0;
}

enum { OPT_ROOTLESS = 256 };

static const struct option spec_options[] = {
	{ "bundle", required_argument, NULL, 'b' },
	{ "rootless", no_argument, NULL, OPT_ROOTLESS },
	{ NULL, 0, NULL, 0 },
};

int krun_cmd_spec(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	static const char optstring[] = "+:b:";
	cleanup_free char *text = NULL;
	const char *dir = ".";
	bool rootless = false;
	size_t len;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, spec_options, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_getopt_error(argv[0], c, optstring, argv, err);
		if (c == 'b')
			dir = optarg;
		else
			rootless = true;
	}
	if (optind < argc)
		return cli_usage_error(err, "%s: unexpected argument `%s`", argv[0], argv[optind]);
	if (*dir == '\0')
		return cli_usage_error(err, "%s: --bundle: the directory name is empty", argv[0]);
	text = oci_spec_generate(rootless, getuid(), getgid(), &len);
	return write_spec(dir, text, len, err);
}
