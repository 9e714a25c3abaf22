/* Typed reads of yajl trees whose errors name the document and the key path. */
#include "annotations/json.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* A first pass with the event parser bounds the depth (the tree parser and its free
 * recurse) and finds NUL characters in strings, which the tree would silently cut. */
struct json_scan {
	unsigned depth;
	bool too_deep;
	bool has_nul;
};

static int scan_open(void *ctx)
{
	struct json_scan *s = ctx;

	if (++s->depth > JSON_MAX_DEPTH) {
		s->too_deep = true;
		return 0;
	}
	return 1;
}

static int scan_close(void *ctx)
{
	((struct json_scan *)ctx)->depth--;
	return 1;
}

static int scan_string(void *ctx, const unsigned char *str, size_t len)
{
	struct json_scan *s = ctx;

	s->has_nul = memchr(str, '\0', len) != NULL;
	return !s->has_nul;
}

static const yajl_callbacks scan_callbacks = {
	.yajl_string = scan_string,
	.yajl_start_map = scan_open,
	.yajl_map_key = scan_string,
	.yajl_end_map = scan_close,
	.yajl_start_array = scan_open,
	.yajl_end_array = scan_close,
};

static int scan_error(const char *doc, yajl_handle h, const struct json_scan *s, size_t at,
		      krun_error_t *err)
{
	unsigned char *msg;
	int ret;

	if (s->too_deep)
		return krun_make_error(err, 0, "%s: nested deeper than %d levels", doc,
				       JSON_MAX_DEPTH);
	if (s->has_nul)
		return krun_make_error(err, 0, "%s: a string contains a NUL character", doc);
	msg = yajl_get_error(h, 0, NULL, 0);
	msg[strcspn((char *)msg, "\n")] = '\0';
	ret = krun_make_error(err, 0, "%s: invalid JSON near byte %zu: %s", doc, at, msg);
	yajl_free_error(h, msg);
	return ret;
}

static int json_scan(const char *doc, const char *text, size_t len, krun_error_t *err)
{
	struct json_scan s = { 0 };
	yajl_handle h = yajl_alloc(&scan_callbacks, NULL, &s);
	yajl_status st;
	size_t at;
	int ret = 0;

	if (!h)
		oom(); /* yajl_alloc fails only when out of memory */
	st = yajl_parse(h, (const unsigned char *)text, len);
	at = yajl_get_bytes_consumed(h);
	if (st == yajl_status_ok) {
		st = yajl_complete_parse(h);
		at = len; /* what is missing is at the end */
	}
	if (st != yajl_status_ok)
		ret = scan_error(doc, h, &s, at, err);
	yajl_free(h);
	return ret;
}

int json_parse_object(const char *doc, const char *text, size_t len, yajl_val *out,
		      krun_error_t *err)
{
	char errbuf[256];
	yajl_val root;
	int ret;

	ret = json_scan(doc, text, len, err);
	if (ret < 0)
		return ret;
	root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	if (!root) {
		errbuf[strcspn(errbuf, "\n")] = '\0';
		return krun_make_error(err, 0, "%s: invalid JSON: %s", doc, errbuf);
	}
	if (!YAJL_IS_OBJECT(root)) {
		yajl_tree_free(root);
		return krun_make_error(err, 0, "%s: the document must be a JSON object", doc);
	}
	*out = root;
	return 0;
}

yajl_val json_get(yajl_val obj, const char *key)
{
	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++) {
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL
								     : obj->u.object.values[i];
	}
	return NULL;
}

char *json_path(const char *parent, const char *key)
{
	char *p;

	xasprintf(&p, "%s%s%s", parent, *parent ? "." : "", key);
	return p;
}

char *json_index_path(const char *parent, size_t index)
{
	char *p;

	xasprintf(&p, "%s[%zu]", parent, index);
	return p;
}

int json_require(const char *doc, const char *path, yajl_val v, krun_error_t *err)
{
	if (!v)
		return krun_make_error(err, 0, "%s: %s is required", doc, path);
	return 0;
}

int json_expect_object(const char *doc, const char *path, yajl_val v, krun_error_t *err)
{
	if (v && !YAJL_IS_OBJECT(v))
		return krun_make_error(err, 0, "%s: %s must be an object", doc, path);
	return 0;
}

int json_expect_array(const char *doc, const char *path, yajl_val v, krun_error_t *err)
{
	if (v && !YAJL_IS_ARRAY(v))
		return krun_make_error(err, 0, "%s: %s must be an array", doc, path);
	return 0;
}

int json_read_string(const char *doc, const char *path, yajl_val v, char **out, krun_error_t *err)
{
	if (!v)
		return 0;
	if (!YAJL_IS_STRING(v))
		return krun_make_error(err, 0, "%s: %s must be a string", doc, path);
	free(*out);
	*out = xstrdup(v->u.string);
	return 0;
}

int json_read_bool(const char *doc, const char *path, yajl_val v, bool *out, krun_error_t *err)
{
	if (!v)
		return 0;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return krun_make_error(err, 0, "%s: %s must be true or false", doc, path);
	*out = YAJL_IS_TRUE(v);
	return 0;
}

/* yajl keeps the number's text: parsing it ourselves gives the full uint64 range, which
 * its long long cannot hold (rlimits use 2^64-1), and rejects 1.0 and 1e3. */
static const char *integer_text(yajl_val v)
{
	if (!YAJL_IS_NUMBER(v) || strpbrk(v->u.number.r, ".eE"))
		return NULL;
	return v->u.number.r;
}

int json_read_uint(const char *doc, const char *path, yajl_val v, uint64_t max, uint64_t *out,
		   krun_error_t *err)
{
	const char *text;
	uint64_t n = 0;

	if (!v)
		return 0;
	text = integer_text(v);
	errno = 0;
	if (text && *text != '-')
		n = strtoull(text, NULL, 10);
	if (!text || *text == '-' || errno || n > max)
		return krun_make_error(err, 0, "%s: %s must be an integer from 0 to %" PRIu64, doc,
				       path, max);
	*out = n;
	return 0;
}

int json_read_int(const char *doc, const char *path, yajl_val v, int64_t min, int64_t max,
		  int64_t *out, krun_error_t *err)
{
	const char *text;
	long long n = 0;

	if (!v)
		return 0;
	text = integer_text(v);
	errno = 0;
	if (text)
		n = strtoll(text, NULL, 10);
	if (!text || errno || n < min || n > max)
		return krun_make_error(err, 0,
				       "%s: %s must be an integer from %" PRId64 " to %" PRId64,
				       doc, path, min, max);
	*out = n;
	return 0;
}

int json_read_strv(const char *doc, const char *path, yajl_val v, struct strv *out,
		   krun_error_t *err)
{
	size_t n;

	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		goto bad;
	n = v->u.array.len;
	for (size_t i = 0; i < n; i++) {
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			goto bad;
	}
	strv_free(out);
	out->v = xzalloc((n + 1) * sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out->v[i] = xstrdup(v->u.array.values[i]->u.string);
	out->n = n;
	return 0;
bad:
	return krun_make_error(err, 0, "%s: %s must be an array of strings", doc, path);
}
