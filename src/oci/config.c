/* config.json: the document, root, mounts, annotations and the linux object. */
#include "oci/config.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

static const char *const namespace_types[] = {
	"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
};

static int parse_root(yajl_val v, struct oci_config *cfg, krun_error_t *err)
{
	yajl_val path = json_get(v, "path");
	int ret;

	ret = json_require(OCI_DOC, "root", v, err);
	if (ret < 0)
		return ret;
	ret = json_expect_object(OCI_DOC, "root", v, err);
	if (ret < 0)
		return ret;
	ret = json_require(OCI_DOC, "root.path", path, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, "root.path", path, &cfg->root_path, err);
	if (ret < 0)
		return ret;
	ret = json_read_bool(OCI_DOC, "root.readonly", json_get(v, "readonly"), &cfg->root_readonly,
			     err);
	if (ret < 0)
		return ret;
	if (cfg->root_path[0] == '\0')
		return krun_make_error(err, 0, "%s: root.path must not be empty", OCI_DOC);
	return 0;
}

static int parse_mount(yajl_val v, const char *path, struct oci_mount *m, krun_error_t *err)
{
	cleanup_free char *dest = json_path(path, "destination");
	cleanup_free char *type = json_path(path, "type");
	cleanup_free char *source = json_path(path, "source");
	cleanup_free char *options = json_path(path, "options");
	yajl_val d = json_get(v, "destination");
	int ret;

	ret = json_expect_object(OCI_DOC, path, v, err);
	if (ret < 0)
		return ret;
	ret = json_require(OCI_DOC, dest, d, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, dest, d, &m->destination, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, type, json_get(v, "type"), &m->type, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, source, json_get(v, "source"), &m->source, err);
	if (ret < 0)
		return ret;
	ret = json_read_strv(OCI_DOC, options, json_get(v, "options"), &m->options, err);
	if (ret < 0)
		return ret;
	if (m->destination[0] == '\0')
		return krun_make_error(err, 0, "%s: %s must not be empty", OCI_DOC, dest);
	return 0;
}

static int parse_mounts(yajl_val v, struct oci_config *cfg, krun_error_t *err)
{
	int ret;

	ret = json_expect_array(OCI_DOC, "mounts", v, err);
	if (ret < 0 || !v)
		return ret;
	cfg->mounts = xzalloc(v->u.array.len * sizeof(*cfg->mounts));
	for (; cfg->n_mounts < v->u.array.len; cfg->n_mounts++) {
		cleanup_free char *path = json_index_path("mounts", cfg->n_mounts);
		struct oci_mount *m = &cfg->mounts[cfg->n_mounts];

		ret = parse_mount(v->u.array.values[cfg->n_mounts], path, m, err);
		if (ret < 0) {
			cfg->n_mounts++; /* the partly filled entry is released with the rest */
			return ret;
		}
	}
	return 0;
}

static int parse_annotations(yajl_val v, struct oci_config *cfg, krun_error_t *err)
{
	int ret;

	ret = json_expect_object(OCI_DOC, "annotations", v, err);
	if (ret < 0 || !v)
		return ret;
	cfg->annotations = xzalloc(v->u.object.len * sizeof(*cfg->annotations));
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *key = v->u.object.keys[i];
		struct oci_annotation *a = &cfg->annotations[cfg->n_annotations];
		cleanup_free char *path = NULL;

		xasprintf(&path, "annotations[\"%s\"]", key);
		if (*key == '\0')
			return krun_make_error(err, 0, "%s: annotations: a key is empty", OCI_DOC);
		if (oci_config_annotation(cfg, key))
			return krun_make_error(err, 0, "%s: %s is set twice", OCI_DOC, path);
		ret = json_read_string(OCI_DOC, path, v->u.object.values[i], &a->value, err);
		if (ret < 0)
			return ret;
		a->key = xstrdup(key);
		cfg->n_annotations++;
	}
	return 0;
}

static bool known_namespace(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(namespace_types); i++) {
		if (strcmp(namespace_types[i], type) == 0)
			return true;
	}
	return false;
}

