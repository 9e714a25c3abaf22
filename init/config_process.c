/* The `process` object of the OCI config: what to run, and as whom. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "config_json.h"
#include "rlimit.h"

/* (uid_t)-1 means "leave unchanged" to setresuid and friends: never a real id. */
#define MAX_ID (UINT32_MAX - 1)

static int parse_args(json_object *obj, struct init_process *p, struct init_error *err)
{
	int ret = json_get_strv(obj, "args", true, "process.args", &p->args, &p->num_args, err);
	if (ret < 0)
		return ret;
	if (p->num_args == 0)
		return init_fail(err, 0, "process.args: must not be empty");
	if (p->args[0][0] == '\0')
		return init_fail(err, 0, "process.args[0]: must not be empty");
	return 0;
}

static int parse_env(json_object *obj, struct init_process *p, struct init_error *err)
{
	int ret = json_get_strv(obj, "env", false, "process.env", &p->env, &p->num_env, err);
	if (ret < 0)
		return ret;
	if (!p->env)
		p->env = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < p->num_env; i++) {
		const char *eq = strchr(p->env[i], '=');
		if (!eq || eq == p->env[i])
			return init_fail(err, 0, "process.env[%zu]: `%.64s` is not KEY=VALUE", i,
					 p->env[i]);
	}
	return 0;
}

static int parse_cwd(json_object *obj, struct init_process *p, struct init_error *err)
{
	int ret = json_get_string(obj, "cwd", false, "process.cwd", &p->cwd, err);
	if (ret < 0)
		return ret;
	if (!p->cwd)
		p->cwd = xstrdup("/");
	if (p->cwd[0] != '/')
		return init_fail(err, 0, "process.cwd: `%.256s` is not an absolute path", p->cwd);
	return 0;
}

static int parse_gids(json_object *user, struct init_user *u, struct init_error *err)
{
	json_object *arr;
	int ret = json_member(user, "additionalGids", json_type_array, false,
			      "process.user.additionalGids", &arr, err);
	if (ret <= 0)
		return ret;
	u->num_additional_gids = json_object_array_length(arr);
	u->additional_gids = xcalloc(u->num_additional_gids, sizeof(uint32_t));
	for (size_t i = 0; i < u->num_additional_gids; i++) {
		char name[64];
		uint64_t gid;
		snprintf(name, sizeof(name), "process.user.additionalGids[%zu]", i);
		ret = json_as_u64(json_object_array_get_idx(arr, i), name, MAX_ID, &gid, err);
		if (ret < 0)
			return ret;
		u->additional_gids[i] = gid;
	}
	return 0;
}

static int parse_user(json_object *obj, struct init_user *u, struct init_error *err)
{
	json_object *user;
	int ret = json_member(obj, "user", json_type_object, false, "process.user", &user, err);
	if (ret <= 0)
		return ret;
	ret = json_get_u32(user, "uid", false, "process.user.uid", &u->uid, err);
	if (ret < 0)
		return ret;
	ret = json_get_u32(user, "gid", false, "process.user.gid", &u->gid, err);
	if (ret < 0)
		return ret;
	if (u->uid > MAX_ID || u->gid > MAX_ID)
		return init_fail(err, 0, "process.user: uid and gid must be below %u", UINT32_MAX);
	json_object *umask;
	ret = json_member(user, "umask", json_type_int, false, "process.user.umask", &umask, err);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		uint64_t value;
		ret = json_as_u64(umask, "process.user.umask", 0777, &value, err);
		if (ret < 0)
			return ret;
		u->has_umask = true;
		u->umask = value;
	}
	return parse_gids(user, u, err);
}

static int parse_rlimit(json_object *elem, const char *name, struct init_rlimit *r,
			struct init_error *err)
{
	cleanup_free char *type = NULL;
	char field[96];
	json_object *v;
	int ret;

