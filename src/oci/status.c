/* The state store: one directory per container under the state root, its `status` file,
 * and the status (created, running, paused, stopped) computed from it. */
#include "oci/status.h"
#include "oci/cgroup.h"
#include "oci/config.h"
#include "oci/start_socket.h"
#include "annotations/json.h"
#include "util/json_gen.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATUS_FILE	"status"
#define STATUS_MAX_SIZE (64u << 10)
#define STATUS_DOC	"status"

bool status_real_root(void)
{
	cleanup_free char *text = NULL;
	unsigned long inside, outside, count;
	int end = 0;

	if (geteuid() != 0)
		return false;
	/* Without /proc we cannot tell: the answer that trusts less is the safe one. */
	if (read_file_at(AT_FDCWD, "/proc/self/uid_map", 4096, &text, NULL) < 0)
		return true;
	if (sscanf(text, " %lu %lu %lu %n", &inside, &outside, &count, &end) != 3 || text[end])
		return false;
	return inside == 0 && outside == 0 && count == 4294967295UL;
}

char *status_root(const struct cli_globals *g)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char *root;

	if (g->root)
		return xstrdup(g->root);
	if (xdg && *xdg && !status_real_root()) {
		xasprintf(&root, "%s/krun", xdg);
		return root;
	}
	return xstrdup("/run/krun");
}

/* mkdir -p: containerd and docker name state roots below directories nobody made yet. */
static int make_dirs(const char *path, mode_t mode)
{
	cleanup_free char *copy = xstrdup(path);

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(copy, mode) < 0 && errno != EEXIST ? -errno : 0;
}

/* A directory of the state store must be ours alone: its status files say which process
 * is a container's, and `kill` and `delete` act on that process. */
static int check_private_dir(const char *what, const char *path, const struct stat *st,
			     krun_error_t *err)
{
	if (S_ISLNK(st->st_mode))
		return krun_make_error(err, ELOOP, "%s `%s` is a symbolic link: refusing to use it",
				       what, path);
	if (!S_ISDIR(st->st_mode))
		return krun_make_error(err, ENOTDIR, "%s `%s` is not a directory", what, path);
	if (st->st_uid != geteuid())
		return krun_make_error(err, EPERM,
				       "%s `%s` is owned by uid %u, not by uid %u who runs krun: "
				       "refusing to use it",
				       what, path, (unsigned)st->st_uid, (unsigned)geteuid());
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return krun_make_error(err, EPERM,
				       "%s `%s` is writable by %s (mode %04o): refusing to use it",
				       what, path, (st->st_mode & S_IWOTH) ? "others" : "its group",
				       (unsigned)(st->st_mode & 07777));
	return 0;
}

/* The root may be reached through a symlink (the caller named it); what it leads to is
 * checked. */
int status_root_check(const char *root, krun_error_t *err)
{
	struct stat st;

	if (stat(root, &st) < 0)
		return krun_make_error(err, errno, "the state root `%s`", root);
	return check_private_dir("the state root", root, &st, err);
}

int status_dir_create(const char *root, const char *id, char **dir, krun_error_t *err)
{
	cleanup_free char *path = NULL;
	int ret = make_dirs(root, 0700);

	if (ret < 0)
		return krun_make_error(err, -ret, "create the state root `%s`", root);
	ret = status_root_check(root, err);
	if (ret < 0)
		return ret;
	xasprintf(&path, "%s/%s", root, id);
	if (mkdir(path, 0700) < 0) {
		if (errno == EEXIST)
			return krun_make_error(err, EEXIST, "container `%s` already exists", id);
		return krun_make_error(err, errno, "create the state directory `%s`", path);
	}
	*dir = steal_ptr(&path);
	return 0;
}

int status_dir_remove(const char *dir, krun_error_t *err)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return errno == ENOENT ? 0 : krun_make_error(err, errno, "open `%s`", dir);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			return krun_make_error(err, errno, "remove `%s/%s`", dir, e->d_name);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		return krun_make_error(err, errno, "remove `%s`", dir);
	return 0;
}

static void gen_nullable(yajl_gen g, const char *key, const char *value)
{
	json_gen_str(g, key);
	if (value)
		json_gen_str(g, value);
	else
		yajl_gen_null(g);
}

