/* src/oci: the global options, the verb table lookup, the create/run options, container
 * ids and the log lines. */
#include "oci/cli.h"
#include "oci/container_opts.h"
#include "oci/log.h"
#include "util/util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#define ARGV(...)      ((char *[]){ "krun", __VA_ARGS__, NULL })
#define ARGC(...)      ((int)ARRAY_SIZE(((char *[]){ "krun", __VA_ARGS__ })))
#define GLOBAL(g, ...) parse_global(g, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))
#define COPTS(o, ...)                                                                              \
	parse_copts(o, ARRAY_SIZE(((char *[]){ __VA_ARGS__ })), (char *[]){ __VA_ARGS__, NULL })

static char last_msg[512];

static int keep_error(int ret, krun_error_t *err)
{
	last_msg[0] = '\0';
	if (*err)
		snprintf(last_msg, sizeof(last_msg), "%s", (*err)->msg);
	krun_error_release(err);
	return ret;
}

static int parse_global(struct cli_globals *g, int argc, char **argv)
{
	krun_error_t err = NULL;

	return keep_error(cli_parse_global(argc, argv, g, &err), &err);
}

static int parse_copts(struct container_opts *o, int argc, char **argv)
{
	krun_error_t err = NULL;

	return keep_error(container_opts_parse(argc, argv, true, o, &err), &err);
}

static void test_global_forms(void)
{
	struct cli_globals g;

	char *full[] = { "krun",     "--root",
			 "/r1",	     "--log",
			 "/tmp/l1",  "--log-format",
			 "json",     "--log-level",
			 "warning",  "--cgroup-manager",
			 "disabled", "--rootless",
			 "true",     "run",
			 "--bundle", "b",
			 "id",	     NULL };
	char *after[] = { "krun", "--debug", "run", "--root", "x", NULL };

	is_int(parse_global(&g, ARRAY_SIZE(full) - 1, full), 0,
	       "options in the `--opt value` form");
	is_str(g.root, "/r1", "--root value");
	is_str(g.log_path, "/tmp/l1", "--log value");
	is_int(g.log_format, CLI_LOG_JSON, "--log-format json");
	is_int(g.log_level, CLI_LOG_WARNING, "--log-level warning");
	is_int(g.cgroup_manager, CLI_CGROUP_DISABLED, "--cgroup-manager disabled");
	is_int(g.action, CLI_ACTION_VERB, "a verb to run");
	is_int(g.argc, 4, "the verb and its 3 arguments remain");
	is_str(g.argv[0], "run", "argv[0] is the verb");
	is_str(g.argv[3], "id", "the verb's arguments are untouched");

	is_int(GLOBAL(&g, "--root=/r2", "--log=file:/tmp/l2", "--log-format=text",
		      "--log-level=error", "--cgroup-manager=systemd", "--rootless=false", "run",
		      "x"),
	       0, "options in the `--opt=value` form");
	is_str(g.root, "/r2", "--root=value");
	is_str(g.log_path, "/tmp/l2", "--log=file:PATH");
	is_int(g.log_format, CLI_LOG_TEXT, "--log-format=text");
	is_int(g.log_level, CLI_LOG_ERROR, "--log-level=error");
	is_int(g.cgroup_manager, CLI_CGROUP_SYSTEMD, "--cgroup-manager=systemd");

	is_int(GLOBAL(&g, "run", "x"), 0, "no global options");
	ok(!g.root && !g.log_path && !g.debug, "nothing set");
	is_int(g.log_level, CLI_LOG_ERROR, "default log level: error");
	is_int(g.cgroup_manager, CLI_CGROUP_CGROUPFS, "default cgroup manager: cgroupfs");

	is_int(GLOBAL(&g, "--debug", "--systemd-cgroup", "run", "x"), 0, "flags");
	ok(g.debug && g.log_level == CLI_LOG_DEBUG, "--debug sets the debug level");
	is_int(g.cgroup_manager, CLI_CGROUP_SYSTEMD, "--systemd-cgroup");
	is_int(GLOBAL(&g, "--deb", "--systemd", "run", "x"), 0, "unambiguous prefixes");
	ok(g.debug && g.cgroup_manager == CLI_CGROUP_SYSTEMD, "prefixes apply");
	is_int(parse_global(&g, ARRAY_SIZE(after) - 1, after), 0, "options after the verb");
	is_str(g.argv[1], "--root", "belong to the verb");
	ok(g.root == NULL, "and are not global");
}

