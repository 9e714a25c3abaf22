/* The guest init's reading of /.krun_config.json: valid OCI configs and hostile ones. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "../../init/config.h"
#include "tap.h"

static const char podman_config[] =
    "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":true,"
    "\"user\":{\"uid\":1000,\"gid\":100,\"umask\":18,\"additionalGids\":[10,20]},"
    "\"args\":[\"sh\",\"-c\",\"echo hi\"],"
    "\"env\":[\"PATH=/usr/bin:/bin\",\"container=podman\"],\"cwd\":\"/work\","
    "\"capabilities\":{\"bounding\":[\"CAP_CHOWN\"]},"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1048576,\"soft\":1024},"
    "{\"type\":\"RLIMIT_CORE\",\"hard\":18446744073709551615,\"soft\":0}],"
    "\"noNewPrivileges\":true,\"oomScoreAdj\":-500},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":false},\"hostname\":\"box\","
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/run/h\","
    "\"options\":[\"rbind\",\"ro\"]},{\"destination\":\"/tmp\",\"type\":\"tmpfs\"}],"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}}\n";

static int parse(const char *json, struct init_config *cfg, struct init_error *err)
{
	memset(err, 0, sizeof(*err));
	return config_parse(json, strlen(json), cfg, err);
}

/* Parses {"process":{<process>}} and expects a failure whose message contains `want`. */
static void expect_process_error(const char *process, const char *want, const char *name)
{
	struct init_config cfg;
	struct init_error err;
	char *json = NULL;

	if (asprintf(&json, "{\"process\":{%s}}", process) < 0)
		abort();
	int ret = parse(json, &cfg, &err);
	ok(ret < 0 && strstr(err.msg, want), name);
	if (ret == 0 || !strstr(err.msg, want))
		printf("#   message: %s\n", err.msg);
	if (ret == 0)
		config_free(&cfg);
	free(json);
}

static void test_valid_config(void)
{
	struct init_config cfg;
	struct init_error err;

	is_int(parse(podman_config, &cfg, &err), 0, "a podman-like config parses");
	const struct init_process *p = &cfg.process;
	is_int(p->num_args, 3, "three args");
	is_str(p->args[2], "echo hi", "args keep their content");
	ok(p->args[3] == NULL, "args are NULL-terminated");
	is_int(p->num_env, 2, "two env entries");
	is_str(p->env[1], "container=podman", "env entry");
	ok(p->env[2] == NULL, "env is NULL-terminated");
	is_str(p->cwd, "/work", "cwd");
	ok(p->terminal, "terminal");
	is_int(p->user.uid, 1000, "uid");
	is_int(p->user.gid, 100, "gid");
	ok(p->user.has_umask && p->user.umask == 022, "umask");
	ok(p->user.num_additional_gids == 2 && p->user.additional_gids[1] == 20, "additionalGids");
	is_int(p->num_rlimits, 2, "two rlimits");
	is_int(p->rlimits[0].resource, RLIMIT_NOFILE, "RLIMIT_NOFILE mapped");
	ok(p->rlimits[0].soft == 1024 && p->rlimits[0].hard == 1048576, "nofile values");
	ok(p->rlimits[1].hard == UINT64_MAX, "a hard limit of 2^64-1 (unlimited) is kept");
	ok(p->no_new_privileges, "noNewPrivileges");
	ok(p->has_oom_score_adj && p->oom_score_adj == -500, "oomScoreAdj");
	is_str(cfg.hostname, "box", "hostname");
	ok(cfg.domainname == NULL, "no domainname");
	is_int(cfg.num_mounts, 3, "three mounts");
	is_str(cfg.mounts[1].options[0], "rbind", "mount options kept as written");
	ok(cfg.mounts[2].source == NULL && cfg.mounts[2].num_options == 0 &&
	       cfg.mounts[2].options[0] == NULL,
	   "absent source and options");
	config_free(&cfg);
}

static void test_defaults(void)
{
	struct init_config cfg;
	struct init_error err;

	is_int(parse("{\"process\":{\"args\":[\"/bin/true\"]}}", &cfg, &err), 0,
	       "a minimal config parses");
	is_str(cfg.process.cwd, "/", "cwd defaults to /");
	ok(cfg.process.env && cfg.process.env[0] == NULL, "env defaults to empty");
	ok(cfg.process.user.uid == 0 && cfg.process.user.gid == 0, "user defaults to root");
	ok(!cfg.process.terminal && !cfg.process.user.has_umask && cfg.hostname == NULL,
	   "no terminal, umask or hostname");
	config_free(&cfg);
	is_int(parse("{\"process\":{\"args\":[\"x\"],\"env\":null,\"user\":null}}", &cfg, &err), 0,
	       "null members count as absent");
	config_free(&cfg);
}

