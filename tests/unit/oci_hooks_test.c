/* src/oci/hooks.c: the "hooks" object of config.json, and real hooks (sh scripts written
 * into a temporary directory) run with the state on their stdin. */
#include "oci/hooks.h"
#include "oci/config.h"
#include "util/util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define STRV(...)                                                                                  \
	((struct strv){ (char *[]){ __VA_ARGS__, NULL },                                           \
			ARRAY_SIZE(((const char *[]){ __VA_ARGS__ })) })

static char dir[] = "/tmp/krun-hooks-test-XXXXXX";

static char *tmp_path(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", dir, name);
	return p;
}

/* Writes an executable sh script; returns its path (caller frees). */
static char *script(const char *name, const char *body)
{
	char *path = tmp_path(name);
	FILE *f = fopen(path, "w");

	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
	return path;
}

static char *slurp(const char *path, size_t *len)
{
	char *text = NULL;
	size_t n = 0;

	if (read_file_at(AT_FDCWD, path, 64u << 20, &text, &n) < 0)
		return xstrdup("(unreadable)");
	if (len)
		*len = n;
	return text;
}

/* Runs the hooks; returns NULL on success, else the error message (static). */
static const char *run(const struct oci_hook *h, size_t n, const char *phase, const char *state,
		       size_t len)
{
	static char msg[1024];
	krun_error_t err = NULL;

	if (hooks_run(h, n, phase, state, len, &err) == 0)
		return NULL;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	krun_error_release(&err);
	return msg;
}

static const char *result(const char *msg)
{
	return msg ? msg : "(success)";
}

/* Runs the hooks with our stdout sent to a file; returns what they wrote (caller frees). */
static char *run_capture(const struct oci_hook *h, const char *state, size_t *len, const char **msg)
{
	cleanup_free char *out = tmp_path("stdout");
	int saved, fd;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	*msg = run(h, 1, "prestart", state, strlen(state));
	dup2(saved, STDOUT_FILENO);
	close(saved);
	return slurp(out, len);
}

static char *pattern(size_t len)
{
	char *s = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++)
		s[i] = "{\"id\": \"abc\"}\n\t\\0123456789"[i % 26];
	s[len] = '\0';
	return s;
}

static void test_state_on_stdin(void)
{
	static const char *states[] = { "{\"ociVersion\":\"1.0.2\",\"id\":\"c1\","
					"\"status\":\"created\",\"pid\":42,\"bundle\":\"/b\"}",
					"" };
	cleanup_free char *out = tmp_path("state.out");
	cleanup_free char *path = script("copy-stdin", "/bin/cat > \"$1\"");
	struct oci_hook h = { .path = path, .args = STRV("copy", out) };
	cleanup_free char *big = pattern(300000);
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		cleanup_free char *got = NULL;

		ok(run(&h, 1, "prestart", states[i], strlen(states[i])) == NULL, "hook succeeds");
		got = slurp(out, NULL);
		is_str(got, states[i], "the hook read exactly the state on its stdin");
	}
	ok(run(&h, 1, "prestart", big, 300000) == NULL, "hook with a state larger than a pipe");
	{
		cleanup_free char *got = slurp(out, &len);

		ok(len == 300000 && memcmp(got, big, len) == 0, "the large state arrives intact");
	}
}

static void test_argv_env(void)
{
	struct oci_hook cat = { .path = "/bin/cat", .args = STRV("my-cat", "/proc/self/cmdline") };
	struct oci_hook sh = { .path = "/bin/sh" };
	struct oci_hook env = { .path = "/usr/bin/env" };
	static const char want_cmdline[] = "my-cat\0/proc/self/cmdline";
	cleanup_free char *got = NULL, *got_default = NULL, *got_env = NULL, *got_none = NULL;
	const char *msg;
	size_t len = 0;

	got = run_capture(&cat, "", &len, &msg);
	ok(msg == NULL, "cat hook succeeds");
	ok(len == sizeof(want_cmdline) && memcmp(got, want_cmdline, len) == 0,
	   "argv is exactly hook.args, args[0] included (stdout is inherited)");
	/* Without args, argv is [path]: sh reads its commands from the state. */
	got_default = run_capture(&sh, "/bin/cat /proc/$$/cmdline", &len, &msg);
	ok(msg == NULL && len == sizeof("/bin/sh") && memcmp(got_default, "/bin/sh", len) == 0,
	   "without args, argv is [path]");
	got_none = run_capture(&env, "", &len, &msg);
	ok(msg == NULL && len == 0, "without env, the hook's environment is empty");
	env.env = STRV("A=1", "B=two words", "EMPTY=");
	got_env = run_capture(&env, "", &len, &msg);
	is_str(got_env, "A=1\nB=two words\nEMPTY=\n", "the environment is exactly hook.env");
}

