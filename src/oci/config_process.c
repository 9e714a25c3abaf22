/* config.json: the process object. */
#include "oci/config.h"
#include "util/util.h"

#include <string.h>

static const char *const rlimit_names[] = {
	"RLIMIT_AS",	 "RLIMIT_CORE",	  "RLIMIT_CPU",	       "RLIMIT_DATA",
	"RLIMIT_FSIZE",	 "RLIMIT_LOCKS",  "RLIMIT_MEMLOCK",    "RLIMIT_MSGQUEUE",
	"RLIMIT_NICE",	 "RLIMIT_NOFILE", "RLIMIT_NPROC",      "RLIMIT_RSS",
	"RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
};

static bool known_rlimit(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++) {
		if (strcmp(rlimit_names[i], name) == 0)
			return true;
	}
	return false;
}

static int parse_gids(yajl_val v, struct oci_user *u, krun_error_t *err)
{
	const char *path = "process.user.additionalGids";
	int ret;

	ret = json_expect_array(OCI_DOC, path, v, err);
	if (ret < 0 || !v)
		return ret;
	u->additional_gids = xzalloc(v->u.array.len * sizeof(uint32_t));
	for (size_t i = 0; i < v->u.array.len; i++) {
		cleanup_free char *item = json_index_path(path, i);
		uint64_t gid;

		ret = json_read_uint(OCI_DOC, item, v->u.array.values[i], UINT32_MAX, &gid, err);
		if (ret < 0)
			return ret;
		u->additional_gids[u->n_additional_gids++] = gid;
	}
	return 0;
}

static int parse_user(yajl_val v, struct oci_user *u, krun_error_t *err)
{
	uint64_t uid = 0, gid = 0, umask = 0;
	yajl_val m;
	int ret;

	ret = json_expect_object(OCI_DOC, "process.user", v, err);
	if (ret < 0 || !v)
		return ret;
	m = json_get(v, "uid");
	ret = json_require(OCI_DOC, "process.user.uid", m, err);
	if (ret < 0)
		return ret;
	ret = json_read_uint(OCI_DOC, "process.user.uid", m, UINT32_MAX, &uid, err);
	if (ret < 0)
		return ret;
	m = json_get(v, "gid");
	ret = json_require(OCI_DOC, "process.user.gid", m, err);
	if (ret < 0)
		return ret;
	ret = json_read_uint(OCI_DOC, "process.user.gid", m, UINT32_MAX, &gid, err);
	if (ret < 0)
		return ret;
	m = json_get(v, "umask");
	ret = json_read_uint(OCI_DOC, "process.user.umask", m, 0777, &umask, err);
	if (ret < 0)
		return ret;
	u->uid = uid;
	u->gid = gid;
	u->has_umask = m != NULL;
	u->umask = umask;
	return parse_gids(json_get(v, "additionalGids"), u, err);
}

static int parse_rlimit(yajl_val v, const char *path, struct oci_process *p, krun_error_t *err)
{
	struct oci_rlimit *r = &p->rlimits[p->n_rlimits];
	cleanup_free char *type_path = json_path(path, "type");
	cleanup_free char *soft_path = json_path(path, "soft");
	cleanup_free char *hard_path = json_path(path, "hard");
	int ret;

	ret = json_expect_object(OCI_DOC, path, v, err);
	if (ret < 0)
		return ret;
	ret = json_require(OCI_DOC, type_path, json_get(v, "type"), err);
	if (ret < 0)
		return ret;
	ret = json_require(OCI_DOC, soft_path, json_get(v, "soft"), err);
	if (ret < 0)
		return ret;
	ret = json_require(OCI_DOC, hard_path, json_get(v, "hard"), err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, type_path, json_get(v, "type"), &r->type, err);
	if (ret < 0)
		return ret;
	p->n_rlimits++; /* from here on r->type is owned by p */
	ret = json_read_uint(OCI_DOC, soft_path, json_get(v, "soft"), UINT64_MAX, &r->soft, err);
	if (ret < 0)
		return ret;
	ret = json_read_uint(OCI_DOC, hard_path, json_get(v, "hard"), UINT64_MAX, &r->hard, err);
	if (ret < 0)
		return ret;
	if (!known_rlimit(r->type))
		return krun_make_error(err, 0, "%s: %s `%s` is not a known resource limit", OCI_DOC,
				       type_path, r->type);
	for (size_t i = 0; i + 1 < p->n_rlimits; i++) {
		if (strcmp(p->rlimits[i].type, r->type) == 0)
			return krun_make_error(err, 0, "%s: %s: `%s` is set twice", OCI_DOC, path,
					       r->type);
	}
	return 0;
}

