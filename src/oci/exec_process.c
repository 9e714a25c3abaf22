/* exec_process.h: the changes of `krun exec`'s options, then the EXEC document. Only what
 * the guest applies is written; the host has validated all of it (oci_parse_process). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "oci/exec_process.h"
#include "util/json_gen.h"
#include "util/util.h"

static void strv_set(struct strv *s, char *const *v, size_t n)
{
	strv_free(s);
	s->v = xzalloc((n + 1) * sizeof(*s->v));
	for (size_t i = 0; i < n; i++)
		s->v[i] = xstrdup(v[i]);
	s->n = n;
}

static void strv_add(struct strv *s, const char *value)
{
	s->v = xrealloc(s->v, (s->n + 2) * sizeof(*s->v));
	s->v[s->n++] = xstrdup(value);
	s->v[s->n] = NULL;
}

static int env_set(struct strv *env, const char *entry, krun_error_t *err)
{
	const char *eq = strchr(entry, '=');

	if (!eq || eq == entry)
		return krun_make_error(err, EINVAL, "exec: --env `%s` is not KEY=VALUE", entry);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], entry, (size_t)(eq - entry) + 1)) {
			free(env->v[i]);
			env->v[i] = xstrdup(entry);
			return 0;
		}
	strv_add(env, entry);
	return 0;
}

static void caps_add(struct oci_capabilities *caps, const char *name)
{
	struct strv *sets[] = { &caps->bounding, &caps->effective, &caps->inheritable,
				&caps->permitted };

	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		bool present = false;
		for (size_t j = 0; j < sets[i]->n && !present; j++)
			present = !strcmp(sets[i]->v[j], name);
		if (!present)
			strv_add(sets[i], name);
	}
}

static int apply(struct oci_process *p, const struct exec_changes *c, krun_error_t *err)
{
	int ret;

	if (c->n_args > 0)
		strv_set(&p->args, c->args, c->n_args);
	for (size_t i = 0; i < c->n_env; i++) {
		ret = env_set(&p->env, c->env[i], err);
		if (ret < 0)
			return ret;
	}
	if (c->cwd && c->cwd[0] != '/')
		return krun_make_error(err, EINVAL, "exec: --cwd `%s` is not an absolute path",
				       c->cwd);
	if (c->cwd) {
		free(p->cwd);
		p->cwd = xstrdup(c->cwd);
	}
	if (c->has_user) {
		p->user.uid = c->uid;
		p->user.gid = c->gid;
	}
	if (c->n_gids > 0) {
		free(p->user.additional_gids);
		p->user.additional_gids = xmalloc(c->n_gids * sizeof(uint32_t));
		memcpy(p->user.additional_gids, c->gids, c->n_gids * sizeof(uint32_t));
		p->user.n_additional_gids = c->n_gids;
	}
	if (c->terminal >= 0)
		p->terminal = c->terminal;
	p->no_new_privileges |= c->no_new_privs;
	for (size_t i = 0; i < c->n_caps; i++)
		caps_add(&p->capabilities, c->caps[i]);
	p->has_capabilities |= c->n_caps > 0;
	return 0;
}

static void gen_strv(yajl_gen g, const char *key, const struct strv *s)
{
	json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < s->n; i++)
		json_gen_str(g, s->v[i]);
	yajl_gen_array_close(g);
}

static void gen_user(yajl_gen g, const struct oci_user *u)
{
	json_gen_str(g, "user");
	yajl_gen_map_open(g);
	json_gen_kv_int(g, "uid", u->uid);
	json_gen_kv_int(g, "gid", u->gid);
	if (u->has_umask)
		json_gen_kv_int(g, "umask", u->umask);
	json_gen_str(g, "additionalGids");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < u->n_additional_gids; i++)
		yajl_gen_integer(g, u->additional_gids[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* A uint64 as a number token: yajl_gen_integer is signed, and RLIM_INFINITY is 2^64-1. */
static void gen_u64(yajl_gen g, const char *key, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	json_gen_str(g, key);
	yajl_gen_number(g, num, (size_t)n);
}

static void gen_rlimits(yajl_gen g, const struct oci_process *p)
{
	json_gen_str(g, "rlimits");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < p->n_rlimits; i++) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "type", p->rlimits[i].type);
		gen_u64(g, "soft", p->rlimits[i].soft);
		gen_u64(g, "hard", p->rlimits[i].hard);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void gen_capabilities(yajl_gen g, const struct oci_capabilities *c)
{
	json_gen_str(g, "capabilities");
	yajl_gen_map_open(g);
	gen_strv(g, "bounding", &c->bounding);
	gen_strv(g, "effective", &c->effective);
	gen_strv(g, "inheritable", &c->inheritable);
	gen_strv(g, "permitted", &c->permitted);
	gen_strv(g, "ambient", &c->ambient);
	yajl_gen_map_close(g);
}

int exec_process_json(struct oci_process *p, const struct exec_changes *c, char **json,
		      krun_error_t *err)
{
	cleanup_json_gen yajl_gen g = json_gen_new(false);
	int ret = apply(p, c, err);

	if (ret < 0)
		return ret;
	yajl_gen_map_open(g);
	json_gen_str(g, "process");
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "terminal", p->terminal);
	gen_strv(g, "args", &p->args);
	gen_strv(g, "env", &p->env);
	json_gen_kv_str(g, "cwd", p->cwd);
	gen_user(g, &p->user);
	gen_rlimits(g, p);
	json_gen_kv_bool(g, "noNewPrivileges", p->no_new_privileges);
	if (p->has_capabilities)
		gen_capabilities(g, &p->capabilities);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	*json = json_gen_take(g, NULL);
	return 0;
}
