/* src/annotations: every annotation and .krun_vm.json field, defaults, precedence, limits,
 * error messages, what is not supported yet, and the nested-virtualisation probe. */
#include "annotations/vm_config.h"
#include "annotations/json.h"
#include "util/util.h"
#include "tap.h"

#include <stdarg.h>
#include <string.h>

/* Sources built by the tests: "key=value" annotation strings, an optional .krun_vm.json. */
struct src {
	struct vm_annotation ann[8];
	char buf[8][128];
	struct vm_sources s;
};

static struct vm_sources *sources(struct src *t, const char *vm_json, const char *const *ann)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; ann && ann[i]; i++) {
		char *eq;

		snprintf(t->buf[i], sizeof(t->buf[i]), "%s", ann[i]);
		eq = strchr(t->buf[i], '=');
		*eq = '\0';
		t->ann[i].key = t->buf[i];
		t->ann[i].value = eq + 1;
		t->s.n_annotations++;
	}
	t->s.annotations = t->ann;
	t->s.vm_json = vm_json;
	t->s.vm_json_len = vm_json ? strlen(vm_json) : 0;
	t->s.host_cpus = 4;
	return &t->s;
}

/* Computes from the sources; returns the error message (static) or NULL on success. */
static const char *compute(struct vm_sources *s, struct vm_config *c)
{
	static char msg[512];
	krun_error_t err = NULL;

	if (vm_config_compute(s, c, &err) == 0)
		return NULL;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	krun_error_release(&err);
	return msg;
}

static const char *supported(const struct vm_config *c)
{
	static char msg[512];
	krun_error_t err = NULL;

	if (vm_config_check_supported(c, &err) == 0)
		return NULL;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	krun_error_release(&err);
	return msg;
}

/* The error for a single annotation (or .krun_vm.json when ann is NULL). */
static const char *error_for(const char *vm_json, const char *ann)
{
	const char *list[] = { ann, NULL };
	struct vm_config c;
	struct src t;
	const char *msg = compute(sources(&t, vm_json, ann ? list : NULL), &c);

	vm_config_release(&c);
	return msg ? msg : "(no error)";
}

static void test_defaults(void)
{
	struct vm_config c;
	struct src t;

	ok(compute(sources(&t, NULL, NULL), &c) == NULL, "no settings: no error");
	is_int(c.cpus, 4, "cpus default: the affinity count");
	is_int(c.ram_mib, 1024, "ram default without a memory limit: 1024");
	is_int(c.gpu_flags, 0, "gpu off");
	ok(!c.use_passt && !c.nested_virt, "passt and nesting off");
	ok(c.flavor == NULL && c.kernel_path == NULL && c.initrd_path == NULL &&
	       c.kernel_cmdline == NULL,
	   "no variant, kernel, initrd or command line");
	is_int(c.kernel_format, VM_KERNEL_FORMAT_ELF, "kernel format ELF");
	is_str(c.virtiofs_tag, "/dev/root", "root tag /dev/root");
	is_int(c.virtiofs_shm_size, 0, "no DAX window");
	for (int f = 0; f < VM_N_FIELDS; f++) {
		if (c.origin[f] != VM_FROM_DEFAULT)
			ok(0, "every origin is the default");
	}
	is_int(c.n_warnings, 0, "no warnings");
	ok(supported(&c) == NULL, "the defaults are supported");
	vm_config_release(&c);
}

static void test_cpus_default(void)
{
	const unsigned host[][2] = { { 0, 1 },	 { 1, 1 },   { 2, 2 },
				     { 16, 16 }, { 17, 16 }, { 256, 16 } };
	struct vm_config c;
	struct src t;

	for (size_t i = 0; i < ARRAY_SIZE(host); i++) {
		char name[64];

		sources(&t, NULL, NULL)->host_cpus = host[i][0];
		compute(&t.s, &c);
		snprintf(name, sizeof(name), "%u CPUs in the affinity -> %u vCPUs", host[i][0],
			 host[i][1]);
		is_int(c.cpus, host[i][1], name);
		vm_config_release(&c);
	}
}

