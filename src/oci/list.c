/* krun list [-q] [--format table|json]: the containers of the state root. */
#include "oci/verbs.h"
#include "oci/id_verb.h"
#include "oci/log.h"
#include "util/json_gen.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct list_opts {
	bool quiet, json;
};

static int parse(int argc, char **argv, struct list_opts *o, krun_error_t *err)
{
	static const struct option options[] = { { "quiet", no_argument, NULL, 'q' },
						 { "format", required_argument, NULL, 'f' },
						 { NULL, 0, NULL, 0 } };
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:qf:", options, NULL)) != -1) {
		if (c == 'q') {
			o->quiet = true;
		} else if (c == 'f') {
			if (strcmp(optarg, "table") && strcmp(optarg, "json"))
				return cli_usage_error(
				    err, "list: unknown format `%s` (table or json)", optarg);
			o->json = !strcmp(optarg, "json");
		} else {
			return cli_getopt_error(argv[0], c, "+:qf:", argv, err);
		}
	}
	return id_verb_positionals(argv[0], argc, argv, 0, 0, err);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The container ids, sorted; dot entries are krun's own. */
static int read_ids(const char *root, char ***ids, size_t *n, krun_error_t *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *e;
	int ret;

	*ids = NULL;
	*n = 0;
	ret = status_root_check(root, err);
	if (ret == -ENOENT) {
		krun_error_release(err);
		return 0;
	}
	if (ret < 0)
		return ret;
	d = opendir(root);
	if (!d)
		return krun_make_error(err, errno, "open `%s`", root);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		*ids = xrealloc(*ids, (*n + 1) * sizeof(**ids));
		(*ids)[(*n)++] = xstrdup(e->d_name);
	}
	qsort(*ids, *n, sizeof(**ids), compare_names);
	return 0;
}

static void print_entry(yajl_gen g, const struct list_opts *o, const struct container_state *s,
			enum container_status st)
{
	pid_t pid = st == CONTAINER_STOPPED ? 0 : s->pid;

	if (o->quiet) {
		printf("%s\n", s->id);
	} else if (o->json) {
		yajl_gen_map_open(g);
		json_gen_kv_str(g, "id", s->id);
		json_gen_kv_int(g, "pid", pid);
		json_gen_kv_str(g, "status", status_name(st));
		json_gen_kv_str(g, "bundle", s->bundle);
		json_gen_kv_str(g, "created", s->created);
		json_gen_kv_str(g, "owner", s->owner);
		yajl_gen_map_close(g);
	} else {
		printf("%-20s %-8d %-8s %-40s %-32s %s\n", s->id, pid, status_name(st), s->bundle,
		       s->created, s->owner);
	}
}

int krun_cmd_list(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_free char *root = status_root(g);
	cleanup_json_gen yajl_gen gen = NULL;
	struct list_opts o = { 0 };
	char **ids = NULL;
	size_t n = 0;
	int ret;

	ret = parse(argc, argv, &o, err);
	if (ret < 0)
		return ret;
	ret = read_ids(root, &ids, &n, err);
	if (ret < 0)
		return ret;
	if (o.json) {
		gen = json_gen_new(true);
		yajl_gen_array_open(gen);
	} else if (!o.quiet) {
		printf("%-20s %-8s %-8s %-40s %-32s %s\n", "NAME", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
	}
	for (size_t i = 0; i < n; i++) {
		cleanup_container_state struct container_state *s = NULL;
		enum container_status st;
		krun_error_t skip = NULL;

		/* A container being created or deleted right now is simply not listed; one whose
		 * directory is not ours alone is not either, but said. */
		ret = status_load(root, ids[i], &s, &skip);
		if (ret == 0 && status_get(s, &st, &skip) == 0)
			print_entry(gen, &o, s, st);
		else if (ret == -EPERM || ret == -ELOOP)
			log_warning("%s", skip->msg);
		krun_error_release(&skip);
		free(ids[i]);
	}
	free(ids);
	if (o.json) {
		cleanup_free char *text = NULL;

		yajl_gen_array_close(gen);
		text = json_gen_take(gen, NULL);
		printf("%s\n", text);
	}
	return fflush(stdout) == 0 ? 0 : krun_make_error(err, errno, "list: write");
}