static void test_structure_errors(void)
{
	struct init_config cfg;
	struct init_error err;

	ok(parse("{\"hostname\":\"x\"}", &cfg, &err) < 0 && strstr(err.msg, "process: missing"),
	   "missing process");
	ok(parse("[1,2]", &cfg, &err) < 0 && strstr(err.msg, "top level"), "top level array");
	ok(parse("{\"process\":", &cfg, &err) < 0 && strstr(err.msg, "truncated"),
	   "truncated JSON");
	ok(parse("{\"process\":{}} x", &cfg, &err) < 0 && strstr(err.msg, "trailing"),
	   "trailing garbage");
	ok(parse("{\"process\":{\"args\":[\"a\",]}}", &cfg, &err) < 0 &&
	       strstr(err.msg, "invalid JSON at byte"),
	   "a trailing comma is refused (strict JSON)");
	ok(parse("", &cfg, &err) < 0, "empty document");
	ok(parse("{\"process\":[]}", &cfg, &err) < 0 && strstr(err.msg, "process: expected object"),
	   "process not an object");
	ok(parse("{\"process\":{\"args\":[\"a\"]},\"mounts\":[{\"type\":\"tmpfs\"}]}", &cfg, &err) <
		   0 &&
	       strstr(err.msg, "mounts[0].destination: missing"),
	   "mount without destination");
	ok(parse("{\"process\":{\"args\":[\"a\"]},\"mounts\":[{\"destination\":\"/x\","
		 "\"options\":\"ro\"}]}",
		 &cfg, &err) < 0 &&
	       strstr(err.msg, "mounts[0].options: expected array"),
	   "mount options not an array");
	ok(parse("{\"process\":{\"args\":[\"a\"]},\"hostname\":7}", &cfg, &err) < 0 &&
	       strstr(err.msg, "hostname: expected string"),
	   "hostname not a string");
}

static void test_process_errors(void)
{
	expect_process_error("\"cwd\":\"/\"", "process.args: missing", "missing args");
	expect_process_error("\"args\":\"sh\"", "process.args: expected array",
			     "args not an array");
	expect_process_error("\"args\":[]", "process.args: must not be empty", "empty args");
	expect_process_error("\"args\":[\"\"]", "process.args[0]: must not be empty",
			     "empty args[0]");
	expect_process_error("\"args\":[\"a\",3]", "process.args[1]: expected string",
			     "non-string arg");
	expect_process_error("\"args\":[\"a\\u0000b\"]", "contains a NUL", "NUL inside an arg");
	expect_process_error("\"args\":[\"a\"],\"env\":[\"A=1\",false]",
			     "process.env[1]: expected string", "non-string env entry");
	expect_process_error("\"args\":[\"a\"],\"env\":[\"NOEQUALS\"]", "not KEY=VALUE",
			     "env entry without =");
	expect_process_error("\"args\":[\"a\"],\"env\":[\"=x\"]", "not KEY=VALUE",
			     "env entry with an empty key");
	expect_process_error("\"args\":[\"a\"],\"cwd\":\"work\"", "not an absolute path",
			     "relative cwd");
	expect_process_error("\"args\":[\"a\"],\"cwd\":5", "process.cwd: expected string",
			     "cwd not a string");
	expect_process_error("\"args\":[\"a\"],\"terminal\":\"yes\"",
			     "process.terminal: expected boolean", "terminal not a boolean");
	expect_process_error("\"args\":[\"a\"],\"user\":{\"uid\":-1}", "must not be negative",
			     "negative uid");
	expect_process_error("\"args\":[\"a\"],\"user\":{\"uid\":1.5}", "expected int",
			     "fractional uid");
	expect_process_error("\"args\":[\"a\"],\"user\":{\"uid\":4294967296}", "out of range",
			     "uid above 32 bits");
	expect_process_error("\"args\":[\"a\"],\"user\":{\"gid\":4294967295}", "below",
			     "gid (gid_t)-1");
	expect_process_error("\"args\":[\"a\"],\"user\":{\"umask\":512}", "out of range",
			     "umask above 0777");
	expect_process_error("\"args\":[\"a\"],\"user\":{\"additionalGids\":[1,\"2\"]}",
			     "additionalGids[1]: expected an integer",
			     "non-integer additional gid");
	expect_process_error("\"args\":[\"a\"],\"rlimits\":[{\"type\":\"RLIMIT_BOGUS\","
			     "\"soft\":1,\"hard\":1}]",
			     "unknown rlimit type `RLIMIT_BOGUS`", "unknown rlimit");
	expect_process_error("\"args\":[\"a\"],\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\","
			     "\"soft\":1}]",
			     "process.rlimits[0].hard: missing", "rlimit without hard");
	expect_process_error("\"args\":[\"a\"],\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\","
			     "\"soft\":9,\"hard\":1}]",
			     "soft limit of RLIMIT_NOFILE is above", "soft above hard");
	expect_process_error("\"args\":[\"a\"],\"rlimits\":[{\"type\":\"RLIMIT_CPU\",\"soft\":1,"
			     "\"hard\":1},{\"type\":\"RLIMIT_CPU\",\"soft\":2,\"hard\":2}]",
			     "RLIMIT_CPU is set twice", "duplicate rlimit");
	expect_process_error("\"args\":[\"a\"],\"rlimits\":[{\"type\":\"RLIMIT_CPU\",\"soft\":-1,"
			     "\"hard\":1}]",
			     "must not be negative", "negative rlimit");
	expect_process_error("\"args\":[\"a\"],\"rlimits\":[7]",
			     "process.rlimits[0]: expected object", "rlimit not an object");
	expect_process_error("\"args\":[\"a\"],\"oomScoreAdj\":1001", "outside -1000..1000",
			     "oomScoreAdj out of range");
}