static void test_cpus_explicit(void)
{
	const char *ann[] = { "krun.cpus=16", NULL };
	struct vm_config c;
	struct src t;

	sources(&t, NULL, ann)->host_cpus = 2;
	ok(compute(&t.s, &c) == NULL, "krun.cpus=16 accepted");
	is_int(c.cpus, 16, "explicit cpus are not capped by the affinity");
	is_int(c.origin[VM_CPUS], VM_FROM_ANNOTATION, "cpus from the annotation");
	vm_config_release(&c);
	ok(compute(sources(&t, "{\"cpus\": 3}", NULL), &c) == NULL, "cpus from the file");
	is_int(c.cpus, 3, "file cpus=3");
	is_int(c.origin[VM_CPUS], VM_FROM_FILE, "cpus origin: file");
	vm_config_release(&c);

	is_str(error_for(NULL, "krun.cpus=abc"), "krun.cpus=abc: not a number", "cpus=abc");
	is_str(error_for(NULL, "krun.cpus=0"), "krun.cpus=0: must be from 1 to 16", "cpus=0");
	is_str(error_for(NULL, "krun.cpus=17"), "krun.cpus=17: must be from 1 to 16", "cpus=17");
	is_str(error_for(NULL, "krun.cpus=-1"), "krun.cpus=-1: must be from 1 to 16", "cpus=-1");
	is_str(error_for(NULL, "krun.cpus="), "krun.cpus=: not a number", "cpus empty");
	is_str(error_for(NULL, "krun.cpus= 4"), "krun.cpus= 4: not a number", "cpus blank");
	is_str(error_for(NULL, "krun.cpus=4x"), "krun.cpus=4x: not a number", "cpus garbage");
	is_str(error_for(NULL, "krun.cpus=0x4"), "krun.cpus=0x4: not a number", "cpus hex");
	is_str(error_for(NULL, "krun.cpus=99999999999999999999"),
	       "krun.cpus=99999999999999999999: must be from 1 to 16", "cpus overflow");
	is_str(error_for("{\"cpus\": 32}", NULL), ".krun_vm.json: cpus=32: must be from 1 to 16",
	       "file cpus=32");
	is_str(error_for("{\"cpus\": \"4\"}", NULL), ".krun_vm.json: cpus must be an integer",
	       "file cpus as a string");
	is_str(error_for("{\"cpus\": 1.5}", NULL), ".krun_vm.json: cpus=1.5: not a number",
	       "file cpus=1.5");
	is_str(error_for("{\"cpus\": 2e0}", NULL), ".krun_vm.json: cpus=2e0: not a number",
	       "file cpus=2e0");
}

