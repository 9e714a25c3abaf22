/* linux.resources (and `update --resources`): parsing the cgroup limits krun applies. */
#include "oci/resources.h"
#include "annotations/json.h"
#include "util/util.h"

#include <string.h>

/* Reads obj.key as an integer in [min, max]; 0 means "not set" (Docker writes zeros for
 * limits it does not set). */
static int read_limit(const char *doc, const char *obj_path, yajl_val obj, const char *key,
		      int64_t min, bool *has, int64_t *out, krun_error_t *err)
{
	cleanup_free char *path = json_path(obj_path, key);
	yajl_val v = json_get(obj, key);
	int64_t n = 0;
	int ret;

	ret = json_read_int(doc, path, v, min, INT64_MAX, &n, err);
	if (ret < 0)
		return ret;
	*has = v && n != 0;
	*out = *has ? n : 0;
	return 0;
}

static int read_ulimit(const char *doc, const char *obj_path, yajl_val obj, const char *key,
		       bool *has, uint64_t *out, krun_error_t *err)
{
	cleanup_free char *path = json_path(obj_path, key);
	yajl_val v = json_get(obj, key);
	uint64_t n = 0;
	int ret;

	ret = json_read_uint(doc, path, v, UINT64_MAX, &n, err);
	if (ret < 0)
		return ret;
	*has = v && n != 0;
	*out = *has ? n : 0;
	return 0;
}

/* The text goes to cpuset.cpus / cpuset.mems as is, so only the list syntax is allowed. */
static int read_cpu_list(const char *doc, const char *obj_path, yajl_val obj, const char *key,
			 char **out, krun_error_t *err)
{
	cleanup_free char *path = json_path(obj_path, key);
	cleanup_free char *s = NULL;
	int ret;

	ret = json_read_string(doc, path, json_get(obj, key), &s, err);
	if (ret < 0 || !s || !*s)
		return ret;
	if (s[strspn(s, "0123456789,-")] != '\0')
		return krun_make_error(err, 0, "%s: %s must be a list like `0-3,6`, not `%s`", doc,
				       path, s);
	*out = steal_ptr(&s);
	return 0;
}

static int parse_memory(const char *doc, const char *path, yajl_val v, struct oci_resources *r,
			krun_error_t *err)
{
	int ret;

	ret = json_expect_object(doc, path, v, err);
	if (ret < 0 || !v)
		return ret;
	ret = read_limit(doc, path, v, "limit", -1, &r->has_memory_limit, &r->memory_limit, err);
	if (ret < 0)
		return ret;
	ret = read_limit(doc, path, v, "reservation", -1, &r->has_memory_reservation,
			 &r->memory_reservation, err);
	if (ret < 0)
		return ret;
	return read_limit(doc, path, v, "swap", -1, &r->has_memory_swap, &r->memory_swap, err);
}

static int parse_cpu(const char *doc, const char *path, yajl_val v, struct oci_resources *r,
		     krun_error_t *err)
{
	int ret;

	ret = json_expect_object(doc, path, v, err);
	if (ret < 0 || !v)
		return ret;
	ret = read_ulimit(doc, path, v, "shares", &r->has_cpu_shares, &r->cpu_shares, err);
	if (ret < 0)
		return ret;
	ret = read_limit(doc, path, v, "quota", -1, &r->has_cpu_quota, &r->cpu_quota, err);
	if (ret < 0)
		return ret;
	ret = read_ulimit(doc, path, v, "period", &r->has_cpu_period, &r->cpu_period, err);
	if (ret < 0)
		return ret;
	ret = read_cpu_list(doc, path, v, "cpus", &r->cpuset_cpus, err);
	if (ret < 0)
		return ret;
	return read_cpu_list(doc, path, v, "mems", &r->cpuset_mems, err);
}

/* pids.limit is the one limit where 0 is meaningful (<= 0: unlimited). */
static int parse_pids(const char *doc, const char *path, yajl_val v, struct oci_resources *r,
		      krun_error_t *err)
{
	cleanup_free char *limit_path = json_path(path, "limit");
	yajl_val limit = json_get(v, "limit");
	int ret;

	ret = json_expect_object(doc, path, v, err);
	if (ret < 0 || !v)
		return ret;
	ret = json_read_int(doc, limit_path, limit, INT64_MIN, INT64_MAX, &r->pids_limit, err);
	if (ret < 0)
		return ret;
	r->has_pids_limit = limit != NULL;
	return 0;
}

static int parse_object(const char *doc, const char *path, yajl_val v, struct oci_resources *r,
			krun_error_t *err)
{
	cleanup_free char *memory = json_path(path, "memory");
	cleanup_free char *cpu = json_path(path, "cpu");
	cleanup_free char *pids = json_path(path, "pids");
	int ret;

	ret = json_expect_object(doc, *path ? path : "the document", v, err);
	if (ret < 0 || !v)
		return ret;
	ret = parse_memory(doc, memory, json_get(v, "memory"), r, err);
	if (ret < 0)
		return ret;
	ret = parse_cpu(doc, cpu, json_get(v, "cpu"), r, err);
	if (ret < 0)
		return ret;
	return parse_pids(doc, pids, json_get(v, "pids"), r, err);
}

int oci_resources_parse(const char *doc, const char *path, yajl_val v, struct oci_resources *out,
			krun_error_t *err)
{
	struct oci_resources r = { 0 };
	int ret;

	ret = parse_object(doc, path, v, &r, err);
	if (ret < 0) {
		oci_resources_release(&r);
		return ret;
	}
	*out = r;
	return 0;
}

void oci_resources_release(struct oci_resources *r)
{
	free(r->cpuset_cpus);
	free(r->cpuset_mems);
	*r = (struct oci_resources){ 0 };
}