static void test_huge_values(void)
{
	struct init_config cfg;
	struct init_error err;
	size_t big = 1 << 20;
	char *arg = malloc(big + 1), *json = NULL;

	memset(arg, 'a', big);
	arg[big] = '\0';
	if (asprintf(&json, "{\"process\":{\"args\":[\"%s\"]}}", arg) < 0)
		abort();
	ok(parse(json, &cfg, &err) == 0 && strlen(cfg.process.args[0]) == big,
	   "a 1 MiB argument is kept whole");
	config_free(&cfg);
	free(json);

	/* Far deeper than any OCI config: the parser must refuse, not recurse away. */
	size_t depth = 100000;
	json = malloc(2 * depth + 1);
	memset(json, '[', depth);
	memset(json + depth, ']', depth);
	json[2 * depth] = '\0';
	ok(parse(json, &cfg, &err) < 0 && strstr(err.msg, "invalid JSON"), "deep nesting refused");
	free(json);

	char name[100];
	memset(name, 'h', 65);
	name[65] = '\0';
	if (asprintf(&json, "{\"process\":{\"args\":[\"a\"]},\"hostname\":\"%s\"}", name) < 0)
		abort();
	ok(parse(json, &cfg, &err) < 0 && strstr(err.msg, "longer than 64"),
	   "hostname longer than 64 bytes");
	free(json);
	memset(&err, 0, sizeof(err));
	ok(config_parse(arg, KRUN_CONFIG_MAX_SIZE + 1, &cfg, &err) < 0 && strstr(err.msg, "larger"),
	   "a document above the size limit is refused before parsing");
	free(arg);
}

static void test_load(void)
{
	struct init_config cfg;
	struct init_error err = { 0 };
	char path[] = "/tmp/init_config_test.XXXXXX";
	int fd = mkstemp(path);

	ok(fd >= 0 && write(fd, podman_config, strlen(podman_config)) > 0, "temp config written");
	close(fd);
	ok(config_load(path, &cfg, &err) == 0 && cfg.process.num_args == 3,
	   "config_load reads a file");
	config_free(&cfg);

	fd = open(path, O_WRONLY | O_TRUNC);
	ok(fd >= 0 && ftruncate(fd, KRUN_CONFIG_MAX_SIZE + 1) == 0, "oversized file made");
	close(fd);
	memset(&err, 0, sizeof(err));
	ok(config_load(path, &cfg, &err) < 0 && strstr(err.msg, "larger than") &&
	       strstr(err.msg, path),
	   "an oversized file is refused, naming it");
	unlink(path);

	memset(&err, 0, sizeof(err));
	ok(config_load("/nonexistent/.krun_config.json", &cfg, &err) < 0 &&
	       strstr(err.msg, "No such file"),
	   "a missing file is an error");
}

int main(void)
{
	test_valid_config();
	test_defaults();
	test_structure_errors();
	test_process_errors();
	test_huge_values();
	test_load();
	return tap_done();
}