static void test_ram(void)
{
	const char *ann256[] = { "krun.ram_mib=256", NULL };
	const char *ann64[] = { "krun.ram_mib=64", NULL };
	const char *ann128[] = { "krun.ram_mib=128", NULL };
	struct vm_config c;
	struct src t;

	compute(sources(&t, NULL, ann256), &c);
	is_int(c.ram_mib, 256, "krun.ram_mib=256");
	vm_config_release(&c);
	compute(sources(&t, NULL, ann128), &c);
	is_int(c.ram_mib, 128, "krun.ram_mib=128 is the minimum, accepted");
	vm_config_release(&c);

	sources(&t, NULL, NULL);
	t.s.has_memory_limit = true;
	t.s.memory_limit = 300ll << 20;
	ok(compute(&t.s, &c) == NULL, "memory limit 300 MiB");
	is_int(c.ram_mib, 300, "ram default: the OCI memory limit in MiB");
	vm_config_release(&c);
	t.s.memory_limit = (300ll << 20) + 12345;
	compute(&t.s, &c);
	is_int(c.ram_mib, 300, "a limit that is not whole MiB rounds down");
	vm_config_release(&c);
	t.s.memory_limit = -1;
	compute(&t.s, &c);
	is_int(c.ram_mib, 1024, "limit -1 (unlimited): 1024");
	vm_config_release(&c);
	t.s.memory_limit = 100ll << 20;
	is_str(compute(&t.s, &c),
	       "linux.resources.memory.limit=104857600: the VM needs at least 128 MiB",
	       "a limit below 128 MiB is an error");
	vm_config_release(&c);
	t.s.memory_limit = 1ll << 40;
	ok(compute(&t.s, &c) == NULL, "a 1 TiB limit is accepted");
	is_int(c.ram_mib, VM_MAX_RAM_MIB, "and capped at the maximum");
	is_int(c.n_warnings, 1, "with a warning");
	ok(c.n_warnings && strstr(c.warnings[0], "65536 MiB"), "the warning names the cap");
	vm_config_release(&c);

	sources(&t, NULL, ann64);
	t.s.has_memory_limit = true;
	t.s.memory_limit = 512ll << 20;
	ok(compute(&t.s, &c) == NULL, "krun.ram_mib=64 is not an error");
	is_int(c.ram_mib, 512, "krun.ram_mib=64 is ignored: the memory limit applies");
	is_int(c.n_warnings, 1, "one warning");
	is_str(c.n_warnings ? c.warnings[0] : "", "krun.ram_mib=64: below 128 MiB, ignored",
	       "the warning names key and value");
	is_int(c.origin[VM_RAM_MIB], VM_FROM_DEFAULT, "the ignored value is not the origin");
	vm_config_release(&c);

	compute(sources(&t, "{\"ram_mib\": 0}", NULL), &c);
	is_int(c.ram_mib, 1024, "file ram_mib=0 is ignored: 1024");
	is_str(c.n_warnings ? c.warnings[0] : "",
	       ".krun_vm.json: ram_mib=0: below 128 MiB, ignored", "file warning");
	vm_config_release(&c);

	is_str(error_for(NULL, "krun.ram_mib=65537"),
	       "krun.ram_mib=65537: more than the maximum of 65536 MiB", "ram above the cap");
	is_str(error_for(NULL, "krun.ram_mib=-5"),
	       "krun.ram_mib=-5: must be from 0 to 9223372036854775807", "negative ram");
	is_str(error_for(NULL, "krun.ram_mib=1G"), "krun.ram_mib=1G: not a number", "ram=1G");
}

static void test_switches(void)
{
	const char *on[] = { "krun.use_passt=1", "krun.nested_virt=2", "krun.gpu_flags=512", NULL };
	const char *off[] = { "krun.use_passt=0", "krun.nested_virt=0", "krun.gpu_flags=0", NULL };
	struct vm_config c;
	struct src t;

	compute(sources(&t, NULL, on), &c);
	ok(c.use_passt, "krun.use_passt=1 enables passt");
	ok(c.nested_virt, "krun.nested_virt=2 enables nesting");
	is_int(c.gpu_flags, 512, "krun.gpu_flags=512");
	vm_config_release(&c);
	compute(sources(&t, "{\"use_passt\": 1, \"nested_virt\": 1, \"gpu_flags\": 7}", off), &c);
	ok(!c.use_passt && !c.nested_virt && c.gpu_flags == 0,
	   "annotations set to 0 win over the file's 1");
	is_int(c.origin[VM_NESTED_VIRT], VM_FROM_ANNOTATION, "nested_virt origin: annotation");
	ok(supported(&c) == NULL, "everything off is supported");
	vm_config_release(&c);
	compute(sources(&t, "{\"use_passt\": 1, \"nested_virt\": 1, \"gpu_flags\": 7}", NULL), &c);
	ok(c.use_passt && c.nested_virt && c.gpu_flags == 7, "the file's values apply alone");
	vm_config_release(&c);

	is_str(error_for(NULL, "krun.use_passt=-1"),
	       "krun.use_passt=-1: must be from 0 to 2147483647", "use_passt negative");
	is_str(error_for(NULL, "krun.nested_virt=yes"), "krun.nested_virt=yes: not a number",
	       "nested_virt=yes");
	is_str(error_for(NULL, "krun.gpu_flags=4294967296"),
	       "krun.gpu_flags=4294967296: must be from 0 to 4294967295", "gpu_flags > 32 bits");
	is_str(error_for("{\"nested_virt\": true}", NULL),
	       ".krun_vm.json: nested_virt must be an integer", "file nested_virt=true");
}