static int parse_namespace(yajl_val v, const char *path, struct oci_config *cfg, krun_error_t *err)
{
	struct oci_namespace *ns = &cfg->namespaces[cfg->n_namespaces];
	cleanup_free char *type_path = json_path(path, "type");
	cleanup_free char *ns_path = json_path(path, "path");
	yajl_val type = json_get(v, "type");
	int ret;

	ret = json_expect_object(OCI_DOC, path, v, err);
	if (ret < 0)
		return ret;
	ret = json_require(OCI_DOC, type_path, type, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, type_path, type, &ns->type, err);
	if (ret < 0)
		return ret;
	cfg->n_namespaces++; /* from here on ns is owned by cfg */
	ret = json_read_string(OCI_DOC, ns_path, json_get(v, "path"), &ns->path, err);
	if (ret < 0)
		return ret;
	if (!known_namespace(ns->type))
		return krun_make_error(err, 0, "%s: %s `%s` is not a known namespace type", OCI_DOC,
				       type_path, ns->type);
	for (size_t i = 0; i + 1 < cfg->n_namespaces; i++) {
		if (strcmp(cfg->namespaces[i].type, ns->type) == 0)
			return krun_make_error(err, 0, "%s: %s: namespace `%s` is listed twice",
					       OCI_DOC, path, ns->type);
	}
	return 0;
}