static void test_order_and_failure(void)
{
	cleanup_free char *log = tmp_path("order.log");
	cleanup_free char *one = script("one", "echo one >> \"$1\"");
	cleanup_free char *two = script("two", "echo two >> \"$1\"");
	cleanup_free char *three = script("three", "echo three >> \"$1\"");
	cleanup_free char *fail = script("fail", "echo fail >> \"$1\"; exit 3");
	cleanup_free char *killed = script("killed", "kill -9 $$");
	cleanup_free char *want_fail = NULL, *want_kill = NULL, *got = NULL, *got2 = NULL;
	struct oci_hook ok3[] = { { .path = one, .args = STRV("x", log) },
				  { .path = two, .args = STRV("x", log) },
				  { .path = three, .args = STRV("x", log) } };
	struct oci_hook stops[] = { { .path = one, .args = STRV("x", log) },
				    { .path = fail, .args = STRV("x", log) },
				    { .path = three, .args = STRV("x", log) } };

	ok(run(ok3, 3, "poststart", "{}", 2) == NULL, "three hooks succeed");
	got = slurp(log, NULL);
	is_str(got, "one\ntwo\nthree\n", "they ran in order");
	unlink(log);
	xasprintf(&want_fail, "createRuntime hook `%s`: exited with status 3", fail);
	is_str(run(stops, 3, "createRuntime", "{}", 2), want_fail,
	       "a non-zero exit fails, naming the phase, the hook and the status");
	got2 = slurp(log, NULL);
	is_str(got2, "one\nfail\n", "the hooks after the failing one do not run");
	xasprintf(&want_kill, "poststop hook `%s`: killed by signal 9", killed);
	is_str(run(&(struct oci_hook){ .path = killed }, 1, "poststop", "{}", 2), want_kill,
	       "a hook killed by a signal fails");
	ok(run(NULL, 0, "prestart", "{}", 2) == NULL, "no hook: nothing to do");
}

static long long elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000LL + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void test_timeout(void)
{
	struct oci_hook h = { .path = "/bin/sleep",
			      .args = STRV("sleep", "100"),
			      .has_timeout = true,
			      .timeout = 1 };
	cleanup_free char *big = pattern(1u << 20);
	const char *states[] = { "{}", big };
	const char *names[] = { "a hook past its timeout is killed and reported",
				"the timeout holds while the hook leaves its stdin pipe full" };

	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		struct timespec start;
		long long ms;

		clock_gettime(CLOCK_MONOTONIC, &start);
		is_str(run(&h, 1, "prestart", states[i], strlen(states[i])),
		       "prestart hook `/bin/sleep`: timed out after 1 s", names[i]);
		ms = elapsed_ms(&start);
		ok(ms >= 900 && ms < 4000, "it was stopped about 1 s after it started");
		if (ms < 900 || ms >= 4000)
			printf("#   took %lld ms\n", ms);
		ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "the hook was reaped");
	}
}

static void test_unread_state(void)
{
	cleanup_free char *quit = script("quit", "exit 0");
	cleanup_free char *out = tmp_path("head.out");
	cleanup_free char *head = script("head", "/usr/bin/head -c 10 > \"$1\"; exit 0");
	cleanup_free char *big = pattern(4u << 20);
	cleanup_free char *got = NULL;

	/* Would die of SIGPIPE (default action) if the runner let it through. */
	ok(run(&(struct oci_hook){ .path = quit }, 1, "poststop", big, 4u << 20) == NULL,
	   "a hook that never reads a large state still completes");
	ok(run(&(struct oci_hook){ .path = head, .args = STRV("head", out) }, 1, "poststop", big,
	       4u << 20) == NULL,
	   "a hook that reads part of the state completes");
	got = slurp(out, NULL);
	ok(strlen(got) == 10 && memcmp(got, big, 10) == 0, "it read the beginning of the state");
}