static void test_strings(void)
{
	const char *json = "{\"kernel_path\": \"/boot/vmlinux\", \"kernel_format\": 1, "
			   "\"kernel_cmdline\": \"quiet\", \"virtiofs_tag\": \"myroot\", "
			   "\"virtiofs_shm_size\": 0}";
	struct vm_config c;
	struct src t;

	ok(compute(sources(&t, json, NULL), &c) == NULL, "string fields");
	is_str(c.kernel_path, "/boot/vmlinux", "kernel_path");
	is_int(c.kernel_format, 1, "kernel_format");
	is_str(c.kernel_cmdline, "quiet", "kernel_cmdline");
	is_str(c.virtiofs_tag, "myroot", "virtiofs_tag");
	is_int(c.origin[VM_VIRTIOFS_SHM_SIZE], VM_FROM_FILE, "shm size set explicitly");
	ok(supported(&c) == NULL, "an ELF kernel, a command line and a tag are supported");
	vm_config_release(&c);

	compute(sources(&t, "{\"initrd_path\": \"/initrd\"}", NULL), &c);
	is_str(c.initrd_path, "/initrd", "initrd_path");
	vm_config_release(&c);

	is_str(error_for("{\"kernel_path\": 5}", NULL),
	       ".krun_vm.json: kernel_path must be a string", "kernel_path wrong type");
	is_str(error_for("{\"kernel_path\": \"\", \"kernel_format\": 1}", NULL),
	       ".krun_vm.json: kernel_path=: must not be empty", "empty kernel_path");
	is_str(error_for("{\"kernel_path\": \"/k\"}", NULL),
	       ".krun_vm.json: kernel_path needs kernel_format (1 for ELF)", "path alone");
	is_str(error_for("{\"kernel_format\": 1}", NULL),
	       ".krun_vm.json: kernel_format needs kernel_path", "format alone");
	is_str(error_for("{\"virtiofs_tag\": \"0123456789012345678901234567890123456\"}", NULL),
	       ".krun_vm.json: virtiofs_tag=0123456789012345678901234567890123456: must be 1 to 36 "
	       "bytes long",
	       "a 37-byte tag");
	/* The tag is pasted into the kernel command line as root=/dev/TAG. */
	is_str(
	    error_for("{\"virtiofs_tag\": \"my root\"}", NULL),
	    ".krun_vm.json: virtiofs_tag=my root: may hold only letters, digits and . _ - / : + @",
	    "a tag with a blank");
	ok(strstr(error_for("{\"virtiofs_tag\": \"a\\\" init=/bin/sh\"}", NULL),
		  "virtiofs_tag=a\" init=/bin/sh: may hold only"),
	   "a tag with a quote and another parameter");
	ok(strstr(error_for("{\"virtiofs_tag\": \"a\\tb\"}", NULL), "may hold only"), "a tab");
	ok(strstr(error_for("{\"virtiofs_tag\": \"t\u00e9g\"}", NULL), "may hold only"),
	   "a non-ASCII letter");
	is_str(error_for("{\"virtiofs_tag\": \"/dev/root_2.a-b:c+d@e\"}", NULL), "(no error)",
	       "every character a tag may hold");
	is_str(error_for("{\"virtiofs_shm_size\": -1}", NULL),
	       ".krun_vm.json: virtiofs_shm_size=-1: must be from 0 to 9223372036854775807",
	       "negative shm size");
	char cmdline[VM_CMDLINE_MAX + 64];
	int n = sprintf(cmdline, "{\"kernel_cmdline\": \"");
	memset(cmdline + n, 'x', VM_CMDLINE_MAX + 1);
	strcpy(cmdline + n + VM_CMDLINE_MAX + 1, "\"}");
	ok(strstr(error_for(cmdline, NULL), "longer than 1024 bytes"),
	   "a 1025-byte kernel_cmdline");
	strcpy(cmdline + n + VM_CMDLINE_MAX, "\"}");
	is_str(error_for(cmdline, NULL), "(no error)", "a 1024-byte kernel_cmdline");
}