static int parse_namespaces(yajl_val v, struct oci_config *cfg, krun_error_t *err)
{
	int ret;

	ret = json_expect_array(OCI_DOC, "linux.namespaces", v, err);
	if (ret < 0 || !v)
		return ret;
	cfg->namespaces = xzalloc(v->u.array.len * sizeof(*cfg->namespaces));
	for (size_t i = 0; i < v->u.array.len; i++) {
		cleanup_free char *path = json_index_path("linux.namespaces", i);

		ret = parse_namespace(v->u.array.values[i], path, cfg, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int parse_id_mapping(yajl_val v, const char *path, struct oci_id_mapping *m,
			    krun_error_t *err)
{
	static const char *const keys[] = { "containerID", "hostID", "size" };
	uint32_t *fields[] = { &m->container_id, &m->host_id, &m->size };
	int ret;

	ret = json_expect_object(OCI_DOC, path, v, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		cleanup_free char *key_path = json_path(path, keys[i]);
		yajl_val field = json_get(v, keys[i]);
		uint64_t n = 0;

		ret = json_require(OCI_DOC, key_path, field, err);
		if (ret < 0)
			return ret;
		ret = json_read_uint(OCI_DOC, key_path, field, UINT32_MAX, &n, err);
		if (ret < 0)
			return ret;
		*fields[i] = n;
	}
	if (m->size == 0)
		return krun_make_error(err, 0, "%s: %s.size must not be 0", OCI_DOC, path);
	return 0;
}

static int parse_id_mappings(yajl_val parent, const char *key, struct oci_id_mapping **out,
			     size_t *n, krun_error_t *err)
{
	cleanup_free char *path = json_path("linux", key);
	yajl_val v = json_get(parent, key);
	int ret;

	ret = json_expect_array(OCI_DOC, path, v, err);
	if (ret < 0 || !v)
		return ret;
	*out = xzalloc((v->u.array.len + 1) * sizeof(**out));
	for (size_t i = 0; i < v->u.array.len; i++) {
		cleanup_free char *item = json_index_path(path, i);

		ret = parse_id_mapping(v->u.array.values[i], item, &(*out)[i], err);
		if (ret < 0)
			return ret;
		(*n)++;
	}
	return 0;
}

static int parse_linux(yajl_val v, struct oci_config *cfg, krun_error_t *err)
{
	int ret;

	ret = json_expect_object(OCI_DOC, "linux", v, err);
	if (ret < 0 || !v)
		return ret;
	ret = oci_resources_parse(OCI_DOC, "linux.resources", json_get(v, "resources"),
				  &cfg->resources, err);
	if (ret < 0)
		return ret;
	ret = parse_namespaces(json_get(v, "namespaces"), cfg, err);
	if (ret < 0)
		return ret;
	ret = parse_id_mappings(v, "uidMappings", &cfg->uid_mappings, &cfg->n_uid_mappings, err);
	if (ret < 0)
		return ret;
	ret = parse_id_mappings(v, "gidMappings", &cfg->gid_mappings, &cfg->n_gid_mappings, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, "linux.rootfsPropagation", json_get(v, "rootfsPropagation"),
			       &cfg->rootfs_propagation, err);
	if (ret < 0)
		return ret;
	return json_read_string(OCI_DOC, "linux.cgroupsPath", json_get(v, "cgroupsPath"),
				&cfg->cgroups_path, err);
}

static int parse_document(yajl_val doc, struct oci_config *cfg, krun_error_t *err)
{
	yajl_val version = json_get(doc, "ociVersion");
	yajl_val process = json_get(doc, "process");
	int ret;

	ret = json_require(OCI_DOC, "ociVersion", version, err);
	if (ret < 0)
		return ret;
	ret = json_read_string(OCI_DOC, "ociVersion", version, &cfg->oci_version, err);
	if (ret < 0)
		return ret;
	ret = parse_root(json_get(doc, "root"), cfg, err);
	if (ret < 0)
		return ret;
	cfg->has_process = process != NULL;
	if (process) {
		ret = oci_parse_process(process, &cfg->process, err);
		if (ret < 0)
			return ret;
	}
	ret = json_read_string(OCI_DOC, "hostname", json_get(doc, "hostname"), &cfg->hostname, err);
	if (ret < 0)
		return ret;
	ret = parse_mounts(json_get(doc, "mounts"), cfg, err);
	if (ret < 0)
		return ret;
	ret = parse_annotations(json_get(doc, "annotations"), cfg, err);
	if (ret < 0)
		return ret;
	ret = oci_hooks_parse(json_get(doc, "hooks"), &cfg->hooks, err);
	if (ret < 0)
		return ret;
	return parse_linux(json_get(doc, "linux"), cfg, err);
}

int oci_config_parse(const char *text, size_t len, struct oci_config **out, krun_error_t *err)
{
	cleanup_oci_config struct oci_config *cfg = NULL;
	yajl_val doc;
	int ret;

	ret = json_parse_object(OCI_DOC, text, len, &doc, err);
	if (ret < 0)
		return ret;
	cfg = xzalloc(sizeof(*cfg));
	ret = parse_document(doc, cfg, err);
	yajl_tree_free(doc);
	if (ret < 0)
		return ret;
	*out = steal_ptr(&cfg);
	return 0;
}

int oci_config_load(const char *bundle, struct oci_config **out, char **raw, size_t *raw_len,
		    krun_error_t *err)
{
	cleanup_free char *path = NULL;
	cleanup_free char *text = NULL;
	size_t len;
	int ret;

	xasprintf(&path, "%s/config.json", bundle);
	ret = read_file_at(AT_FDCWD, path, OCI_CONFIG_MAX_SIZE, &text, &len);
	if (ret == -EFBIG)
		return krun_make_error(err, 0, "`%s` is larger than %u MiB", path,
				       OCI_CONFIG_MAX_SIZE >> 20);
	if (ret < 0)
		return krun_make_error(err, -ret, "read `%s`", path);
	ret = oci_config_parse(text, len, out, err);
	if (ret < 0)
		return ret;
	if (raw)
		*raw = steal_ptr(&text);
	if (raw_len)
		*raw_len = len;
	return 0;
}

const char *oci_config_annotation(const struct oci_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_annotations; i++) {
		if (strcmp(cfg->annotations[i].key, key) == 0)
			return cfg->annotations[i].value;
	}
	return NULL;
}

void oci_config_free(struct oci_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->oci_version);
	free(cfg->root_path);
	oci_process_release(&cfg->process);
	free(cfg->hostname);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		free(cfg->mounts[i].destination);
		free(cfg->mounts[i].type);
		free(cfg->mounts[i].source);
		strv_free(&cfg->mounts[i].options);
	}
	free(cfg->mounts);
	for (size_t i = 0; i < cfg->n_annotations; i++) {
		free(cfg->annotations[i].key);
		free(cfg->annotations[i].value);
	}
	free(cfg->annotations);
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		free(cfg->namespaces[i].type);
		free(cfg->namespaces[i].path);
	}
	free(cfg->namespaces);
	free(cfg->uid_mappings);
	free(cfg->gid_mappings);
	free(cfg->cgroups_path);
	free(cfg->rootfs_propagation);
	oci_resources_release(&cfg->resources);
	oci_hooks_release(&cfg->hooks);
	free(cfg);
}
