/* Internal to src/annotations: the table of settings and the steps of vm_config_compute. */
#ifndef KRUN_ANNOTATIONS_VM_KEYS_H
#define KRUN_ANNOTATIONS_VM_KEYS_H

#include "annotations/vm_config.h"

struct vm_key {
	const char *annotation; /* NULL: only in .krun_vm.json */
	const char *json_key;
	bool is_string;
	int64_t min, max; /* integers */
	/* strings: the problem with s, or NULL when it is acceptable */
	const char *(*check_string)(const char *s);
};

extern const struct vm_key vm_keys[VM_N_FIELDS];

/* Turns the collected settings (integers in num[]) into the final values, with defaults. */
int vm_config_resolve(const struct vm_sources *src, const int64_t num[VM_N_FIELDS],
		      struct vm_config *c, krun_error_t *err);

/* Records a warning for the caller (silently dropped beyond VM_MAX_WARNINGS). */
void vm_config_warn(struct vm_config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
