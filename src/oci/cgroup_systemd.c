/* The systemd cgroup manager: systemd makes the container's cgroup as a transient scope
 * unit (StartTransientUnit over D-Bus, Delegate=yes so that the cgroup is ours to write),
 * then the limits go through the cgroup files as with cgroupfs. */
#include "oci/cgroup_internal.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <systemd/sd-bus.h>

#define SYSTEMD_RUN_DIR "/run/systemd/system"
/* How long systemd may take to run the start job and move the process. */
#define SCOPE_TIMEOUT_MS 10000

static int require_systemd(krun_error_t *err)
{
	if (access(SYSTEMD_RUN_DIR, F_OK) == 0)
		return 0;
	return krun_make_error(err, 0,
			       "systemd cgroup manager: systemd is not running on this host (no "
			       "`%s`); use --cgroup-manager=cgroupfs",
			       SYSTEMD_RUN_DIR);
}

/* systemd's unit name characters, so no part can add a '/' to the cgroup path. */
static int check_name(const char *s, krun_error_t *err)
{
	for (const char *p = s; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(":-_.\\@", *p))
			return krun_make_error(err, 0,
					       "systemd cgroup manager: `%s` has a character not "
					       "allowed in a unit name: `%c`",
					       s, *p);
	}
	return 0;
}

/* "a-b.slice" lives at /a.slice/a-b.slice; "-.slice" is the root. */
static int slice_path(const char *slice, char **out, krun_error_t *err)
{
	size_t len = strlen(slice), stem = len - strlen(".slice");
	char *path;

	if (len <= strlen(".slice") || strcmp(slice + stem, ".slice") != 0 ||
	    check_name(slice, err) < 0 ||
	    (stem > 1 && (slice[0] == '-' || slice[stem - 1] == '-' || strstr(slice, "--"))))
		return krun_make_error(err, 0, "systemd cgroup manager: bad slice name `%s`",
				       slice);
	if (stem == 1 && slice[0] == '-') {
		*out = xstrdup("");
		return 0;
	}
	path = xstrdup("");
	for (size_t i = 0; i <= stem; i++) {
		char *longer;

		if (i < stem && slice[i] != '-')
			continue;
		xasprintf(&longer, "%s/%.*s.slice", path, (int)i, slice);
		free(path);
		path = longer;
	}
	*out = path;
	return 0;
}

static int parse_parts(const char *cgroups_path, const char *id, char **slice, char **unit,
		       krun_error_t *err)
{
	const char *c1, *c2;
	cleanup_free char *prefix = NULL, *name = NULL;
	int ret;

	if (!cgroups_path || !*cgroups_path) {
		xasprintf(unit, "krun-%s.scope", id);
		return check_name(id, err);
	}
	c1 = strchr(cgroups_path, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2 || strchr(c2 + 1, ':') || !c2[1])
		return krun_make_error(err, 0,
				       "systemd cgroup manager: cgroupsPath `%s` must be "
				       "`slice:prefix:name`",
				       cgroups_path);
	if (c1 > cgroups_path)
		xasprintf(slice, "%.*s", (int)(c1 - cgroups_path), cgroups_path);
	xasprintf(&prefix, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
	name = xstrdup(c2 + 1);
	ret = check_name(prefix, err);
	if (ret < 0)
		return ret;
	ret = check_name(name, err);
	if (ret < 0)
		return ret;
	if (strlen(name) > 6 && strcmp(name + strlen(name) - 6, ".slice") == 0)
		return krun_make_error(err, 0,
				       "systemd cgroup manager: `%s` names a slice; krun makes "
				       "only scope units",
				       cgroups_path);
	xasprintf(unit, "%s%s%s.scope", prefix, *prefix ? "-" : "", name);
	return 0;
}

int cgroup_systemd_parse(const char *cgroups_path, const char *id, struct cgroup_systemd_name *out,
			 krun_error_t *err)
{
	cleanup_systemd_name struct cgroup_systemd_name n = { 0 };
	cleanup_free char *spath = NULL;
	int ret;

	ret = parse_parts(cgroups_path, id, &n.slice, &n.unit, err);
	if (ret < 0)
		return ret;
	if (!n.slice)
		n.slice = xstrdup(geteuid() == 0 ? "system.slice" : "user.slice");
	ret = slice_path(n.slice, &spath, err);
	if (ret < 0)
		return ret;
	xasprintf(&n.path, "%s/%s", spath, n.unit);
	*out = n;
	n = (struct cgroup_systemd_name){ 0 };
	return 0;
}

void cgroup_systemd_name_release(struct cgroup_systemd_name *n)
{
	free(n->slice);
	free(n->unit);
	free(n->path);
	*n = (struct cgroup_systemd_name){ 0 };
}

static int bus_open(sd_bus **bus, krun_error_t *err)
{
	int r = geteuid() == 0 ? sd_bus_open_system(bus) : sd_bus_open_user(bus);

	if (r < 0)
		return krun_make_error(err, -r, "systemd cgroup manager: connect to the %s bus",
				       geteuid() == 0 ? "system" : "user");
	return 0;
}

static int bus_failed(krun_error_t *err, int r, const sd_bus_error *e, const char *what,
		      const char *unit)
{
	if (e->message)
		return krun_make_error(err, 0, "systemd cgroup manager: %s `%s`: %s", what, unit,
				       e->message);
	return krun_make_error(err, -r, "systemd cgroup manager: %s `%s`", what, unit);
}

static int append_properties(sd_bus_message *m, const struct cgroup_systemd_name *n, pid_t pid)
{
	int r;

	r = sd_bus_message_append(m, "ss", n->unit, "fail");
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(m, 'a', "(sv)");
	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "(sv)", "Description", "s", "krun container");
	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "(sv)", "Slice", "s", n->slice);
	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "(sv)", "Delegate", "b", 1);
	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "(sv)", "DefaultDependencies", "b", 0);
	if (r < 0)
		return r;
	r = sd_bus_message_append(m, "(sv)", "PIDs", "au", 1, (uint32_t)pid);
	if (r < 0)
		return r;
	r = sd_bus_message_close_container(m);
	if (r < 0)
		return r;
	return sd_bus_message_append(m, "a(sa(sv))", 0);
}