static void test_global_actions(void)
{
	struct cli_globals g;

	is_int(GLOBAL(&g, "--version"), 0, "--version");
	is_int(g.action, CLI_ACTION_VERSION, "version action");
	GLOBAL(&g, "-v");
	is_int(g.action, CLI_ACTION_VERSION, "-v");
	GLOBAL(&g, "-V");
	is_int(g.action, CLI_ACTION_VERSION, "-V");
	is_int(GLOBAL(&g, "--help"), 0, "--help");
	is_int(g.action, CLI_ACTION_HELP, "help action");
	GLOBAL(&g, "-h");
	is_int(g.action, CLI_ACTION_HELP, "-h");
}

static void test_global_errors(void)
{
	static const struct {
		char *argv[4];
		const char *msg;
	} cases[] = {
		{ { "--no-such-option", "run", "x" }, "unknown option `--no-such-option`" },
		{ { "-x", "run", "x" }, "unknown option `-x`" },
		{ { "--root" }, "option `--root` needs a value" },
		{ { "--debug=1", "run", "x" }, "option `--debug=1` takes no value" },
		{ { "--version=2" }, "option `--version=2` takes no value" },
		{ { "--log-format", "xml", "run" }, "--log-format `xml`: unknown value" },
		{ { "--log-level=info", "run" }, "--log-level `info`: unknown value" },
		{ { "--cgroup-manager=v1", "run" }, "--cgroup-manager `v1`: unknown value" },
		{ { "--log", "journald:x", "run" },
		  "--log `journald:x`: only log files are supported yet" },
		{ { "--log", "foo:bar", "run" }, "--log `foo:bar`: unknown log type `foo`" },
		{ { "--log=file:", "run" }, "--log: the file name is empty" },
		{ { "--root=", "run" }, "--root: the directory name is empty" },
		{ { "--debug" }, "no command given (see `krun --help`)" },
		{ { "--lo", "x", "run" }, "unknown option `--lo`" }, /* ambiguous prefix */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *argv[6] = { "krun" };
		struct cli_globals g;
		int argc = 1;

		for (int j = 0; cases[i].argv[j]; j++)
			argv[argc++] = cases[i].argv[j];
		is_int(parse_global(&g, argc, argv), CLI_EUSAGE, "a usage error");
		is_str(last_msg, cases[i].msg, "its message");
	}
}

static int verb_stub(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	return 7;
}

static void test_verbs(void)
{
	static const struct cli_verb verbs[] = {
		{ "run", "run", verb_stub },
		{ "state", "state", verb_stub },
	};
	const struct cli_verb *v = NULL;
	krun_error_t err = NULL;

	is_int(cli_find_verb(verbs, 2, "state", &v, &err), 0, "a known verb");
	ok(v == &verbs[1], "is found");
	is_int(keep_error(cli_find_verb(verbs, 2, "frobnicate", &v, &err), &err), CLI_EUSAGE,
	       "an unknown verb is a usage error");
	is_str(last_msg, "unknown command `frobnicate`", "and is named");
	is_int(keep_error(cli_find_verb(verbs, 2, "ru", &v, &err), &err), CLI_EUSAGE,
	       "verbs are not abbreviated");
}