int status_write(const struct container_state *s, krun_error_t *err)
{
	cleanup_json_gen yajl_gen g = json_gen_new(false);
	cleanup_free char *text = NULL, *tmp = NULL, *path = NULL;
	cleanup_close int fd = -1;
	size_t len;

	yajl_gen_map_open(g);
	json_gen_kv_int(g, "pid", s->pid);
	json_gen_kv_int(g, "process-start-time", (long long)s->start_time);
	json_gen_kv_str(g, "bundle", s->bundle);
	json_gen_kv_str(g, "rootfs", s->rootfs);
	json_gen_kv_str(g, "created", s->created);
	json_gen_kv_str(g, "owner", s->owner);
	json_gen_kv_int(g, "cgroup-manager", s->cgroup_manager);
	gen_nullable(g, "cgroup-path", s->cgroup_path);
	json_gen_kv_bool(g, "detached", s->detached);
	yajl_gen_map_close(g);
	text = json_gen_take(g, &len);

	xasprintf(&tmp, "%s/" STATUS_FILE ".tmp", s->dir);
	xasprintf(&path, "%s/" STATUS_FILE, s->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return krun_make_error(err, errno, "write `%s`", tmp);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		return krun_make_error(err, errno ? errno : EIO, "write `%s`", tmp);
	if (rename(tmp, path) < 0)
		return krun_make_error(err, errno, "rename `%s` to `%s`", tmp, path);
	return 0;
}

static int read_fields(yajl_val doc, struct container_state *s, krun_error_t *err)
{
	int64_t pid = 0, manager = 0;
	uint64_t start = 0;
	int ret;

	ret = json_read_int(STATUS_DOC, "pid", json_get(doc, "pid"), 0, INT32_MAX, &pid, err);
	if (ret < 0)
		return ret;
	ret = json_read_uint(STATUS_DOC, "process-start-time", json_get(doc, "process-start-time"),
			     UINT64_MAX, &start, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(STATUS_DOC, "bundle", json_get(doc, "bundle"), &s->bundle, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(STATUS_DOC, "rootfs", json_get(doc, "rootfs"), &s->rootfs, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(STATUS_DOC, "created", json_get(doc, "created"), &s->created, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(STATUS_DOC, "owner", json_get(doc, "owner"), &s->owner, err);
	if (ret < 0)
		return ret;
	ret = json_read_int(STATUS_DOC, "cgroup-manager", json_get(doc, "cgroup-manager"), 0,
			    CLI_CGROUP_DISABLED, &manager, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(STATUS_DOC, "cgroup-path", json_get(doc, "cgroup-path"),
			       &s->cgroup_path, err);
	if (ret < 0)
		return ret;
	ret = json_read_bool(STATUS_DOC, "detached", json_get(doc, "detached"), &s->detached, err);
	if (ret < 0)
		return ret;
	if (!s->bundle || !s->rootfs || !s->created || !s->owner)
		return krun_make_error(err, 0, "the status file is incomplete");
	s->pid = pid;
	s->start_time = start;
	s->cgroup_manager = manager;
	return 0;
}

/* Every verb reaches a container through status_load, so its directory is checked here,
 * after the root. A good root (ours, not writable by others) already keeps others from
 * planting a container in it; this check catches what the root check cannot see: a
 * directory made while the root was open to others, or by another user who shares a
 * --root with us, and a symlink put in the place of one. */
static int check_container_dir(const char *dir, const char *id, krun_error_t *err)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return krun_make_error(err, ENOENT, "container `%s` does not exist", id);
		return krun_make_error(err, errno, "the state directory `%s`", dir);
	}
	return check_private_dir("the state directory", dir, &st, err);
}

int status_load(const char *root, const char *id, struct container_state **out, krun_error_t *err)
{
	cleanup_container_state struct container_state *s = xzalloc(sizeof(*s));
	cleanup_free char *path = NULL, *text = NULL;
	yajl_val doc = NULL;
	size_t len;
	int ret;

	if (!*id || strchr(id, '/') || id[0] == '.')
		return krun_make_error(err, ENOENT, "container `%s` does not exist", id);
	ret = status_root_check(root, err);
	if (ret == -ENOENT) {
		krun_error_release(err);
		return krun_make_error(err, ENOENT, "container `%s` does not exist", id);
	}
	if (ret < 0)
		return ret;
	s->id = xstrdup(id);
	xasprintf(&s->dir, "%s/%s", root, id);
	ret = check_container_dir(s->dir, id, err);
	if (ret < 0)
		return ret;
	xasprintf(&path, "%s/" STATUS_FILE, s->dir);
	ret = read_file_at(AT_FDCWD, path, STATUS_MAX_SIZE, &text, &len);
	if (ret == -ENOENT || ret == -ENOTDIR)
		return krun_make_error(err, ENOENT, "container `%s` does not exist", id);
	if (ret < 0)
		return krun_make_error(err, -ret, "read `%s`", path);
	ret = json_parse_object(path, text, len, &doc, err);
	if (ret < 0)
		return krun_error_wrap(err, "container `%s`", id);
	ret = read_fields(doc, s, err);
	yajl_tree_free(doc);
	if (ret < 0)
		return krun_error_wrap(err, "container `%s`", id);
	*out = steal_ptr(&s);
	return 0;
}

void container_state_free(struct container_state *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->dir);
	free(s->bundle);
	free(s->rootfs);
	free(s->created);
	free(s->owner);
	free(s->cgroup_path);
	free(s);
}

unsigned long long status_process_start_time(pid_t pid)
{
	cleanup_free char *path = NULL, *text = NULL;
	unsigned long long start = 0;
	char state;
	const char *p;

	if (pid <= 0)
		return 0;
	xasprintf(&path, "/proc/%d/stat", pid);
	if (read_file_at(AT_FDCWD, path, 4096, &text, NULL) < 0)
		return 0;
	/* The command name may hold spaces and parentheses: fields restart after the last ')'. */
	p = strrchr(text, ')');
	if (!p || sscanf(p + 1,
			 " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			 "%*d %*d %llu",
			 &state, &start) != 2)
		return 0;
	return state == 'Z' || state == 'X' ? 0 : start;
}

bool status_process_alive(const struct container_state *s)
{
	unsigned long long start = status_process_start_time(s->pid);

	return start != 0 && start == s->start_time;
}

static bool start_socket_present(const struct container_state *s)
{
	cleanup_free char *path = NULL;

	xasprintf(&path, "%s/" START_SOCKET, s->dir);
	return access(path, F_OK) == 0;
}

static int read_frozen(const char *cgroup_path, bool *frozen, krun_error_t *err)
{
	cleanup_cgroup struct cgroup *cg = NULL;
	int ret;

	ret = cgroup_open(CGROUP_ROOT, cgroup_path, &cg, err);
	if (ret < 0)
		return ret;
	return cgroup_is_frozen(cg, frozen, err);
}

int status_get(const struct container_state *s, enum container_status *st, krun_error_t *err)
{
	bool frozen = false;
	int ret;

	if (!status_process_alive(s)) {
		*st = CONTAINER_STOPPED;
		return 0;
	}
	if (start_socket_present(s)) {
		*st = CONTAINER_CREATED;
		return 0;
	}
	*st = CONTAINER_RUNNING;
	if (!s->cgroup_path)
		return 0;
	ret = read_frozen(s->cgroup_path, &frozen, err);
	if (ret == -ENOENT || ret == -ENODEV) {
		krun_error_release(err);
		*st = CONTAINER_STOPPED;
		return 0;
	}
	if (ret < 0)
		return ret;
	if (frozen)
		*st = CONTAINER_PAUSED;
	return 0;
}

const char *status_name(enum container_status st)
{
	static const char *const names[] = {
		[CONTAINER_CREATED] = "created",
		[CONTAINER_RUNNING] = "running",
		[CONTAINER_PAUSED] = "paused",
		[CONTAINER_STOPPED] = "stopped",
	};
	return names[st];
}

static void gen_annotations(yajl_gen g, const struct oci_config *cfg)
{
	if (cfg && cfg->n_annotations) {
		json_gen_str(g, "annotations");
		yajl_gen_map_open(g);
		for (size_t i = 0; i < cfg->n_annotations; i++)
			json_gen_kv_str(g, cfg->annotations[i].key, cfg->annotations[i].value);
		yajl_gen_map_close(g);
	}
}

static char *state_json(const struct container_state *s, const struct oci_config *cfg,
			enum container_status st, bool for_hook, size_t *len)
{
	cleanup_json_gen yajl_gen g = json_gen_new(!for_hook);
	bool has_process =
	    st == CONTAINER_CREATED || st == CONTAINER_RUNNING || st == CONTAINER_PAUSED;

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ociVersion", for_hook ? "1.0.2" : "1.0.0");
	json_gen_kv_str(g, "id", s->id);
	json_gen_kv_int(g, "pid", has_process ? s->pid : 0);
	json_gen_kv_str(g, "status", status_name(st));
	json_gen_kv_str(g, "bundle", s->bundle);
	if (!for_hook) {
		json_gen_kv_str(g, "rootfs", s->rootfs);
		json_gen_kv_str(g, "created", s->created);
		json_gen_kv_str(g, "owner", s->owner);
	}
	gen_annotations(g, cfg);
	yajl_gen_map_close(g);
	return json_gen_take(g, len);
}

char *status_state_json(const struct container_state *s, enum container_status st, bool for_hook,
			size_t *len)
{
	struct oci_config *cfg = NULL;
	krun_error_t err = NULL;
	char *json;

	if (oci_config_load(s->dir, &cfg, NULL, NULL, &err) < 0)
		krun_error_release(&err);
	json = state_json(s, cfg, st, for_hook, len);
	oci_config_free(cfg);
	return json;
}

char *status_hook_json(const struct container_state *s, const struct oci_config *cfg,
		       enum container_status st, size_t *len)
{
	return state_json(s, cfg, st, true, len);
}