static void test_exec_failures(void)
{
	cleanup_free char *plain = script("not-executable", "exit 0");
	cleanup_free char *want = NULL;

	is_str(run(&(struct oci_hook){ .path = "/nonexistent/krun-hook" }, 1, "prestart", "{}", 2),
	       "prestart hook `/nonexistent/krun-hook`: cannot execute: No such file or directory",
	       "a missing hook fails clearly");
	chmod(plain, 0644);
	xasprintf(&want, "startContainer hook `%s`: cannot execute: Permission denied", plain);
	is_str(run(&(struct oci_hook){ .path = plain }, 1, "startContainer", "{}", 2), want,
	       "a hook that is not executable fails clearly");
}

static int exit_code(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void test_other_children(void)
{
	cleanup_free char *nap = script("nap", "/bin/sleep 0.5");
	siginfo_t si;
	pid_t early, during;

	early = fork();
	if (early == 0)
		_exit(5);
	during = fork();
	if (during == 0) {
		usleep(200000);
		_exit(7);
	}
	/* early is a zombie before the hook starts, during exits while it runs */
	waitid(P_PID, early, &si, WEXITED | WNOWAIT);
	ok(run(&(struct oci_hook){ .path = nap }, 1, "prestart", "{}", 2) == NULL,
	   "the hook succeeds while other children of ours exit");
	is_int(exit_code(early), 5, "a child that exited before is left for us to reap");
	is_int(exit_code(during), 7, "a child that exited during the hook is left for us to reap");
}

static void test_process_state(void)
{
	cleanup_free char *out = tmp_path("proc.out");
	cleanup_free char *check =
	    script("check", "[ -e /proc/$$/fd/50 ] && exit 4\n"
			    /* the shell's own mask can be full while it forks: read it once
			     * the shell has become grep */
			    "exec /bin/grep -E '^Sig(Blk|Ign)' /proc/self/status > \"$1\"");
	struct oci_hook h = { .path = check, .args = STRV("check", out) };
	cleanup_free char *got = NULL;
	sigset_t usr1, old;

	dup2(STDERR_FILENO, 50); /* not O_CLOEXEC */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	is_str(result(run(&h, 1, "prestart", "{}", 2)), "(success)",
	       "our other fds are not inherited");
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, SIG_DFL);
	close(50);
	got = slurp(out, NULL);
	is_str(got, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
	       "the hook starts with no blocked or ignored signal of ours");
}

static void test_stdin_closed(void)
{
	cleanup_free char *out = tmp_path("closed.out");
	cleanup_free char *path = script("copy-stdin2", "/bin/cat > \"$1\"");
	struct oci_hook h = { .path = path, .args = STRV("copy", out) };
	cleanup_free char *got = NULL;
	pid_t pid = fork();

	if (pid == 0) {
		close(STDIN_FILENO);
		_exit(run(&h, 1, "prestart", "{\"id\":\"x\"}", 10) == NULL ? 0 : 1);
	}
	is_int(exit_code(pid), 0, "hooks run when our own stdin is closed");
	got = slurp(out, NULL);
	is_str(got, "{\"id\":\"x\"}", "and still get the state on their stdin");
}

/* Parses {'hooks': ...} (' for "); returns NULL or the error message (static). */
static const char *parse(const char *single_quoted, struct oci_hooks *out)
{
	static char msg[512];
	cleanup_free char *text = xstrdup(single_quoted);
	krun_error_t err = NULL;
	yajl_val root = NULL;
	int ret;

	for (char *p = text; *p; p++) {
		if (*p == '\'')
			*p = '"';
	}
	memset(out, 0, sizeof(*out));
	ret = json_parse_object(OCI_DOC, text, strlen(text), &root, &err);
	if (ret == 0)
		ret = oci_hooks_parse(json_get(root, "hooks"), out, &err);
	yajl_tree_free(root);
	if (ret == 0)
		return NULL;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	krun_error_release(&err);
	return msg;
}

