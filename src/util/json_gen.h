/* Small conveniences over yajl_gen for the documents krun prints (state, list, ps, hooks'
 * state): key/value pairs in one call, and the finished text as a C string. */
#ifndef KRUN_UTIL_JSON_GEN_H
#define KRUN_UTIL_JSON_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

/* A generator that validates UTF-8; pretty-printed with 2-space indent when beautify. */
yajl_gen json_gen_new(bool beautify);
void json_gen_str(yajl_gen g, const char *s);
void json_gen_kv_str(yajl_gen g, const char *key, const char *value);
void json_gen_kv_int(yajl_gen g, const char *key, long long value);
void json_gen_kv_bool(yajl_gen g, const char *key, bool value);
/* key and an array of the NULL-terminated strings v. */
void json_gen_kv_strv(yajl_gen g, const char *key, const char *const *v);
/* The document so far, NUL-terminated; *len (optional) its length. Caller frees. */
char *json_gen_take(yajl_gen g, size_t *len);

static inline void cleanup_json_genp(yajl_gen *g)
{
	if (*g)
		yajl_gen_free(*g);
}
#define cleanup_json_gen __attribute__((cleanup(cleanup_json_genp)))

#endif
