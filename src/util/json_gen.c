/* Small conveniences over yajl_gen for the documents krun prints. */
#include "util/json_gen.h"
#include "util/util.h"

#include <string.h>

yajl_gen json_gen_new(bool beautify)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (!g)
		oom();
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	if (beautify) {
		yajl_gen_config(g, yajl_gen_beautify, 1);
		yajl_gen_config(g, yajl_gen_indent_string, "  ");
	}
	return g;
}

void json_gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void json_gen_kv_str(yajl_gen g, const char *key, const char *value)
{
	json_gen_str(g, key);
	json_gen_str(g, value);
}

void json_gen_kv_int(yajl_gen g, const char *key, long long value)
{
	json_gen_str(g, key);
	yajl_gen_integer(g, value);
}

void json_gen_kv_bool(yajl_gen g, const char *key, bool value)
{
	json_gen_str(g, key);
	yajl_gen_bool(g, value);
}

void json_gen_kv_strv(yajl_gen g, const char *key, const char *const *v)
{
	json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (; *v; v++)
		json_gen_str(g, *v);
	yajl_gen_array_close(g);
}

char *json_gen_take(yajl_gen g, size_t *len)
{
	const unsigned char *buf;
	size_t n;
	char *out;

	yajl_gen_get_buf(g, &buf, &n);
	out = xmalloc(n + 1);
	memcpy(out, buf, n);
	out[n] = '\0';
	if (len)
		*len = n;
	return out;
}
