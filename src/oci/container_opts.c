/* Parsing the options of `create` and `run` and the container id they name. */
#include "oci/container_opts.h"
#include "oci/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_PID_FILE = 256,
	OPT_CONSOLE_SOCKET,
	OPT_PRESERVE_FDS,
	OPT_NO_PIVOT,
	OPT_NO_NEW_KEYRING,
	OPT_NO_SUBREAPER,
	OPT_KEEP,
};

static const struct option container_options[] = {
	{ "bundle", required_argument, NULL, 'b' },
	{ "detach", no_argument, NULL, 'd' },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET },
	{ "preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS },
	{ "no-pivot", no_argument, NULL, OPT_NO_PIVOT },
	{ "no-new-keyring", no_argument, NULL, OPT_NO_NEW_KEYRING },
	{ "no-subreaper", no_argument, NULL, OPT_NO_SUBREAPER },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ NULL, 0, NULL, 0 },
};

static int parse_count(const char *verb, const char *text, unsigned *out, krun_error_t *err)
{
	char *end;
	unsigned long n;

	if (text[0] < '0' || text[0] > '9')
		goto bad;
	n = strtoul(text, &end, 10);
	if (*end || n > INT_MAX)
		goto bad;
	*out = n;
	return 0;
bad:
	return cli_usage_error(err, "%s: --preserve-fds `%s`: not a number", verb, text);
}

static int apply_option(const char *verb, int c, struct container_opts *o, krun_error_t *err)
{
	switch (c) {
	case 'b':
		o->bundle = optarg;
		break;
	case 'd':
		o->detach = true;
		break;
	case OPT_PID_FILE:
		o->pid_file = optarg;
		break;
	case OPT_CONSOLE_SOCKET:
		o->console_socket = optarg;
		break;
	case OPT_PRESERVE_FDS:
		return parse_count(verb, optarg, &o->preserve_fds, err);
	case OPT_NO_PIVOT:
		o->no_pivot = true;
		break;
	case OPT_NO_NEW_KEYRING:
		o->no_new_keyring = true;
		break;
	case OPT_KEEP:
		o->keep = true;
		break;
	case OPT_NO_SUBREAPER:
		break; /* accepted for compatibility: krun never needs to reap here */
	}
	return 0;
}

int container_opts_parse(int argc, char **argv, bool is_run, struct container_opts *o,
			 krun_error_t *err)
{
	const char *optstring = is_run ? "+:b:d" : "+:b:";
	const char *verb = argv[0];
	int c, ret;

	memset(o, 0, sizeof(*o));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, container_options, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_getopt_error(verb, c, optstring, argv, err);
		if ((c == 'd' || c == OPT_KEEP) && !is_run)
			return cli_usage_error(err, "%s: unknown option `%s`", verb,
					       c == 'd' ? "--detach" : "--keep");
		ret = apply_option(verb, c, o, err);
		if (ret < 0)
			return ret;
	}
	if (optind >= argc)
		return cli_usage_error(err, "%s: missing container ID", verb);
	if (optind + 1 < argc)
		return cli_usage_error(err, "%s: unexpected argument `%s` after the container ID",
				       verb, argv[optind + 1]);
	o->id = argv[optind];
	if (o->preserve_fds)
		return krun_make_error(
		    err, 0,
		    "%s: --preserve-fds: passing file descriptors to the workload "
		    "in the VM is not supported",
		    verb);
	return 0;
}

int container_id_validate(const char *id, krun_error_t *err)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_+.-";
	size_t bad = strspn(id, allowed);

	if (*id == '\0')
		return krun_make_error(err, 0, "the container ID is empty");
	if (strlen(id) > 255)
		return krun_make_error(err, 0, "container ID `%.32s...` is longer than 255 bytes",
				       id);
	if (id[bad] != '\0')
		return krun_make_error(err, 0,
				       "container ID `%s`: invalid character at position %zu "
				       "(allowed: letters, digits, _ + . -)",
				       id, bad + 1);
	if (*id == '.')
		return krun_make_error(err, 0, "container ID `%s` must not start with `.`", id);
	return 0;
}