	if (!json_object_is_type(elem, json_type_object))
		return init_fail(err, 0, "%s: expected object", name);
	snprintf(field, sizeof(field), "%s.type", name);
	ret = json_get_string(elem, "type", true, field, &type, err);
	if (ret < 0)
		return ret;
	r->resource = rlimit_from_name(type);
	if (r->resource < 0)
		return init_fail(err, 0, "%s: unknown rlimit type `%.64s`", field, type);
	snprintf(field, sizeof(field), "%s.soft", name);
	ret = json_member(elem, "soft", json_type_int, true, field, &v, err);
	if (ret < 0)
		return ret;
	ret = json_as_u64(v, field, UINT64_MAX, &r->soft, err);
	if (ret < 0)
		return ret;
	snprintf(field, sizeof(field), "%s.hard", name);
	ret = json_member(elem, "hard", json_type_int, true, field, &v, err);
	if (ret < 0)
		return ret;
	ret = json_as_u64(v, field, UINT64_MAX, &r->hard, err);
	if (ret < 0)
		return ret;
	if (r->soft > r->hard)
		return init_fail(err, 0, "%s: soft limit of %s is above its hard limit", name,
				 type);
	return 0;
}

static int parse_rlimits(json_object *obj, struct init_process *p, struct init_error *err)
{
	json_object *arr;
	int ret = json_member(obj, "rlimits", json_type_array, false, "process.rlimits", &arr, err);
	if (ret <= 0)
		return ret;
	size_t n = json_object_array_length(arr);
	p->rlimits = xcalloc(n, sizeof(*p->rlimits));
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "process.rlimits[%zu]", i);
		ret = parse_rlimit(json_object_array_get_idx(arr, i), name, &p->rlimits[i], err);
		if (ret < 0)
			return ret;
		p->num_rlimits = i + 1;
		for (size_t j = 0; j < i; j++)
			if (p->rlimits[j].resource == p->rlimits[i].resource)
				return init_fail(err, 0, "%s: %s is set twice", name,
						 rlimit_name(p->rlimits[i].resource));
	}
	return 0;
}

static int parse_oom_score_adj(json_object *obj, struct init_process *p, struct init_error *err)
{
	json_object *v;
	int ret =
	    json_member(obj, "oomScoreAdj", json_type_int, false, "process.oomScoreAdj", &v, err);
	if (ret <= 0)
		return ret;
	int64_t value = json_object_get_int64(v);
	if (value < -1000 || value > 1000)
		return init_fail(err, 0, "process.oomScoreAdj: %lld is outside -1000..1000",
				 (long long)value);
	p->has_oom_score_adj = true;
	p->oom_score_adj = value;
	return 0;
}

/* Capabilities, seccomp and the other security attributes are applied by later steps,
 * each with its own parser here. */
int config_parse_process(json_object *obj, struct init_process *p, struct init_error *err)
{
	int ret;

	ret = parse_args(obj, p, err);
	if (ret < 0)
		return ret;
	ret = parse_env(obj, p, err);
	if (ret < 0)
		return ret;
	ret = parse_cwd(obj, p, err);
	if (ret < 0)
		return ret;
	ret = parse_user(obj, &p->user, err);
	if (ret < 0)
		return ret;
	ret = parse_rlimits(obj, p, err);
	if (ret < 0)
		return ret;
	ret = parse_oom_score_adj(obj, p, err);
	if (ret < 0)
		return ret;
	ret = json_get_bool(obj, "terminal", "process.terminal", &p->terminal, err);
	if (ret < 0)
		return ret;
	return json_get_bool(obj, "noNewPrivileges", "process.noNewPrivileges",
			     &p->no_new_privileges, err);
}

void config_free_process(struct init_process *p)
{
	free_strv(p->args);
	free_strv(p->env);
	free(p->cwd);
	free(p->user.additional_gids);
	free(p->rlimits);
	memset(p, 0, sizeof(*p));
}