static int start_call(sd_bus *bus, const struct cgroup_systemd_name *n, pid_t pid,
		      sd_bus_message **m)
{
	int r;

	r = sd_bus_message_new_method_call(
	    bus, m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
	    "org.freedesktop.systemd1.Manager", "StartTransientUnit");
	if (r < 0)
		return r;
	return append_properties(*m, n, pid);
}

static int start_scope(const struct cgroup_systemd_name *n, pid_t pid, krun_error_t *err)
{
	__attribute__((cleanup(sd_bus_flush_close_unrefp))) sd_bus *bus = NULL;
	__attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *m = NULL;
	__attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *reply = NULL;
	__attribute__((cleanup(sd_bus_error_free))) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	r = bus_open(&bus, err);
	if (r < 0)
		return r;
	r = start_call(bus, n, pid, &m);
	if (r < 0)
		return bus_failed(err, r, &e, "start", n->unit);
	r = sd_bus_call(bus, m, 0, &e, &reply);
	if (r < 0)
		return bus_failed(err, r, &e, "start", n->unit);
	return 0;
}

static bool has_line_ending(const char *text, const char *suffix)
{
	size_t slen = strlen(suffix);

	for (const char *line = text; line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len >= slen && memcmp(line + len - slen, suffix, slen) == 0)
			return true;
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

/* The start job runs after the call returns; it is done when pid is in the scope. */
static int wait_scope(const struct cgroup_systemd_name *n, pid_t pid, krun_error_t *err)
{
	cleanup_free char *proc = NULL, *suffix = NULL;
	unsigned waited = 0;

	xasprintf(&proc, "/proc/%d", (int)pid);
	xasprintf(&suffix, ":%s", n->path);
	do {
		cleanup_free char *cgroups = NULL;
		int ret = cg_read(proc, "cgroup", &cgroups, err);

		if (ret < 0)
			return ret;
		if (has_line_ending(cgroups, suffix))
			return 0;
	} while (cg_backoff(&waited, SCOPE_TIMEOUT_MS));
	return krun_make_error(err, ETIMEDOUT, "systemd cgroup manager: pid %d did not join `%s`",
			       (int)pid, n->unit);
}

int cg_systemd_stop(const char *unit, krun_error_t *err)
{
	__attribute__((cleanup(sd_bus_flush_close_unrefp))) sd_bus *bus = NULL;
	__attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *reply = NULL;
	__attribute__((cleanup(sd_bus_error_free))) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	if (access(SYSTEMD_RUN_DIR, F_OK) < 0)
		return 0;
	r = bus_open(&bus, err);
	if (r < 0)
		return r;
	r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
			       "org.freedesktop.systemd1.Manager", "StopUnit", &e, &reply, "ss",
			       unit, "replace");
	if (r < 0 && !sd_bus_error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit"))
		return bus_failed(err, r, &e, "stop", unit);
	return 0;
}

int cgroup_create_systemd(const char *root, const char *cgroups_path, const char *id, pid_t pid,
			  const struct oci_resources *r, struct cgroup **out, krun_error_t *err)
{
	cleanup_systemd_name struct cgroup_systemd_name n = { 0 };
	struct cgroup *cg;
	int ret;

	ret = cgroup_systemd_parse(cgroups_path, id, &n, err);
	if (ret < 0)
		return ret;
	if (pid <= 0)
		return krun_make_error(err, 0, "systemd cgroup manager: a scope needs a process");
	ret = require_systemd(err);
	if (ret < 0)
		return ret;
	ret = start_scope(&n, pid, err);
	if (ret < 0)
		return ret;
	ret = wait_scope(&n, pid, err);
	if (ret < 0)
		return ret;
	/* Delegate=yes: systemd enabled the controllers, the files are ours. */
	ret = cg_create(root, n.path, pid, r, false, &cg, err);
	if (ret < 0) {
		cg_systemd_stop(n.unit, NULL);
		return ret;
	}
	cg->systemd_unit = steal_ptr(&n.unit);
	*out = cg;
	return 0;
}

int cgroup_open_systemd(const char *root, const char *cgroups_path, const char *id,
			struct cgroup **out, krun_error_t *err)
{
	cleanup_systemd_name struct cgroup_systemd_name n = { 0 };
	int ret;

	ret = cgroup_systemd_parse(cgroups_path, id, &n, err);
	if (ret < 0)
		return ret;
	ret = cgroup_open(root, n.path, out, err);
	if (ret < 0)
		return ret;
	(*out)->systemd_unit = steal_ptr(&n.unit);
	return 0;
}
