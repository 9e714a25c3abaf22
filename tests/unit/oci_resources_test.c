/* src/oci/resources.c: linux.resources objects, valid and invalid. Documents are written
 * with ' for " to stay readable. */
#include "oci/resources.h"
#include "annotations/json.h"
#include "util/util.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

/* Parses the object; returns NULL on success, else the error message (static). */
static const char *parse(const char *path, const char *single_quoted, struct oci_resources *out)
{
	static char msg[512];
	cleanup_free char *text = xstrdup(single_quoted);
	krun_error_t err = NULL;
	yajl_val doc = NULL;
	int ret;

	for (char *p = text; *p; p++) {
		if (*p == '\'')
			*p = '"';
	}
	*out = (struct oci_resources){ 0 };
	ret = json_parse_object("test", text, strlen(text), &doc, &err);
	if (ret == 0)
		ret = oci_resources_parse("config.json", path, doc, out, &err);
	yajl_tree_free(doc);
	if (ret == 0)
		return NULL;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	krun_error_release(&err);
	return msg;
}

static const char *error_of(const char *single_quoted)
{
	struct oci_resources r;
	const char *msg = parse("linux.resources", single_quoted, &r);

	oci_resources_release(&r);
	return msg ? msg : "(no error)";
}

static void test_full(void)
{
	struct oci_resources r;
	const char *msg = parse("linux.resources",
				"{'memory': {'limit': 300000000, 'reservation': 100000000,"
				" 'swap': 600000000, 'swappiness': 10},"
				" 'cpu': {'shares': 512, 'quota': 50000, 'period': 100000,"
				" 'cpus': '0-1,3', 'mems': '0'},"
				" 'pids': {'limit': 100}, 'devices': [{'allow': false}]}",
				&r);

	ok(msg == NULL, "a full resources object parses");
	ok(r.has_memory_limit && r.memory_limit == 300000000, "memory.limit");
	ok(r.has_memory_reservation && r.memory_reservation == 100000000, "memory.reservation");
	ok(r.has_memory_swap && r.memory_swap == 600000000, "memory.swap");
	ok(r.has_cpu_shares && r.cpu_shares == 512, "cpu.shares");
	ok(r.has_cpu_quota && r.cpu_quota == 50000, "cpu.quota");
	ok(r.has_cpu_period && r.cpu_period == 100000, "cpu.period");
	is_str(r.cpuset_cpus, "0-1,3", "cpu.cpus");
	is_str(r.cpuset_mems, "0", "cpu.mems");
	ok(r.has_pids_limit && r.pids_limit == 100, "pids.limit");
	oci_resources_release(&r);
	ok(!r.cpuset_cpus && !r.has_memory_limit, "release clears the struct");
}

static void test_absent_zero_unlimited(void)
{
	struct oci_resources r;

	ok(oci_resources_parse("config.json", "linux.resources", NULL, &r, NULL) == 0 &&
	       !r.has_memory_limit && !r.has_cpu_shares && !r.has_pids_limit && !r.cpuset_cpus,
	   "no resources object: nothing set");
	ok(parse("linux.resources", "{'memory': {}, 'cpu': {'cpus': ''}}", &r) == NULL &&
	       !r.has_memory_limit && !r.cpuset_cpus,
	   "empty memory object and empty cpus: nothing set");
	oci_resources_release(&r);
	ok(parse("linux.resources",
		 "{'memory': {'limit': 0, 'swap': 0}, 'cpu': {'shares': 0, 'quota': 0,"
		 " 'period': 0}, 'pids': {'limit': 0}}",
		 &r) == NULL,
	   "zeros parse");
	ok(!r.has_memory_limit && !r.has_memory_swap && !r.has_cpu_shares && !r.has_cpu_quota &&
	       !r.has_cpu_period,
	   "zero memory and cpu values mean not set");
	ok(r.has_pids_limit && r.pids_limit == 0, "pids.limit 0 is kept (unlimited)");
	ok(parse(
	       "linux.resources",
	       "{'memory': {'limit': -1, 'swap': -1}, 'cpu': {'quota': -1}, 'pids': {'limit': -1}}",
	       &r) == NULL,
	   "-1 values parse");
	ok(r.has_memory_limit && r.memory_limit == -1 && r.has_memory_swap && r.memory_swap == -1 &&
	       r.has_cpu_quota && r.cpu_quota == -1 && r.has_pids_limit && r.pids_limit == -1,
	   "-1 is kept as unlimited");
	ok(parse("", "{'cpu': {'shares': 18446744073709551615}}", &r) == NULL &&
	       r.cpu_shares == UINT64_MAX,
	   "the top-level document of update --resources, with a huge shares value");
}

static void test_errors(void)
{
	is_str(error_of("{'memory': {'limit': -2}}"),
	       "config.json: linux.resources.memory.limit must be an integer from -1 to "
	       "9223372036854775807",
	       "memory.limit below -1");
	is_str(error_of("{'memory': {'reservation': 'x'}}"),
	       "config.json: linux.resources.memory.reservation must be an integer from -1 to "
	       "9223372036854775807",
	       "memory.reservation not a number");
	is_str(error_of("{'memory': 5}"), "config.json: linux.resources.memory must be an object",
	       "memory not an object");
	is_str(error_of("{'cpu': {'shares': -1}}"),
	       "config.json: linux.resources.cpu.shares must be an integer from 0 to "
	       "18446744073709551615",
	       "negative shares");
	is_str(error_of("{'cpu': {'quota': 1.5}}"),
	       "config.json: linux.resources.cpu.quota must be an integer from -1 to "
	       "9223372036854775807",
	       "fractional quota");
	is_str(error_of("{'cpu': {'cpus': '0-1\\n'}}"),
	       "config.json: linux.resources.cpu.cpus must be a list like `0-3,6`, not `0-1\n`",
	       "cpus with a newline");
	is_str(error_of("{'cpu': {'mems': 'all'}}"),
	       "config.json: linux.resources.cpu.mems must be a list like `0-3,6`, not `all`",
	       "mems with letters");
	is_str(error_of("{'pids': {'limit': '10'}}"),
	       "config.json: linux.resources.pids.limit must be an integer from "
	       "-9223372036854775808 to 9223372036854775807",
	       "pids.limit as a string");
	is_str(error_of("{'pids': []}"), "config.json: linux.resources.pids must be an object",
	       "pids not an object");

	struct oci_resources r;
	const char *msg = parse("", "{'memory': {'swap': 'big'}}", &r);
	is_str(msg ? msg : "(no error)",
	       "config.json: memory.swap must be an integer from -1 to 9223372036854775807",
	       "an update document names keys from its top");
	ok(!r.has_memory_swap && !r.cpuset_cpus, "a failed parse leaves nothing set");
}

int main(void)
{
	test_full();
	test_absent_zero_unlimited();
	test_errors();
	return tap_done();
}