static int parse_rlimits(yajl_val v, struct oci_process *p, krun_error_t *err)
{
	int ret;

	ret = json_expect_array(OCI_DOC, "process.rlimits", v, err);
	if (ret < 0 || !v)
		return ret;
	p->rlimits = xzalloc(v->u.array.len * sizeof(*p->rlimits));
	for (size_t i = 0; i < v->u.array.len; i++) {
		cleanup_free char *path = json_index_path("process.rlimits", i);

		ret = parse_rlimit(v->u.array.values[i], path, p, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int parse_capabilities(yajl_val v, struct oci_process *p, krun_error_t *err)
{
	struct oci_capabilities *c = &p->capabilities;
	const struct {
		const char *key;
		struct strv *set;
	} sets[] = {
		{ "bounding", &c->bounding },	    { "effective", &c->effective },
		{ "inheritable", &c->inheritable }, { "permitted", &c->permitted },
		{ "ambient", &c->ambient },
	};
	int ret;

	ret = json_expect_object(OCI_DOC, "process.capabilities", v, err);
	if (ret < 0 || !v)
		return ret;
	p->has_capabilities = true;
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		cleanup_free char *path = json_path("process.capabilities", sets[i].key);

		ret = json_read_strv(OCI_DOC, path, json_get(v, sets[i].key), sets[i].set, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int parse_args_cwd(yajl_val v, struct oci_process *p, krun_error_t *err)
{
	yajl_val args = json_get(v, "args"), cwd = json_get(v, "cwd");
	int ret;

	ret = json_require(OCI_DOC, "process.args", args, err);
	if (ret < 0)
		return ret;
	ret = json_read_strv(OCI_DOC, "process.args", args, &p->args, err);
	if (ret < 0)
		return ret;
	if (p->args.n == 0)
		return krun_make_error(err, 0, "%s: process.args must not be empty", OCI_DOC);
	ret = json_require(OCI_DOC, "process.cwd", cwd, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, "process.cwd", cwd, &p->cwd, err);
	if (ret < 0)
		return ret;
	if (p->cwd[0] != '/')
		return krun_make_error(err, 0, "%s: process.cwd `%s` must be an absolute path",
				       OCI_DOC, p->cwd);
	return 0;
}

int oci_parse_process(yajl_val v, struct oci_process *p, krun_error_t *err)
{
	int ret;

	ret = json_expect_object(OCI_DOC, "process", v, err);
	if (ret < 0)
		return ret;
	ret =
	    json_read_bool(OCI_DOC, "process.terminal", json_get(v, "terminal"), &p->terminal, err);
	if (ret < 0)
		return ret;
	ret = parse_args_cwd(v, p, err);
	if (ret < 0)
		return ret;
	ret = json_read_strv(OCI_DOC, "process.env", json_get(v, "env"), &p->env, err);
	if (ret < 0)
		return ret;
	ret = parse_user(json_get(v, "user"), &p->user, err);
	if (ret < 0)
		return ret;
	ret = parse_rlimits(json_get(v, "rlimits"), p, err);
	if (ret < 0)
		return ret;
	ret = json_read_bool(OCI_DOC, "process.noNewPrivileges", json_get(v, "noNewPrivileges"),
			     &p->no_new_privileges, err);
	if (ret < 0)
		return ret;
	return parse_capabilities(json_get(v, "capabilities"), p, err);
}

void oci_process_release(struct oci_process *p)
{
	struct oci_capabilities *c = &p->capabilities;

	strv_free(&p->args);
	strv_free(&p->env);
	free(p->cwd);
	free(p->user.additional_gids);
	for (size_t i = 0; i < p->n_rlimits; i++)
		free(p->rlimits[i].type);
	free(p->rlimits);
	strv_free(&c->bounding);
	strv_free(&c->effective);
	strv_free(&c->inheritable);
	strv_free(&c->permitted);
	strv_free(&c->ambient);
}