static void test_parse(void)
{
	struct oci_hooks h;

	ok(parse("{'hooks': {"
		 " 'prestart': [{'path': '/usr/bin/net', 'args': ['net', '-x'], 'env': ['A=1'],"
		 "  'timeout': 5}, {'path': '/p2'}],"
		 " 'createRuntime': [{'path': '/cr'}], 'createContainer': [{'path': '/cc'}],"
		 " 'startContainer': [{'path': '/sc'}], 'poststart': [],"
		 " 'poststop': [{'path': '/ps', 'args': [], 'timeout': 2147483647}],"
		 " 'unknown': 1}}",
		 &h) == NULL,
	   "a hooks object with every list parses");
	is_int(h.n_prestart, 2, "prestart has 2 hooks");
	if (h.n_prestart == 2) {
		is_str(h.prestart[0].path, "/usr/bin/net", "path");
		ok(h.prestart[0].args.n == 2 && strcmp(h.prestart[0].args.v[1], "-x") == 0, "args");
		ok(h.prestart[0].env.n == 1 && strcmp(h.prestart[0].env.v[0], "A=1") == 0, "env");
		ok(h.prestart[0].has_timeout && h.prestart[0].timeout == 5, "timeout");
		ok(!h.prestart[1].has_timeout && h.prestart[1].args.n == 0 &&
		       h.prestart[1].env.n == 0,
		   "args, env and timeout are optional");
	}
	ok(h.n_create_runtime == 1 && strcmp(h.create_runtime[0].path, "/cr") == 0,
	   "createRuntime");
	ok(h.n_create_container == 1 && strcmp(h.create_container[0].path, "/cc") == 0,
	   "createContainer");
	ok(h.n_start_container == 1 && strcmp(h.start_container[0].path, "/sc") == 0,
	   "startContainer");
	is_int(h.n_poststart, 0, "an empty poststart list");
	ok(h.n_poststop == 1 && h.poststop[0].timeout == 2147483647 && h.poststop[0].args.n == 0,
	   "poststop");
	oci_hooks_release(&h);
	ok(h.prestart == NULL && h.n_prestart == 0, "release empties the lists");
	ok(parse("{'process': {}}", &h) == NULL && h.n_prestart == 0 && h.n_poststop == 0,
	   "no hooks object: no hooks");
}

static void test_parse_errors(void)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{ "{'hooks': []}", "hooks must be an object" },
		{ "{'hooks': {'prestart': {}}}", "hooks.prestart must be an array" },
		{ "{'hooks': {'poststop': [1]}}", "hooks.poststop[0] must be an object" },
		{ "{'hooks': {'prestart': [{'args': ['x']}]}}",
		  "hooks.prestart[0].path is required" },
		{ "{'hooks': {'createRuntime': [{'path': '/a'}, {'path': 'bin/x'}]}}",
		  "hooks.createRuntime[1].path must be an absolute path" },
		{ "{'hooks': {'prestart': [{'path': ''}]}}",
		  "hooks.prestart[0].path must be an absolute path" },
		{ "{'hooks': {'prestart': [{'path': 7}]}}",
		  "hooks.prestart[0].path must be a string" },
		{ "{'hooks': {'createContainer': [{'path': '/a', 'args': [1]}]}}",
		  "hooks.createContainer[0].args must be an array of strings" },
		{ "{'hooks': {'startContainer': [{'path': '/a', 'env': 'A=1'}]}}",
		  "hooks.startContainer[0].env must be an array of strings" },
		{ "{'hooks': {'poststart': [{'path': '/a', 'timeout': 0}]}}",
		  "hooks.poststart[0].timeout must be an integer from 1 to 2147483647" },
		{ "{'hooks': {'poststart': [{'path': '/a', 'timeout': -3}]}}",
		  "hooks.poststart[0].timeout must be an integer from 1 to 2147483647" },
		{ "{'hooks': {'poststart': [{'path': '/a', 'timeout': '5'}]}}",
		  "hooks.poststart[0].timeout must be an integer from 1 to 2147483647" },
		{ "{'hooks': {'poststart': [{'path': '/a', 'timeout': 1.5}]}}",
		  "hooks.poststart[0].timeout must be an integer from 1 to 2147483647" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *want = NULL;
		struct oci_hooks h;

		xasprintf(&want, "%s: %s", OCI_DOC, cases[i].msg);
		is_str(parse(cases[i].doc, &h), want, cases[i].msg);
		oci_hooks_release(&h);
	}
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_parse();
	test_parse_errors();
	test_state_on_stdin();
	test_argv_env();
	test_order_and_failure();
	test_timeout();
	test_unread_state();
	test_exec_failures();
	test_other_children();
	test_process_state();
	test_stdin_closed();
	{
		cleanup_free char *cmd = NULL;

		xasprintf(&cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return tap_done();
}