static void test_container_opts(void)
{
	struct container_opts o;

	is_int(COPTS(&o, "run", "--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s",
		     "--preserve-fds", "0", "--no-pivot", "--no-new-keyring", "--no-subreaper",
		     "--detach", "c1"),
	       0, "every option, `--opt value`");
	is_str(o.bundle, "/b", "bundle");
	is_str(o.pid_file, "/p", "pid file");
	is_str(o.console_socket, "/s", "console socket");
	is_int(o.preserve_fds, 0, "preserve-fds");
	ok(o.no_pivot && o.no_new_keyring && o.detach, "flags");
	is_str(o.id, "c1", "the id");
	is_int(COPTS(&o, "create", "--preserve-fds", "2", "c1"), -EINVAL,
	       "fds cannot be passed to the workload in the VM");
	is_str(last_msg,
	       "create: --preserve-fds: passing file descriptors to the workload in the VM is not "
	       "supported",
	       "saying so");

	is_int(COPTS(&o, "run", "--bundle=/b2", "--pid-file=/p2", "--preserve-fds=0", "c2"), 0,
	       "`--opt=value`");
	ok(strcmp(o.bundle, "/b2") == 0 && strcmp(o.pid_file, "/p2") == 0 && !o.detach,
	   "values taken");
	is_int(COPTS(&o, "run", "-b", "/b3", "-d", "c3"), 0, "short options");
	ok(strcmp(o.bundle, "/b3") == 0 && o.detach, "-b and -d");
	is_int(COPTS(&o, "run", "c4"), 0, "only the id");
	ok(o.bundle == NULL && o.pid_file == NULL && !o.detach, "defaults");

	is_int(COPTS(&o, "run"), CLI_EUSAGE, "missing ID: usage error");
	is_str(last_msg, "run: missing container ID", "missing ID message");
	is_int(COPTS(&o, "run", "--bundle", "/b"), CLI_EUSAGE, "options but no ID");
	is_int(COPTS(&o, "run", "c1", "--bundle", "/b"), CLI_EUSAGE, "options after the ID");
	is_str(last_msg, "run: unexpected argument `--bundle` after the container ID",
	       "options after the ID message");
	is_int(COPTS(&o, "run", "--frob", "c1"), CLI_EUSAGE, "unknown option");
	is_str(last_msg, "run: unknown option `--frob`", "unknown option message");
	is_int(COPTS(&o, "run", "--preserve-fds", "x", "c1"), CLI_EUSAGE, "bad --preserve-fds");
	is_str(last_msg, "run: --preserve-fds `x`: not a number", "bad --preserve-fds message");
	is_int(COPTS(&o, "run", "--preserve-fds=-1", "c1"), CLI_EUSAGE, "negative --preserve-fds");
	is_int(COPTS(&o, "run", "--pid-file"), CLI_EUSAGE, "missing value");
	is_str(last_msg, "run: option `--pid-file` needs a value", "missing value message");

	krun_error_t err = NULL;
	is_int(keep_error(container_opts_parse(3, (char *[]){ "create", "--detach", "c", NULL },
					       false, &o, &err),
			  &err),
	       CLI_EUSAGE, "create has no --detach");
	is_int(keep_error(container_opts_parse(3, (char *[]){ "create", "-d", "c", NULL }, false,
					       &o, &err),
			  &err),
	       CLI_EUSAGE, "nor -d");
	is_str(last_msg, "create: unknown option `-d`", "named");
}

static void test_ids(void)
{
	static const char *const good[] = { "a", "abc-DEF_012.x+y", "0", "a..b" };
	static const char *const bad[] = { "", ".hidden", "a/b", "a b", "../x", "é", "a\n" };
	char long_id[300];
	krun_error_t err = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		is_int(container_id_validate(good[i], &err), 0, good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ok(container_id_validate(bad[i], &err) < 0, "an invalid id is refused");
		krun_error_release(&err);
	}
	container_id_validate("a/b", &err);
	is_str(err ? err->msg : NULL,
	       "container ID `a/b`: invalid character at position 2 (allowed: letters, digits, _ "
	       "+ . -)",
	       "names the id and the position");
	krun_error_release(&err);
	memset(long_id, 'a', 255);
	long_id[255] = '\0';
	is_int(container_id_validate(long_id, &err), 0, "255 bytes");
	long_id[255] = 'a';
	long_id[256] = '\0';
	ok(container_id_validate(long_id, &err) < 0, "256 bytes is too long");
	krun_error_release(&err);
}

