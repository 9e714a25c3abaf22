/* src/oci/config.c: config.json documents, valid and invalid, and loading from a bundle.
 * Documents are written with ' for " to stay readable. */
#include "oci/config.h"
#include "util/util.h"
#include "tap.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *doc_text(const char *single_quoted)
{
	char *s = xstrdup(single_quoted);

	for (char *p = s; *p; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return s;
}

/* Parses; returns NULL and sets *out on success, else the error message (static). */
static const char *parse(const char *single_quoted, struct oci_config **out)
{
	static char msg[512];
	cleanup_free char *text = doc_text(single_quoted);
	krun_error_t err = NULL;

	*out = NULL;
	if (oci_config_parse(text, strlen(text), out, &err) == 0)
		return NULL;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	krun_error_release(&err);
	return msg;
}

static const char *error_of(const char *single_quoted)
{
	struct oci_config *cfg;
	const char *msg = parse(single_quoted, &cfg);

	oci_config_free(cfg);
	return msg ? msg : "(no error)";
}

#define MIN_HEAD  "{'ociVersion': '1.0.2', 'root': {'path': 'rootfs'}"
#define PROC(...) MIN_HEAD ", 'process': {'args': ['sh'], 'cwd': '/', " __VA_ARGS__ "}}"

static const char *full_doc =
    "{'ociVersion': '1.0.2',"
    " 'process': {'terminal': true, 'user': {'uid': 1000, 'gid': 100, 'umask': 18,"
    "   'additionalGids': [4, 4294967295]},"
    "  'args': ['sh', '-c', 'echo hi'], 'env': ['PATH=/bin', 'TERM=xterm'], 'cwd': '/work',"
    "  'capabilities': {'bounding': ['CAP_CHOWN', 'CAP_KILL'], 'effective': ['CAP_KILL'],"
    "   'permitted': [], 'ambient': ['CAP_NET_RAW']},"
    "  'rlimits': [{'type': 'RLIMIT_NOFILE', 'hard': 1048576, 'soft': 1024},"
    "   {'type': 'RLIMIT_CORE', 'hard': 18446744073709551615, 'soft': 0}],"
    "  'noNewPrivileges': true, 'unknownField': {'x': [1]}},"
    " 'root': {'path': 'rootfs', 'readonly': true},"
    " 'hostname': 'box',"
    " 'mounts': [{'destination': '/proc', 'type': 'proc', 'source': 'proc'},"
    "  {'destination': '/data', 'type': 'bind', 'source': '/srv/data',"
    "   'options': ['rbind', 'ro']}],"
    " 'annotations': {'krun.cpus': '2', 'org.example': '', 'krun.ram_mib': '512'},"
    " 'linux': {'resources': {'memory': {'limit': 536870912}, 'cpu': {'shares': 2}},"
    "  'namespaces': [{'type': 'pid'}, {'type': 'network', 'path': '/proc/1/ns/net'},"
    "   {'type': 'mount'}], 'cgroupsPath': 'machine.slice:libpod:abc',"
    "  'uidMappings': [{'containerID': 0, 'hostID': 100000, 'size': 65536}],"
    "  'gidMappings': [{'containerID': 0, 'hostID': 200000, 'size': 1},"
    "   {'containerID': 1, 'hostID': 4294967295, 'size': 9}]}}";

static void test_full(void)
{
	struct oci_config *c;
	const struct oci_process *p;

	ok(parse(full_doc, &c) == NULL, "a complete document parses");
	if (!c)
		return;
	p = &c->process;
	is_str(c->oci_version, "1.0.2", "ociVersion");
	is_str(c->root_path, "rootfs", "root.path");
	ok(c->root_readonly, "root.readonly");
	ok(c->has_process && p->terminal, "process.terminal");
	is_int(p->args.n, 3, "three args");
	is_str(p->args.v[2], "echo hi", "args[2]");
	ok(p->args.v[3] == NULL, "args are NULL-terminated");
	is_int(p->env.n, 2, "two env entries");
	is_str(p->env.v[1], "TERM=xterm", "env[1]");
	is_str(p->cwd, "/work", "cwd");
	is_int(p->user.uid, 1000, "uid");
	is_int(p->user.gid, 100, "gid");
	ok(p->user.has_umask && p->user.umask == 18, "umask");
	is_int(p->user.n_additional_gids, 2, "two additional gids");
	ok(p->user.n_additional_gids == 2 && p->user.additional_gids[1] == 4294967295u,
	   "a gid of 2^32-1");
	is_int(p->n_rlimits, 2, "two rlimits");
	is_str(p->rlimits[0].type, "RLIMIT_NOFILE", "rlimit type");
	ok(p->rlimits[0].hard == 1048576 && p->rlimits[0].soft == 1024, "rlimit values");
	ok(p->rlimits[1].hard == UINT64_MAX, "a hard limit of 2^64-1 (unlimited)");
	ok(p->no_new_privileges, "noNewPrivileges");
	ok(p->has_capabilities, "capabilities present");
	is_int(p->capabilities.bounding.n, 2, "bounding set");
	is_str(p->capabilities.bounding.v[1], "CAP_KILL", "bounding[1]");
	is_int(p->capabilities.permitted.n, 0, "an empty permitted set");
	is_int(p->capabilities.inheritable.n, 0, "an absent inheritable set");
	is_str(p->capabilities.ambient.v[0], "CAP_NET_RAW", "ambient[0]");
	is_str(c->hostname, "box", "hostname");
	is_int(c->n_mounts, 2, "two mounts");
	is_str(c->mounts[1].destination, "/data", "mount destination");
	is_str(c->mounts[1].type, "bind", "mount type");
	is_str(c->mounts[1].source, "/srv/data", "mount source");
	ok(c->mounts[1].options.n == 2 && strcmp(c->mounts[1].options.v[1], "ro") == 0,
	   "mount options");
	ok(c->mounts[0].options.n == 0 && c->mounts[0].options.v == NULL, "no options");
	is_int(c->n_annotations, 3, "three annotations");
	is_str(c->annotations[0].key, "krun.cpus", "annotations keep document order (0)");
	is_str(c->annotations[2].key, "krun.ram_mib", "annotations keep document order (2)");
	is_str(oci_config_annotation(c, "krun.ram_mib"), "512", "annotation lookup");
	is_str(oci_config_annotation(c, "org.example"), "", "an empty annotation value");
	ok(oci_config_annotation(c, "krun.nope") == NULL, "a missing annotation");
	ok(c->resources.has_memory_limit && c->resources.memory_limit == 536870912, "memory limit");
	is_int(c->n_namespaces, 3, "three namespaces");
	is_str(c->namespaces[1].type, "network", "namespace type");
	is_str(c->namespaces[1].path, "/proc/1/ns/net", "namespace path");
	ok(c->namespaces[0].path == NULL, "a namespace without path");
	is_str(c->cgroups_path, "machine.slice:libpod:abc", "cgroupsPath");
	ok(c->n_uid_mappings == 1 && c->uid_mappings[0].container_id == 0 &&
	       c->uid_mappings[0].host_id == 100000 && c->uid_mappings[0].size == 65536,
	   "uidMappings");
	ok(c->n_gid_mappings == 2 && c->gid_mappings[1].container_id == 1 &&
	       c->gid_mappings[1].host_id == 4294967295u && c->gid_mappings[1].size == 9,
	   "gidMappings, up to the largest id");
	oci_config_free(c);
}

static void test_minimal(void)
{
	struct oci_config *c;

	ok(parse(MIN_HEAD "}", &c) == NULL, "ociVersion and root are enough");
	if (!c)
		return;
	ok(!c->has_process && c->process.args.n == 0, "no process");
	ok(!c->root_readonly, "root read-write by default");
	ok(c->hostname == NULL && c->n_mounts == 0 && c->n_annotations == 0, "nothing else");
	ok(!c->resources.has_memory_limit && c->n_namespaces == 0 && c->cgroups_path == NULL,
	   "no linux");
	oci_config_free(c);

	ok(parse(PROC("'user': {'uid': 0, 'gid': 0}, 'env': null"), &c) == NULL,
	   "a process with only what is required; null is absent");
	if (!c)
		return;
	ok(!c->process.terminal && !c->process.user.has_umask, "terminal off, no umask");
	ok(c->process.env.n == 0 && !c->process.has_capabilities, "no env, no capabilities");
	oci_config_free(c);

	ok(parse(MIN_HEAD ", 'linux': {'resources': {'memory': {'limit': -1}}}}", &c) == NULL,
	   "memory limit -1");
	ok(c && c->resources.has_memory_limit && c->resources.memory_limit == -1,
	   "-1 means unlimited");
	oci_config_free(c);
}

static const struct {
	const char *doc, *want;
} bad[] = {
	{ "{'ociVersion': '1.0.2'",
	  "config.json: invalid JSON near byte 22: parse error: premature EOF" },
	{ "[]", "config.json: the document must be a JSON object" },
	{ "{'root': {'path': 'r'}}", "config.json: ociVersion is required" },
	{ "{'ociVersion': 1, 'root': {'path': 'r'}}", "config.json: ociVersion must be a string" },
	{ "{'ociVersion': '1'}", "config.json: root is required" },
	{ "{'ociVersion': '1', 'root': 'r'}", "config.json: root must be an object" },
	{ "{'ociVersion': '1', 'root': {}}", "config.json: root.path is required" },
	{ "{'ociVersion': '1', 'root': {'path': ''}}", "config.json: root.path must not be empty" },
	{ "{'ociVersion': '1', 'root': {'path': 'r', 'readonly': 'yes'}}",
	  "config.json: root.readonly must be true or false" },
	{ MIN_HEAD ", 'process': []}", "config.json: process must be an object" },
	{ MIN_HEAD ", 'process': {'cwd': '/'}}", "config.json: process.args is required" },
	{ MIN_HEAD ", 'process': {'args': 'true', 'cwd': '/'}}",
	  "config.json: process.args must be an array of strings" },
	{ MIN_HEAD ", 'process': {'args': ['a', 1], 'cwd': '/'}}",
	  "config.json: process.args must be an array of strings" },
	{ MIN_HEAD ", 'process': {'args': [], 'cwd': '/'}}",
	  "config.json: process.args must not be empty" },
	{ MIN_HEAD ", 'process': {'args': ['sh']}}", "config.json: process.cwd is required" },
	{ MIN_HEAD ", 'process': {'args': ['sh'], 'cwd': 'tmp'}}",
	  "config.json: process.cwd `tmp` must be an absolute path" },
	{ PROC("'terminal': 'true'"), "config.json: process.terminal must be true or false" },
	{ PROC("'env': ['A=1', null]"), "config.json: process.env must be an array of strings" },
	{ PROC("'user': []"), "config.json: process.user must be an object" },
	{ PROC("'user': {'gid': 0}"), "config.json: process.user.uid is required" },
	{ PROC("'user': {'uid': 0}"), "config.json: process.user.gid is required" },
	{ PROC("'user': {'uid': -1, 'gid': 0}"),
	  "config.json: process.user.uid must be an integer from 0 to 4294967295" },
	{ PROC("'user': {'uid': 4294967296, 'gid': 0}"),
	  "config.json: process.user.uid must be an integer from 0 to 4294967295" },
	{ PROC("'user': {'uid': 0, 'gid': 1.0}"),
	  "config.json: process.user.gid must be an integer from 0 to 4294967295" },
	{ PROC("'user': {'uid': 0, 'gid': '0'}"),
	  "config.json: process.user.gid must be an integer from 0 to 4294967295" },
	{ PROC("'user': {'uid': 0, 'gid': 0, 'umask': 512}"),
	  "config.json: process.user.umask must be an integer from 0 to 511" },
	{ PROC("'user': {'uid': 0, 'gid': 0, 'additionalGids': 5}"),
	  "config.json: process.user.additionalGids must be an array" },
	{ PROC("'user': {'uid': 0, 'gid': 0, 'additionalGids': [1, 'x']}"),
	  "config.json: process.user.additionalGids[1] must be an integer from 0 to 4294967295" },
	{ PROC("'rlimits': {}"), "config.json: process.rlimits must be an array" },
	{ PROC("'rlimits': [5]"), "config.json: process.rlimits[0] must be an object" },
	{ PROC("'rlimits': [{'type': 'RLIMIT_CORE', 'hard': 1}]"),
	  "config.json: process.rlimits[0].soft is required" },
	{ PROC("'rlimits': [{'soft': 1, 'hard': 1}]"),
	  "config.json: process.rlimits[0].type is required" },
	{ PROC("'rlimits': [{'type': 'RLIMIT_FOO', 'soft': 1, 'hard': 1}]"),
	  "config.json: process.rlimits[0].type `RLIMIT_FOO` is not a known resource limit" },
	{ PROC("'rlimits': [{'type': 'RLIMIT_CORE', 'soft': -1, 'hard': 1}]"),
	  "config.json: process.rlimits[0].soft must be an integer from 0 to "
	  "18446744073709551615" },
	{ PROC("'rlimits': [{'type': 'RLIMIT_CORE', 'soft': 1, 'hard': 18446744073709551616}]"),
	  "config.json: process.rlimits[0].hard must be an integer from 0 to "
	  "18446744073709551615" },
	{ PROC("'rlimits': [{'type': 'RLIMIT_CORE', 'soft': 1, 'hard': 1},"
	       " {'type': 'RLIMIT_CORE', 'soft': 2, 'hard': 2}]"),
	  "config.json: process.rlimits[1]: `RLIMIT_CORE` is set twice" },
	{ PROC("'noNewPrivileges': 1"),
	  "config.json: process.noNewPrivileges must be true or false" },
	{ PROC("'capabilities': ['CAP_KILL']"),
	  "config.json: process.capabilities must be an object" },
	{ PROC("'capabilities': {'ambient': 'CAP_KILL'}"),
	  "config.json: process.capabilities.ambient must be an array of strings" },
	{ MIN_HEAD ", 'hostname': 5}", "config.json: hostname must be a string" },
	{ MIN_HEAD ", 'mounts': {}}", "config.json: mounts must be an array" },
	{ MIN_HEAD ", 'mounts': [{'destination': '/a'}, {'type': 'tmpfs'}]}",
	  "config.json: mounts[1].destination is required" },
	{ MIN_HEAD ", 'mounts': [{'destination': ''}]}",
	  "config.json: mounts[0].destination must not be empty" },
	{ MIN_HEAD ", 'mounts': [{'destination': '/a', 'source': 1}]}",
	  "config.json: mounts[0].source must be a string" },
	{ MIN_HEAD ", 'mounts': [{'destination': '/a', 'type': true}]}",
	  "config.json: mounts[0].type must be a string" },
	{ MIN_HEAD ", 'mounts': [{'destination': '/a', 'options': ['ro', 1]}]}",
	  "config.json: mounts[0].options must be an array of strings" },
	{ MIN_HEAD ", 'annotations': []}", "config.json: annotations must be an object" },
	{ MIN_HEAD ", 'annotations': {'krun.cpus': 2}}",
	  "config.json: annotations[\"krun.cpus\"] must be a string" },
	{ MIN_HEAD ", 'annotations': {'a': '1', 'a': '2'}}",
	  "config.json: annotations[\"a\"] is set twice" },
	{ MIN_HEAD ", 'annotations': {'': '1'}}", "config.json: annotations: a key is empty" },
	{ MIN_HEAD ", 'linux': []}", "config.json: linux must be an object" },
	{ MIN_HEAD ", 'linux': {'resources': 1}}",
	  "config.json: linux.resources must be an object" },
	{ MIN_HEAD ", 'linux': {'resources': {'memory': 1}}}",
	  "config.json: linux.resources.memory must be an object" },
	{ MIN_HEAD ", 'linux': {'resources': {'memory': {'limit': '1g'}}}}",
	  "config.json: linux.resources.memory.limit must be an integer from -1 to "
	  "9223372036854775807" },
	{ MIN_HEAD ", 'linux': {'resources': {'memory': {'limit': -2}}}}",
	  "config.json: linux.resources.memory.limit must be an integer from -1 to "
	  "9223372036854775807" },
	{ MIN_HEAD ", 'linux': {'namespaces': {}}}",
	  "config.json: linux.namespaces must be an array" },
	{ MIN_HEAD ", 'linux': {'namespaces': [{'path': '/x'}]}}",
	  "config.json: linux.namespaces[0].type is required" },
	{ MIN_HEAD ", 'linux': {'namespaces': [{'type': 'pid'}, {'type': 'vm'}]}}",
	  "config.json: linux.namespaces[1].type `vm` is not a known namespace type" },
	{ MIN_HEAD ", 'linux': {'namespaces': [{'type': 'pid'}, {'type': 'pid'}]}}",
	  "config.json: linux.namespaces[1]: namespace `pid` is listed twice" },
	{ MIN_HEAD ", 'linux': {'namespaces': [{'type': 'pid', 'path': 3}]}}",
	  "config.json: linux.namespaces[0].path must be a string" },
	{ MIN_HEAD ", 'linux': {'cgroupsPath': 1}}",
	  "config.json: linux.cgroupsPath must be a string" },
	{ MIN_HEAD ", 'linux': {'uidMappings': {}}}",
	  "config.json: linux.uidMappings must be an array" },
	{ MIN_HEAD ", 'linux': {'gidMappings': [{'containerID': 0, 'hostID': 1}]}}",
	  "config.json: linux.gidMappings[0].size is required" },
	{ MIN_HEAD ", 'linux': {'uidMappings': [{'containerID': 0, 'hostID': -1, 'size': 1}]}}",
	  "config.json: linux.uidMappings[0].hostID must be an integer from 0 to 4294967295" },
	{ MIN_HEAD ", 'linux': {'uidMappings': [{'containerID': 0, 'hostID': 1, 'size': 0}]}}",
	  "config.json: linux.uidMappings[0].size must not be 0" },
	{ MIN_HEAD ", 'hostname': 'a\\u0000b'}", "config.json: a string contains a NUL character" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char name[80];

		snprintf(name, sizeof(name), "invalid document %zu", i);
		is_str(error_of(bad[i].doc), bad[i].want, name);
	}
}

static void test_raw_nul(void)
{
	static const char text[] = "{\"ociVersion\": \"1\", \"root\": {\"path\": \"r\"}}\0garbage";
	struct oci_config *c = NULL;
	krun_error_t err = NULL;

	ok(oci_config_parse(text, sizeof(text) - 1, &c, &err) < 0,
	   "a NUL byte in the document is an error, not the end");
	ok(err && strstr(err->msg, "config.json: invalid JSON"), "named as invalid JSON");
	krun_error_release(&err);
	oci_config_free(c);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		perror(path);
	close(fd);
}

static void test_load(void)
{
	char dir[] = "/tmp/oci_config_test.XXXXXX";
	cleanup_free char *path = NULL;
	cleanup_free char *want = doc_text(full_doc);
	struct oci_config *c = NULL;
	krun_error_t err = NULL;
	char *raw = NULL;
	size_t raw_len = 0;

	if (!mkdtemp(dir))
		return (void)ok(0, "mkdtemp");
	xasprintf(&path, "%s/config.json", dir);
	ok(oci_config_load(dir, &c, &raw, &raw_len, &err) < 0, "no config.json: an error");
	ok(err && strstr(err->msg, path) && strstr(err->msg, "No such file or directory"),
	   "the error names the path and the cause");
	krun_error_release(&err);

	write_file(path, want, strlen(want));
	ok(oci_config_load(dir, &c, &raw, &raw_len, &err) == 0, "loads a bundle's config.json");
	is_int(raw_len, strlen(want), "the raw length");
	ok(raw && memcmp(raw, want, raw_len) == 0, "the exact bytes");
	ok(c && c->n_mounts == 2, "and the parsed model");
	oci_config_free(c);
	free(raw);

	char *big = xmalloc(OCI_CONFIG_MAX_SIZE + 1);
	memset(big, ' ', OCI_CONFIG_MAX_SIZE + 1);
	big[0] = '{';
	write_file(path, big, OCI_CONFIG_MAX_SIZE + 1);
	free(big);
	c = NULL;
	ok(oci_config_load(dir, &c, NULL, NULL, &err) < 0, "a config.json over 4 MiB");
	ok(err && strstr(err->msg, "is larger than 4 MiB"), "is refused as too large");
	krun_error_release(&err);

	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_full();
	test_minimal();
	test_bad();
	test_raw_nul();
	test_load();
	return tap_done();
}
