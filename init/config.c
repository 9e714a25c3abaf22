/* Loads /.krun_config.json: the top level (process, hostname, mounts). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "config_json.h"

/* HOST_NAME_MAX, and the same bound for the NIS domain name (sethostname/setdomainname). */
#define MAX_UTS_NAME 64

static int parse_uts_name(json_object *root, const char *key, char **out, struct init_error *err)
{
	int ret = json_get_string(root, key, false, key, out, err);
	if (ret < 0)
		return ret;
	if (*out && strlen(*out) > MAX_UTS_NAME)
		return init_fail(err, 0, "%s: longer than %d bytes", key, MAX_UTS_NAME);
	return 0;
}

static int parse_mount(json_object *elem, const char *name, struct init_mount *m,
		       struct init_error *err)
{
	char field[96];
	int ret;

	if (!json_object_is_type(elem, json_type_object))
		return init_fail(err, 0, "%s: expected object", name);
	snprintf(field, sizeof(field), "%s.destination", name);
	ret = json_get_string(elem, "destination", true, field, &m->destination, err);
	if (ret < 0)
		return ret;
	if (m->destination[0] == '\0')
		return init_fail(err, 0, "%s: must not be empty", field);
	snprintf(field, sizeof(field), "%s.type", name);
	ret = json_get_string(elem, "type", false, field, &m->type, err);
	if (ret < 0)
		return ret;
	snprintf(field, sizeof(field), "%s.source", name);
	ret = json_get_string(elem, "source", false, field, &m->source, err);
	if (ret < 0)
		return ret;
	snprintf(field, sizeof(field), "%s.options", name);
	ret = json_get_strv(elem, "options", false, field, &m->options, &m->num_options, err);
	if (ret < 0)
		return ret;
	if (!m->options)
		m->options = xcalloc(1, sizeof(char *));
	return 0;
}

static int parse_mounts(json_object *root, struct init_config *cfg, struct init_error *err)
{
	json_object *arr;
	int ret = json_member(root, "mounts", json_type_array, false, "mounts", &arr, err);
	if (ret <= 0)
		return ret;
	size_t n = json_object_array_length(arr);
	cfg->mounts = xcalloc(n, sizeof(*cfg->mounts));
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "mounts[%zu]", i);
		cfg->num_mounts = i + 1; /* so that config_free releases a partial entry */
		ret = parse_mount(json_object_array_get_idx(arr, i), name, &cfg->mounts[i], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The top level of config.json and of an exec's EXEC document alike: an object whose
 * "process" member is parsed into p. */
static int parse_process_member(json_object *root, struct init_process *p, struct init_error *err)
{
	json_object *process = NULL;
	int ret;

	if (!json_object_is_type(root, json_type_object))
		return init_fail(err, 0, "expected a JSON object at the top level");
	ret = json_member(root, "process", json_type_object, true, "process", &process, err);
	if (ret < 0)
		return ret;
	return config_parse_process(process, p, err);
}

static int parse_root(json_object *root, struct init_config *cfg, struct init_error *err)
{
	int ret = parse_process_member(root, &cfg->process, err);

	if (ret < 0)
		return ret;
	ret = parse_uts_name(root, "hostname", &cfg->hostname, err);
	if (ret < 0)
		return ret;
	ret = parse_uts_name(root, "domainname", &cfg->domainname, err);
	if (ret < 0)
		return ret;
	return parse_mounts(root, cfg, err);
}

static bool only_whitespace(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)s[i]))
			return false;
	return true;
}

static int parse_json(const char *text, size_t len, json_object **out, struct init_error *err)
{
	if (len > KRUN_CONFIG_MAX_SIZE)
		return init_fail(err, EFBIG, "larger than %u bytes", KRUN_CONFIG_MAX_SIZE);
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return init_fail(err, ENOMEM, "JSON parser");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	json_object *root = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (!root && jerr == json_tokener_continue)
		return init_fail(err, 0, "invalid JSON: truncated document");
	if (!root)
		return init_fail(err, 0, "invalid JSON at byte %zu: %s", end,
				 json_tokener_error_desc(jerr));
	if (!only_whitespace(text + end, len - end)) {
		json_object_put(root);
		return init_fail(err, 0, "invalid JSON: trailing data at byte %zu", end);
	}
	*out = root;
	return 0;
}

int config_parse(const char *text, size_t len, struct init_config *cfg, struct init_error *err)
{
	json_object *root = NULL;

	memset(cfg, 0, sizeof(*cfg));
	int ret = parse_json(text, len, &root, err);
	if (ret < 0)
		return ret;
	ret = parse_root(root, cfg, err);
	json_object_put(root);
	if (ret < 0)
		config_free(cfg);
	return ret;
}

int config_parse_exec(const char *text, size_t len, struct init_process *p, struct init_error *err)
{
	json_object *root = NULL;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = parse_json(text, len, &root, err);
	if (ret < 0)
		return ret;
	ret = parse_process_member(root, p, err);
	json_object_put(root);
	if (ret < 0)
		config_free_process(p);
	return ret;
}

int config_load(const char *path, struct init_config *cfg, struct init_error *err)
{
	cleanup_free char *text = NULL;
	size_t len;

	memset(cfg, 0, sizeof(*cfg));
	int ret = read_file(path, KRUN_CONFIG_MAX_SIZE, &text, &len, err);
	if (ret < 0)
		return init_fail_wrap(err, "config `%s`", path);
	ret = config_parse(text, len, cfg, err);
	if (ret < 0)
		return init_fail_wrap(err, "config `%s`", path);
	return 0;
}

void config_free(struct init_config *cfg)
{
	config_free_process(&cfg->process);
	free(cfg->hostname);
	free(cfg->domainname);
	for (size_t i = 0; i < cfg->num_mounts; i++) {
		free(cfg->mounts[i].destination);
		free(cfg->mounts[i].type);
		free(cfg->mounts[i].source);
		free_strv(cfg->mounts[i].options);
	}
	free(cfg->mounts);
	memset(cfg, 0, sizeof(*cfg));
}
