/* linux.resources of config.json (and the document of `update --resources`): the limits
 * krun applies to the container's cgroup. Zero values of memory and cpu fields mean "not
 * set", as Docker and the runc tooling write them, so they leave has_* false. */
#ifndef KRUN_OCI_RESOURCES_H
#define KRUN_OCI_RESOURCES_H

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>
#include "util/error.h"

struct oci_resources {
	bool has_memory_limit;
	int64_t memory_limit; /* bytes; -1 = unlimited */
	bool has_memory_reservation;
	int64_t memory_reservation; /* bytes; -1 = unlimited */
	bool has_memory_swap;
	int64_t memory_swap; /* memory + swap, bytes; -1 = unlimited */
	bool has_cpu_shares;
	uint64_t cpu_shares;
	bool has_cpu_quota;
	int64_t cpu_quota; /* microseconds per period; -1 = unlimited */
	bool has_cpu_period;
	uint64_t cpu_period;		 /* microseconds */
	char *cpuset_cpus, *cpuset_mems; /* "0-3,6"; NULL when absent or empty */
	bool has_pids_limit;
	int64_t pids_limit; /* <= 0 = unlimited */
};

/* Reads the resources object v (NULL: nothing set). doc names the document and path the
 * object's key path in errors ("config.json: linux.resources.memory.limit must be ...");
 * path may be "" for a document that is the object itself. Unknown keys are ignored. */
int oci_resources_parse(const char *doc, const char *path, yajl_val v, struct oci_resources *out,
			krun_error_t *err);

/* Frees the strings and clears *r. */
void oci_resources_release(struct oci_resources *r);
#define cleanup_resources __attribute__((cleanup(oci_resources_release)))

#endif
