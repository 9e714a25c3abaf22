/* Typed accessors over json-c for the config parser; each names its field in errors. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "config_json.h"

int json_member(json_object *obj, const char *key, json_type type, bool required, const char *name,
		json_object **out, struct init_error *err)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v) || v == NULL) {
		if (required)
			return init_fail(err, 0, "%s: missing", name);
		return 0;
	}
	if (!json_object_is_type(v, type))
		return init_fail(err, 0, "%s: expected %s, got %s", name, json_type_to_name(type),
				 json_type_to_name(json_object_get_type(v)));
	*out = v;
	return 1;
}

int json_as_string(json_object *v, const char *name, char **out, struct init_error *err)
{
	if (!json_object_is_type(v, json_type_string))
		return init_fail(err, 0, "%s: expected string, got %s", name,
				 json_type_to_name(json_object_get_type(v)));
	const char *s = json_object_get_string(v);
	/* "\u0000" would silently cut the string short when handed to C APIs. */
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return init_fail(err, 0, "%s: contains a NUL character", name);
	*out = xstrdup(s);
	return 0;
}

int json_as_u64(json_object *v, const char *name, uint64_t max, uint64_t *out,
		struct init_error *err)
{
	if (!json_object_is_type(v, json_type_int))
		return init_fail(err, 0, "%s: expected an integer, got %s", name,
				 json_type_to_name(json_object_get_type(v)));
	/* json-c clamps: a negative value reads as 0 through get_uint64, a value above
	 * INT64_MAX as INT64_MAX through get_int64, so the sign comes from the latter. */
	if (json_object_get_int64(v) < 0)
		return init_fail(err, 0, "%s: must not be negative", name);
	uint64_t value = json_object_get_uint64(v);
	if (value > max)
		return init_fail(err, 0, "%s: %llu is out of range (at most %llu)", name,
				 (unsigned long long)value, (unsigned long long)max);
	*out = value;
	return 0;
}

int json_get_string(json_object *obj, const char *key, bool required, const char *name, char **out,
		    struct init_error *err)
{
	json_object *v;
	int ret = json_member(obj, key, json_type_string, required, name, &v, err);
	if (ret <= 0)
		return ret;
	return json_as_string(v, name, out, err);
}

int json_get_bool(json_object *obj, const char *key, const char *name, bool *out,
		  struct init_error *err)
{
	json_object *v;
	int ret = json_member(obj, key, json_type_boolean, false, name, &v, err);
	if (ret <= 0)
		return ret;
	*out = json_object_get_boolean(v);
	return 0;
}

int json_get_u32(json_object *obj, const char *key, bool required, const char *name, uint32_t *out,
		 struct init_error *err)
{
	json_object *v;
	uint64_t value;
	int ret = json_member(obj, key, json_type_int, required, name, &v, err);
	if (ret <= 0)
		return ret;
	ret = json_as_u64(v, name, UINT32_MAX, &value, err);
	if (ret < 0)
		return ret;
	*out = (uint32_t)value;
	return 0;
}

int json_get_strv(json_object *obj, const char *key, bool required, const char *name, char ***out,
		  size_t *len, struct init_error *err)
{
	json_object *arr;
	int ret = json_member(obj, key, json_type_array, required, name, &arr, err);
	if (ret <= 0)
		return ret;

	size_t n = json_object_array_length(arr);
	cleanup_strv char **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		char elem[128];
		snprintf(elem, sizeof(elem), "%s[%zu]", name, i);
		ret = json_as_string(json_object_array_get_idx(arr, i), elem, &v[i], err);
		if (ret < 0)
			return ret;
	}
	*out = steal_ptr(&v);
	*len = n;
	return 0;
}
