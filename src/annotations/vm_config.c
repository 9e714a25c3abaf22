/* Collects the settings from the annotations and .krun_vm.json through one table of keys. */
#include "annotations/vm_keys.h"
#include "annotations/json.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#define VM_JSON_DOC ".krun_vm.json"
#define STR_(x)	    #x
#define STR(x)	    STR_(x)

static const char *check_variant(const char *s)
{
	if (strcmp(s, "sev") == 0 || strcmp(s, "aws-nitro") == 0)
		return NULL;
	return "unknown variant (known: sev, aws-nitro)";
}

static const char *check_path(const char *s)
{
	return *s ? NULL : "must not be empty";
}

static const char *check_cmdline(const char *s)
{
	return strlen(s) <= VM_CMDLINE_MAX ? NULL : "longer than " STR(VM_CMDLINE_MAX) " bytes";
}

static const char *check_tag(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= VM_ROOT_TAG_MAX ? NULL
					     : "must be 1 to " STR(VM_ROOT_TAG_MAX) " bytes long";
}

const struct vm_key vm_keys[VM_N_FIELDS] = {
	[VM_CPUS] = { "krun.cpus", "cpus", false, 1, VM_MAX_CPUS, NULL },
	[VM_RAM_MIB] = { "krun.ram_mib", "ram_mib", false, 0, INT64_MAX, NULL },
	[VM_GPU_FLAGS] = { "krun.gpu_flags", "gpu_flags", false, 0, UINT32_MAX, NULL },
	[VM_USE_PASST] = { "krun.use_passt", "use_passt", false, 0, INT32_MAX, NULL },
	[VM_NESTED_VIRT] = { "krun.nested_virt", "nested_virt", false, 0, INT32_MAX, NULL },
	[VM_FLAVOR] = { "krun.variant", "flavor", true, 0, 0, check_variant },
	[VM_KERNEL_PATH] = { NULL, "kernel_path", true, 0, 0, check_path },
	[VM_KERNEL_FORMAT] = { NULL, "kernel_format", false, 0, INT32_MAX, NULL },
	[VM_INITRD_PATH] = { NULL, "initrd_path", true, 0, 0, check_path },
	[VM_KERNEL_CMDLINE] = { NULL, "kernel_cmdline", true, 0, 0, check_cmdline },
	[VM_VIRTIOFS_TAG] = { NULL, "virtiofs_tag", true, 0, 0, check_tag },
	[VM_VIRTIOFS_SHM_SIZE] = { NULL, "virtiofs_shm_size", false, 0, INT64_MAX, NULL },
};

