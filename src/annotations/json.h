/* Typed reads of yajl trees for the configuration documents (config.json, .krun_vm.json).
 * Generic: nothing here knows OCI or krun. Every error names the document and the key path
 * ("config.json: process.args must be an array of strings"). */
#ifndef KRUN_ANNOTATIONS_JSON_H
#define KRUN_ANNOTATIONS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>
#include "util/error.h"

/* Deeper documents are rejected: yajl frees its trees recursively. */
#define JSON_MAX_DEPTH 64

/* A string array, also NULL-terminated (v[n] == NULL) so it can be handed to execv-style
 * functions. An absent array has n == 0 and v == NULL. */
struct strv {
	char **v;
	size_t n;
};
void strv_free(struct strv *s);

/* Parses text (len bytes, NUL-terminated at text[len]); the document must be one JSON
 * object, valid UTF-8, with no NUL character in any string and at most JSON_MAX_DEPTH
 * levels. doc names the document in errors. Free *out with yajl_tree_free. */
int json_parse_object(const char *doc, const char *text, size_t len, yajl_val *out,
		      krun_error_t *err);

/* The value of key in obj (the first one), or NULL when absent or JSON null. */
yajl_val json_get(yajl_val obj, const char *key);

/* "parent.key", or "key" when parent is empty. Caller frees. */
char *json_path(const char *parent, const char *key);
/* "parent[index]". Caller frees. */
char *json_index_path(const char *parent, size_t index);

/* Each reader accepts v == NULL (absent: *out is left alone, returns 0) and fails with
 * "<doc>: <path> must be ..." on a value of the wrong type or out of range. */
int json_require(const char *doc, const char *path, yajl_val v, krun_error_t *err);
int json_expect_object(const char *doc, const char *path, yajl_val v, krun_error_t *err);
int json_expect_array(const char *doc, const char *path, yajl_val v, krun_error_t *err);
int json_read_string(const char *doc, const char *path, yajl_val v, char **out, krun_error_t *err);
int json_read_bool(const char *doc, const char *path, yajl_val v, bool *out, krun_error_t *err);
int json_read_uint(const char *doc, const char *path, yajl_val v, uint64_t max, uint64_t *out,
		   krun_error_t *err);
int json_read_int(const char *doc, const char *path, yajl_val v, int64_t min, int64_t max,
		  int64_t *out, krun_error_t *err);
int json_read_strv(const char *doc, const char *path, yajl_val v, struct strv *out,
		   krun_error_t *err);

#endif