static void test_variant(void)
{
	const char *sev[] = { "krun.variant=sev", NULL };
	const char *nitro_over_sev[] = { "krun.variant=aws-nitro", NULL };
	struct vm_config c;
	struct src t;

	ok(compute(sources(&t, NULL, sev), &c) == NULL, "krun.variant=sev is a known value");
	is_str(c.flavor, "sev", "flavor sev");
	is_str(supported(&c), "krun.variant=sev: this krun was built without the sev variant",
	       "sev is not built");
	vm_config_release(&c);
	compute(sources(&t, "{\"flavor\": \"sev\"}", nitro_over_sev), &c);
	is_str(c.flavor, "aws-nitro", "the annotation wins over the file's flavor");
	is_str(supported(&c),
	       "krun.variant=aws-nitro: this krun was built without the aws-nitro variant",
	       "aws-nitro is not built");
	vm_config_release(&c);
	compute(sources(&t, "{\"flavor\": \"sev\"}", NULL), &c);
	is_str(supported(&c),
	       ".krun_vm.json: flavor=sev: this krun was built without the sev variant",
	       "flavor from the file");
	vm_config_release(&c);
	is_str(error_for(NULL, "krun.variant=tdx"),
	       "krun.variant=tdx: unknown variant (known: sev, aws-nitro)", "unknown variant");
	is_str(error_for(NULL, "krun.variant="),
	       "krun.variant=: unknown variant (known: sev, aws-nitro)", "empty variant");
	is_str(error_for("{\"flavor\": 1}", NULL), ".krun_vm.json: flavor must be a string",
	       "flavor wrong type");
}

