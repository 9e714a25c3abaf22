/* The workload's environment: process.env, plus HOME and TERM when the config has none. */
#include <stdio.h>
#include <string.h>
#include "common.h"
#include "config.h"
#include "env.h"

const char *env_lookup(char *const *env, const char *name)
{
	size_t len = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

/* Field `index` (0-based) of a passwd line, as a pointer and length. */
static bool passwd_field(const char *line, size_t line_len, int index, const char **field,
			 size_t *len)
{
	const char *p = line, *end = line + line_len;

	for (int i = 0; i < index; i++) {
		p = memchr(p, ':', end - p);
		if (!p)
			return false;
		p++;
	}
	const char *stop = memchr(p, ':', end - p);
	*field = p;
	*len = (stop ? stop : end) - p;
	return true;
}

static bool line_has_uid(const char *line, size_t line_len, uint32_t uid)
{
	const char *field;
	size_t len;
	char buf[16];

	if (!passwd_field(line, line_len, 2, &field, &len) || len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, field, len);
	buf[len] = '\0';
	if (strspn(buf, "0123456789") != len)
		return false;
	return strtoull(buf, NULL, 10) == uid;
}

char *passwd_home(const char *passwd, uint32_t uid)
{
	for (const char *line = passwd; line && *line;) {
		const char *nl = strchrnul(line, '\n');
		size_t line_len = nl - line;
		const char *home;
		size_t len;

		if (line_has_uid(line, line_len, uid) &&
		    passwd_field(line, line_len, 5, &home, &len) && len > 0)
			return xstrndup(home, len);
		line = *nl ? nl + 1 : nl;
	}
	return NULL;
}

char **env_build(char *const *env, size_t n, const char *passwd, uint32_t uid, bool terminal)
{
	char **out = xcalloc(n + 3, sizeof(char *));
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		out[o++] = xstrdup(env[i]);
	if (!env_lookup(out, "HOME")) {
		cleanup_free char *home = passwd ? passwd_home(passwd, uid) : NULL;
		out[o++] = xstrfmt("HOME=%s", home ? home : "/");
	}
	if (terminal && !env_lookup(out, "TERM"))
		out[o++] = xstrdup("TERM=xterm");
	return out;
}

char **env_for_process(const struct init_process *p)
{
	struct init_error ignored = { 0 };
	cleanup_free char *passwd = NULL;
	size_t len;

	read_file(PASSWD_PATH, PASSWD_MAX_SIZE, &passwd, &len, &ignored);
	return env_build(p->env, p->num_env, passwd, p->user.uid, p->terminal);
}
