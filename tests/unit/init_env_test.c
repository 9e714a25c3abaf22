/* The workload's environment: process.env as given, plus HOME from passwd and TERM. */
#include <stdlib.h>
#include <string.h>
#include "../../init/common.h"
#include "../../init/env.h"
#include "tap.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/bash\n"
			     "# a comment line\n"
			     "broken line without fields\n"
			     "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
			     "nohome:x:7:7:gecos::/bin/sh\n"
			     "short:x:8\n"
			     "user:x:1000:1000:A User,,,:/home/user:/bin/sh\n"
			     "big:x:10000:10000::/home/big:/bin/sh"; /* no final newline */

static size_t count(char **v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

int main(void)
{
	char *home;

	home = passwd_home(passwd, 0);
	is_str(home, "/root", "root's home");
	free(home);
	home = passwd_home(passwd, 1000);
	is_str(home, "/home/user", "a user's home");
	free(home);
	home = passwd_home(passwd, 10000);
	is_str(home, "/home/big", "last line without a newline");
	free(home);
	ok(passwd_home(passwd, 100) == NULL, "unknown uid");
	ok(passwd_home(passwd, 7) == NULL, "empty home field");
	ok(passwd_home(passwd, 8) == NULL, "truncated line");
	ok(passwd_home(passwd, 10) == NULL, "uid 10 does not match 1000 or 10000");
	ok(passwd_home("", 0) == NULL, "empty passwd");

	char *env[] = { "PATH=/bin", "A=1", "PATHX=no", NULL };
	is_str(env_lookup(env, "PATH"), "/bin", "lookup PATH");
	ok(env_lookup(env, "PAT") == NULL, "no prefix match");
	ok(env_lookup(env, "B") == NULL, "absent");

	char **out = env_build(env, 3, passwd, 1000, false);
	is_int(count(out), 4, "HOME added");
	is_str(out[0], "PATH=/bin", "config order kept");
	is_str(out[3], "HOME=/home/user", "HOME from passwd");
	ok(env_lookup(out, "TERM") == NULL, "no TERM without a terminal");
	free_strv(out);

	out = env_build(env, 3, NULL, 1000, true);
	is_str(env_lookup(out, "HOME"), "/", "HOME=/ without passwd");
	is_str(env_lookup(out, "TERM"), "xterm", "TERM=xterm with a terminal");
	free_strv(out);

	char *given[] = { "HOME=/custom", "TERM=vt100", NULL };
	out = env_build(given, 2, passwd, 0, true);
	is_int(count(out), 2, "HOME and TERM from the config are kept");
	is_str(env_lookup(out, "HOME"), "/custom", "HOME untouched");
	is_str(env_lookup(out, "TERM"), "vt100", "TERM untouched");
	free_strv(out);

	out = env_build(NULL, 0, passwd, 4242, false);
	is_int(count(out), 1, "an empty env gets only HOME");
	is_str(out[0], "HOME=/", "unknown user: HOME=/");
	free_strv(out);
	return tap_done();
}