static void test_not_supported_yet(void)
{
	static const struct {
		const char *json, *annotation, *want;
	} cases[] = {
		{ NULL, "krun.gpu_flags=1", "krun.gpu_flags=1: virtio-gpu is not supported yet" },
		{ NULL, "krun.use_passt=1",
		  "krun.use_passt=1: passt networking is not supported yet" },
		{ "{\"use_passt\": 3}", NULL,
		  ".krun_vm.json: use_passt=3: passt networking is not supported yet" },
		{ "{\"initrd_path\": \"/i\"}", NULL,
		  ".krun_vm.json: initrd_path=/i: an initrd is not supported yet" },
		{ "{\"kernel_path\": \"/k\", \"kernel_format\": 0}", NULL,
		  ".krun_vm.json: kernel_format=0: a kernel format other than 1 (ELF) is not "
		  "supported yet" },
		{ "{\"virtiofs_shm_size\": 536870912}", NULL,
		  ".krun_vm.json: virtiofs_shm_size=536870912: a virtio-fs DAX window is not "
		  "supported yet" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *list[] = { cases[i].annotation, NULL };
		struct vm_config c;
		struct src t;

		ok(compute(sources(&t, cases[i].json, cases[i].annotation ? list : NULL), &c) ==
		       NULL,
		   "a valid request");
		is_str(supported(&c), cases[i].want, "the not-supported-yet message");
		vm_config_release(&c);
	}
}

static void test_precedence_and_unknown(void)
{
	const char *ann[] = { "krun.cpus=2", "krun.ram_mib=512", "krun.unknown=zzz", "other.cpus=9",
			      NULL };
	struct vm_config c;
	struct src t;
	char *d;

	sources(&t, "{\"cpus\": 8, \"ram_mib\": 2048, \"nested_virt\": 1}", ann);
	ok(compute(&t.s, &c) == NULL, "unknown annotations are ignored");
	is_int(c.cpus, 2, "annotation cpus wins over the file");
	is_int(c.ram_mib, 512, "annotation ram wins over the file");
	ok(c.nested_virt, "the file still provides what the annotations do not");
	d = vm_config_describe(&c, VM_CPUS);
	is_str(d, "krun.cpus=2", "describe an annotation");
	free(d);
	d = vm_config_describe(&c, VM_NESTED_VIRT);
	is_str(d, ".krun_vm.json: nested_virt=1", "describe a file value");
	free(d);
	d = vm_config_describe(&c, VM_GPU_FLAGS);
	is_str(d, "krun.gpu_flags", "describe a default");
	free(d);
	vm_config_release(&c);

	is_str(error_for("{\"cpu\": 4}", NULL), ".krun_vm.json: unknown key `cpu`",
	       "an unknown key in the file is an error (a misspelling would be ignored)");
	is_str(error_for("{\"cpus\": 2, \"x\\ny\": {}}", NULL), ".krun_vm.json: unknown key `x?y`",
	       "an unknown key is shown without control characters");

	/* An annotation replaces a bad file value without reading it, as in krun(1). */
	const char *fix[] = { "krun.cpus=1", NULL };
	ok(compute(sources(&t, "{\"cpus\": \"many\"}", fix), &c) == NULL,
	   "a bad file value hidden by an annotation is not an error");
	vm_config_release(&c);
}

/* {"a": [[...]]} with depth levels in all. */
static char *nested(int depth)
{
	char *doc = xzalloc(2 * depth + 16);
	int n = sprintf(doc, "{\"a\":");

	for (int i = 1; i < depth; i++)
		doc[n++] = '[';
	for (int i = 1; i < depth; i++)
		doc[n++] = ']';
	doc[n] = '}';
	return doc;
}

static void test_bad_documents(void)
{
	char *deep;

	is_str(error_for("[1]", NULL), ".krun_vm.json: the document must be a JSON object",
	       "an array document");
	ok(strncmp(error_for("{\"cpus\": 1,}", NULL), ".krun_vm.json: invalid JSON near byte",
		   37) == 0,
	   "a syntax error names the file and the byte");
	ok(strncmp(error_for("", NULL), ".krun_vm.json: invalid JSON", 27) == 0, "an empty file");
	is_str(error_for("{\"kernel_cmdline\": \"a\\u0000b\"}", NULL),
	       ".krun_vm.json: a string contains a NUL character", "an escaped NUL");
	deep = nested(JSON_MAX_DEPTH + 1);
	is_str(error_for(deep, NULL), ".krun_vm.json: nested deeper than 64 levels",
	       "65 levels are refused");
	free(deep);
	deep = nested(JSON_MAX_DEPTH);
	/* Parsed: what is refused then is the key, not the depth. */
	is_str(error_for(deep, NULL), ".krun_vm.json: unknown key `a`", "64 levels are accepted");
	free(deep);

	struct vm_config c;
	struct src t;
	char big[VM_JSON_MAX_SIZE + 2];
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	is_str(compute(sources(&t, big, NULL), &c), ".krun_vm.json: larger than 64 KiB",
	       "a file over 64 KiB");
	vm_config_release(&c);
	big[sizeof(big) - 3] = '}';
	big[sizeof(big) - 2] = '\0';
	ok(compute(sources(&t, big, NULL), &c) == NULL, "a file of exactly 64 KiB");
	vm_config_release(&c);
}

static void test_shown_values(void)
{
	char ann[200] = "krun.cpus=";
	const char *msg;

	memset(ann + 10, '7', 100);
	ann[110] = '\0';
	msg = error_for(NULL, ann);
	ok(strstr(msg, "...: must be from 1 to 16") && strlen(msg) < 100,
	   "a long value is shortened in the message");
	is_str(error_for(NULL, "krun.cpus=4\n5"), "krun.cpus=4?5: not a number",
	       "control characters are not printed");
}

static void test_nested_probe(void)
{
	ok(vm_host_can_nest("Y\n", NULL), "kvm_intel Y");
	ok(vm_host_can_nest(NULL, "1\n"), "kvm_amd 1");
	ok(vm_host_can_nest("N\n", "1"), "either one");
	ok(!vm_host_can_nest("N\n", "0\n"), "N and 0");
	ok(!vm_host_can_nest(NULL, NULL), "no kvm module");
	ok(!vm_host_can_nest("", "10\n"), "empty and 10");
}

int main(void)
{
	test_defaults();
	test_cpus_default();
	test_cpus_explicit();
	test_ram();
	test_switches();
	test_strings();
	test_variant();
	test_not_supported_yet();
	test_precedence_and_unknown();
	test_bad_documents();
	test_shown_values();
	test_nested_probe();
	return tap_done();
}