/* The value as shown in messages: at most 64 bytes, control characters replaced. */
static char *shown(const char *s)
{
	size_t n = strnlen(s, 64);
	char *out;

	xasprintf(&out, "%.*s%s", (int)n, s, s[n] ? "..." : "");
	for (char *p = out; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return out;
}

char *vm_config_describe(const struct vm_config *cfg, enum vm_field field)
{
	const struct vm_key *k = &vm_keys[field];
	cleanup_free char *value = NULL;
	char *out;

	switch (cfg->origin[field]) {
	case VM_FROM_ANNOTATION:
		value = shown(cfg->text[field]);
		xasprintf(&out, "%s=%s", k->annotation, value);
		break;
	case VM_FROM_FILE:
		value = shown(cfg->text[field]);
		xasprintf(&out, "%s: %s=%s", VM_JSON_DOC, k->json_key, value);
		break;
	default:
		out = xstrdup(k->annotation ? k->annotation : k->json_key);
	}
	return out;
}

/* Digits with an optional minus sign, nothing else (no blanks, no "0x", no "1e3"). */
static bool is_integer_text(const char *s)
{
	if (*s == '-')
		s++;
	return *s && strspn(s, "0123456789") == strlen(s);
}

static int parse_int(const struct vm_config *c, enum vm_field f, int64_t *out, krun_error_t *err)
{
	const struct vm_key *k = &vm_keys[f];
	cleanup_free char *what = vm_config_describe(c, f);
	long long n;

	if (!is_integer_text(c->text[f]))
		return krun_make_error(err, 0, "%s: not a number", what);
	errno = 0;
	n = strtoll(c->text[f], NULL, 10);
	if (errno || n < k->min || n > k->max)
		return krun_make_error(err, 0, "%s: must be from %lld to %lld", what,
				       (long long)k->min, (long long)k->max);
	*out = n;
	return 0;
}

static int take_value(struct vm_config *c, enum vm_field f, enum vm_origin origin, const char *text,
		      int64_t *num, krun_error_t *err)
{
	const struct vm_key *k = &vm_keys[f];
	cleanup_free char *what = NULL;
	const char *problem;

	c->origin[f] = origin;
	c->text[f] = xstrdup(text);
	if (!k->is_string)
		return parse_int(c, f, num, err);
	problem = k->check_string(text);
	if (!problem)
		return 0;
	what = vm_config_describe(c, f);
	return krun_make_error(err, 0, "%s: %s", what, problem);
}

static const char *find_annotation(const struct vm_sources *src, const char *key)
{
	for (size_t i = 0; key && i < src->n_annotations; i++) {
		if (strcmp(src->annotations[i].key, key) == 0)
			return src->annotations[i].value;
	}
	return NULL;
}

static int take_json_value(yajl_val doc, enum vm_field f, struct vm_config *c, int64_t *num,
			   krun_error_t *err)
{
	const struct vm_key *k = &vm_keys[f];
	yajl_val v = json_get(doc, k->json_key);

	if (!v)
		return 0;
	if (k->is_string && !YAJL_IS_STRING(v))
		return krun_make_error(err, 0, "%s: %s must be a string", VM_JSON_DOC, k->json_key);
	if (!k->is_string && !YAJL_IS_NUMBER(v))
		return krun_make_error(err, 0, "%s: %s must be an integer", VM_JSON_DOC,
				       k->json_key);
	return take_value(c, f, VM_FROM_FILE, k->is_string ? v->u.string : v->u.number.r, num, err);
}

static int collect(const struct vm_sources *src, yajl_val doc, struct vm_config *c,
		   int64_t num[VM_N_FIELDS], krun_error_t *err)
{
	for (int f = 0; f < VM_N_FIELDS; f++) {
		const char *value = find_annotation(src, vm_keys[f].annotation);
		int ret;

		if (value)
			ret = take_value(c, f, VM_FROM_ANNOTATION, value, &num[f], err);
		else
			ret = take_json_value(doc, f, c, &num[f], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int vm_config_compute(const struct vm_sources *src, struct vm_config *out, krun_error_t *err)
{
	int64_t num[VM_N_FIELDS] = { 0 };
	yajl_val doc = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (src->vm_json && src->vm_json_len > VM_JSON_MAX_SIZE)
		return krun_make_error(err, 0, "%s: larger than %u KiB", VM_JSON_DOC,
				       VM_JSON_MAX_SIZE >> 10);
	if (src->vm_json) {
		ret = json_parse_object(VM_JSON_DOC, src->vm_json, src->vm_json_len, &doc, err);
		if (ret < 0)
			return ret;
	}
	ret = collect(src, doc, out, num, err);
	yajl_tree_free(doc);
	if (ret < 0)
		return ret;
	return vm_config_resolve(src, num, out, err);
}

void vm_config_warn(struct vm_config *c, const char *fmt, ...)
{
	va_list ap;

	if (c->n_warnings == VM_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	xvasprintf(&c->warnings[c->n_warnings], fmt, ap);
	va_end(ap);
	c->n_warnings++;
}

void vm_config_release(struct vm_config *cfg)
{
	for (int f = 0; f < VM_N_FIELDS; f++)
		free(cfg->text[f]);
	for (size_t i = 0; i < cfg->n_warnings; i++)
		free(cfg->warnings[i]);
	memset(cfg, 0, sizeof(*cfg));
}
