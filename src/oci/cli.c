/* Global options. Like crun: options before the verb, `--opt=value` and `--opt value`,
 * unambiguous prefixes of long options. */
#include "oci/cli.h"
#include "util/util.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>

enum {
	OPT_ROOT = 256,
	OPT_LOG,
	OPT_LOG_FORMAT,
	OPT_LOG_LEVEL,
	OPT_DEBUG,
	OPT_SYSTEMD_CGROUP,
	OPT_CGROUP_MANAGER,
	OPT_ROOTLESS,
};

static const struct option global_options[] = {
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "systemd-cgroup", no_argument, NULL, OPT_SYSTEMD_CGROUP },
	{ "cgroup-manager", required_argument, NULL, OPT_CGROUP_MANAGER },
	{ "rootless", required_argument, NULL, OPT_ROOTLESS },
	{ "version", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cli_usage_error(krun_error_t *err, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	krun_make_error(err, 0, "%s", msg);
	return CLI_EUSAGE;
}

int cli_getopt_error(const char *verb, int c, const char *optstring, char **argv, krun_error_t *err)
{
	const char *arg = argv[optind - 1]; /* right except for an unknown short option */
	const char *ctx = verb ? verb : "";
	const char *sep = verb ? ": " : "";

	if (c == ':')
		return cli_usage_error(err, "%s%soption `%s` needs a value", ctx, sep, arg);
	/* getopt sets optopt to a known option's value when a long option got "=value" */
	if (optopt >= 256 || (optopt > 0 && strchr(optstring, optopt)))
		return cli_usage_error(err, "%s%soption `%s` takes no value", ctx, sep, arg);
	if (optopt > 0)
		return cli_usage_error(err, "%s%sunknown option `-%c`", ctx, sep, optopt);
	return cli_usage_error(err, "%s%sunknown option `%s`", ctx, sep, arg);
}

/* --log DEST: a file, given bare or as file:PATH (crun also knows journald: and syslog:). */
static int parse_log_dest(const char *dest, struct cli_globals *g, krun_error_t *err)
{
	const char *colon = strchr(dest, ':');

	if (!colon)
		g->log_path = dest;
	else if (strncmp(dest, "file:", 5) == 0)
		g->log_path = dest + 5;
	else if (strncmp(dest, "journald:", 9) == 0 || strncmp(dest, "syslog:", 7) == 0)
		return cli_usage_error(err, "--log `%s`: only log files are supported yet", dest);
	else
		return cli_usage_error(err, "--log `%s`: unknown log type `%.*s`", dest,
				       (int)(colon - dest), dest);
	if (*g->log_path == '\0')
		return cli_usage_error(err, "--log: the file name is empty");
	return 0;
}

/* The index of value in names (NULL-terminated), or a usage error naming the option. */
static int pick(const char *option, const char *value, const char *const *names, int *out,
		krun_error_t *err)
{
	for (int i = 0; names[i]; i++) {
		if (strcmp(names[i], value) == 0) {
			*out = i;
			return 0;
		}
	}
	return cli_usage_error(err, "%s `%s`: unknown value", option, value);
}

static int apply_option(int c, struct cli_globals *g, krun_error_t *err)
{
	static const char *const formats[] = { "text", "json", NULL };
	static const char *const levels[] = { "error", "warning", "debug", NULL };
	static const char *const managers[] = { "cgroupfs", "systemd", "disabled", NULL };
	int i = 0, ret = 0;

	switch (c) {
	case OPT_ROOT:
		if (*optarg == '\0')
			return cli_usage_error(err, "--root: the directory name is empty");
		g->root = optarg;
		break;
	case OPT_LOG:
		return parse_log_dest(optarg, g, err);
	case OPT_LOG_FORMAT:
		ret = pick("--log-format", optarg, formats, &i, err);
		g->log_format = i;
		break;
	case OPT_LOG_LEVEL:
		ret = pick("--log-level", optarg, levels, &i, err);
		g->log_level = i;
		break;
	case OPT_DEBUG:
		g->debug = true;
		g->log_level = CLI_LOG_DEBUG;
		break;
	case OPT_SYSTEMD_CGROUP:
		g->cgroup_manager = CLI_CGROUP_SYSTEMD;
		break;
	case OPT_CGROUP_MANAGER:
		ret = pick("--cgroup-manager", optarg, managers, &i, err);
		g->cgroup_manager = i;
		break;
	case OPT_ROOTLESS:
		break; /* accepted and ignored, as runc's clients expect */
	case 'v':
	case 'V':
		g->action = CLI_ACTION_VERSION;
		break;
	case 'h':
		g->action = CLI_ACTION_HELP;
		break;
	}
	return ret;
}

int cli_parse_global(int argc, char **argv, struct cli_globals *g, krun_error_t *err)
{
	static const char optstring[] = "+:vVh";
	int c, ret;

	memset(g, 0, sizeof(*g));
	optind = 0; /* makes glibc start over, also in the unit tests */
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, global_options, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_getopt_error(NULL, c, optstring, argv, err);
		ret = apply_option(c, g, err);
		if (ret < 0)
			return ret;
	}
	if (g->action != CLI_ACTION_VERB)
		return 0;
	if (optind >= argc)
		return cli_usage_error(err, "no command given (see `krun --help`)");
	g->argc = argc - optind;
	g->argv = argv + optind;
	return 0;
}

int cli_find_verb(const struct cli_verb *verbs, size_t n, const char *name,
		  const struct cli_verb **out, krun_error_t *err)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(verbs[i].name, name) == 0) {
			*out = &verbs[i];
			return 0;
		}
	}
	return cli_usage_error(err, "unknown command `%s`", name);
}

void cli_print_usage(FILE *f, const struct cli_verb *verbs, size_t n)
{
	fputs("Usage: krun [GLOBAL OPTION...] COMMAND [OPTION...] CONTAINER-ID\n"
	      "\n"
	      "An OCI runtime that runs each container in its own KVM microVM.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	fputs("\n"
	      "Global options (before the command):\n"
	      "  --root DIR              where container state is kept\n"
	      "  --log FILE              also write errors to FILE (or file:FILE)\n"
	      "  --log-format text|json  format of the --log lines (default text)\n"
	      "  --log-level error|warning|debug\n"
	      "                          what goes to --log (default error; warnings always\n"
	      "                          go to stderr)\n"
	      "  --debug                 debug output, including the guest kernel's log\n"
	      "  --systemd-cgroup        use systemd to manage cgroups\n"
	      "  --cgroup-manager cgroupfs|systemd|disabled\n"
	      "  --rootless VALUE        accepted for compatibility, ignored\n"
	      "  -v, --version           print the version\n"
	      "  -h, --help              print this help\n"
	      "\n"
	      "Options take their value as `--opt VALUE` or `--opt=VALUE`.\n"
	      "VM settings come from the krun.* annotations and /.krun_vm.json in the image;\n"
	      "see krun(1). Usage errors exit with 64, other errors with 1.\n",
	      f);
}

void cli_print_version(FILE *f)
{
	fprintf(f, "krun version %s\nspec: 1.0.0\n+YAJL\n", KRUN_VERSION);
}
