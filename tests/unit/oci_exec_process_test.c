/* krun exec's process (src/oci/exec_process.c): the options' changes over a base process,
 * checked by reading the written document back with the host's own parser. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "oci/config.h"
#include "oci/exec_process.h"
#include "tap.h"

static const char base_json[] =
    "{\"process\":{\"terminal\":false,\"args\":[\"/bin/sh\"],\"cwd\":\"/\","
    "\"env\":[\"PATH=/bin\",\"HOME=/root\"],\"user\":{\"uid\":0,\"gid\":0,\"umask\":18},"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1024,\"hard\":18446744073709551615}],"
    "\"capabilities\":{\"bounding\":[\"CAP_CHOWN\"],\"effective\":[\"CAP_CHOWN\"],"
    "\"permitted\":[\"CAP_CHOWN\"]}}}";

static int parse(const char *text, struct oci_process *p)
{
	krun_error_t err = NULL;
	yajl_val doc = NULL;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = json_parse_object("test", text, strlen(text), &doc, &err);
	if (ret == 0)
		ret = oci_parse_process(json_get(doc, "process"), p, &err);
	if (err)
		printf("# %s\n", err->msg);
	krun_error_release(&err);
	yajl_tree_free(doc);
	return ret;
}

static bool has(const struct strv *s, const char *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], v))
			return true;
	return false;
}

int main(void)
{
	char *args[] = { "/bin/echo", "hi" }, *env[] = { "HOME=/tmp", "NEW=1" };
	char *caps[] = { "CAP_NET_ADMIN" };
	uint32_t gids[] = { 10, 20 };
	struct exec_changes c = { .args = args,
				  .n_args = 2,
				  .env = env,
				  .n_env = 2,
				  .cwd = "/tmp",
				  .has_user = true,
				  .uid = 65534,
				  .gid = 65534,
				  .gids = gids,
				  .n_gids = 2,
				  .terminal = 1,
				  .no_new_privs = true,
				  .caps = caps,
				  .n_caps = 1 };
	struct oci_process p, q;
	krun_error_t err = NULL;
	char *json = NULL;

	ok(parse(base_json, &p) == 0, "the base process parses");
	ok(exec_process_json(&p, &c, &json, &err) == 0 && parse(json, &q) == 0,
	   "the written document reads back as a process");
	ok(q.args.n == 2 && !strcmp(q.args.v[0], "/bin/echo"), "CMD ARGS replace args");
	ok(q.env.n == 3 && has(&q.env, "HOME=/tmp") && has(&q.env, "NEW=1") &&
	       has(&q.env, "PATH=/bin"),
	   "--env replaces a key and adds a new one, the rest stays");
	ok(!strcmp(q.cwd, "/tmp") && q.user.uid == 65534 && q.user.gid == 65534 &&
	       q.user.has_umask && q.user.umask == 18,
	   "--cwd and --user apply, the umask stays");
	ok(q.user.n_additional_gids == 2 && q.user.additional_gids[1] == 20,
	   "--additional-gids apply");
	ok(q.terminal && q.no_new_privileges, "-t and --no-new-privs apply");
	ok(q.n_rlimits == 1 && q.rlimits[0].soft == 1024 && q.rlimits[0].hard == UINT64_MAX,
	   "rlimits stay, unlimited as 2^64-1");
	ok(has(&q.capabilities.bounding, "CAP_NET_ADMIN") &&
	       has(&q.capabilities.permitted, "CAP_CHOWN") &&
	       !has(&q.capabilities.ambient, "CAP_NET_ADMIN"),
	   "--cap adds to every set but ambient");
	oci_process_release(&q);
	free(json);
	json = NULL;

	struct exec_changes bad_env = { .env = (char *[]){ "NOEQUALS" },
					.n_env = 1,
					.terminal = -1 };
	ok(exec_process_json(&p, &bad_env, &json, &err) == -EINVAL && strstr(err->msg, "NOEQUALS"),
	   "an --env without = is refused, naming it");
	krun_error_release(&err);
	struct exec_changes bad_cwd = { .cwd = "relative", .terminal = -1 };
	ok(exec_process_json(&p, &bad_cwd, &json, &err) == -EINVAL && strstr(err->msg, "relative"),
	   "a relative --cwd is refused, naming it");
	krun_error_release(&err);
	oci_process_release(&p);
	return tap_done();
}