static void test_json_lines(void)
{
	struct timespec ts = { .tv_sec = 1795233624, .tv_nsec = 123456789 };
	char *line;

	line = log_json_line("error", "open `/x`: \"quoted\"\n", &ts);
	is_str(line,
	       "{\"level\":\"error\",\"msg\":\"open `/x`: \\\"quoted\\\"\\n\","
	       "\"time\":\"2026-11-21T04:00:24.123456Z\"}\n",
	       "a JSON log line, escaped, RFC 3339 UTC with microseconds");
	free(line);
	line = log_json_line("warning", "bad \xff byte", &ts);
	is_str(line,
	       "{\"level\":\"warning\",\"msg\":\"bad ? "
	       "byte\",\"time\":\"2026-11-21T04:00:24.123456Z\"}\n",
	       "bytes that are not UTF-8 are replaced");
	free(line);
}

/* Runs fn with stderr sent to /dev/null (the messages also go there). */
static void quietly(void (*fn)(void))
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY);

	dup2(null, 2);
	fn();
	dup2(saved, 2);
	close(saved);
	close(null);
}

static void log_three(void)
{
	log_error("first failure");
	log_warning("a %s", "warning");
	log_debug("some debug");
}

static void test_log_file(void)
{
	char path[] = "/tmp/oci_cli_test.log.XXXXXX";
	int fd = mkstemp(path);
	cleanup_free char *text = NULL;
	struct cli_globals g;
	krun_error_t err = NULL;
	char errbuf[128];
	yajl_val v;

	close(fd);
	GLOBAL(&g, "--log-format=json", "--log", path, "run", "x");
	ok(log_open(&g, &err) == 0, "log file opened");
	quietly(log_three);
	log_close();
	read_file_at(AT_FDCWD, path, 4096, &text, NULL);
	ok(text && strchr(text, '\n') == text + strlen(text) - 1,
	   "one line at the default level (error)");
	v = text ? yajl_tree_parse(text, errbuf, sizeof(errbuf)) : NULL;
	is_str(YAJL_GET_STRING(yajl_tree_get(v, (const char *[]){ "msg", NULL }, yajl_t_string)),
	       "first failure", "msg");
	is_str(YAJL_GET_STRING(yajl_tree_get(v, (const char *[]){ "level", NULL }, yajl_t_string)),
	       "error", "level");
	ok(yajl_tree_get(v, (const char *[]){ "time", NULL }, yajl_t_string), "time");
	yajl_tree_free(v);
	free(steal_ptr(&text));

	GLOBAL(&g, "--log-format=json", "--log-level=debug", "--log", path, "run", "x");
	log_open(&g, &err);
	quietly(log_three);
	log_close();
	read_file_at(AT_FDCWD, path, 4096, &text, NULL);
	ok(text && strstr(text, "\"level\":\"warning\",\"msg\":\"a warning\"") &&
	       strstr(text, "\"level\":\"debug\",\"msg\":\"some debug\""),
	   "with --log-level=debug the file gets warnings and debug lines, appended");
	free(steal_ptr(&text));

	GLOBAL(&g, "--log", path, "run", "x");
	log_open(&g, &err);
	quietly(log_three);
	log_close();
	read_file_at(AT_FDCWD, path, 4096, &text, NULL);
	ok(text && strstr(text, "Z error: first failure\n"), "the text format");
	unlink(path);

	GLOBAL(&g, "--log", "/nonexistent/dir/log", "run", "x");
	ok(log_open(&g, &err) < 0, "an unwritable log file is an error");
	ok(err && strstr(err->msg, "/nonexistent/dir/log"), "naming the file");
	krun_error_release(&err);
}

int main(void)
{
	test_global_forms();
	test_global_actions();
	test_global_errors();
	test_verbs();
	test_container_opts();
	test_ids();
	test_json_lines();
	test_log_file();
	return tap_done();
}
