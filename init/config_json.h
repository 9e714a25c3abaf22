/* Typed accessors over json-c for config parsing (internal to config*.c). Each takes the
 * dotted name of the field for its error message. A member that is absent or JSON null
 * counts as absent: the getter returns 0 and leaves *out untouched unless `required`. */
#ifndef KRUN_INIT_CONFIG_JSON_H
#define KRUN_INIT_CONFIG_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include "common.h"

/* Returns 1 with *out set when the member exists and has the type, 0 when absent (an error
 * when required), or a negative errno when the type is wrong. */
int json_member(json_object *obj, const char *key, json_type type, bool required, const char *name,
		json_object **out, struct init_error *err);

/* Value checks on an element already in hand; `name` names it in messages. */
int json_as_string(json_object *v, const char *name, char **out, struct init_error *err);
int json_as_u64(json_object *v, const char *name, uint64_t max, uint64_t *out,
		struct init_error *err);

int json_get_string(json_object *obj, const char *key, bool required, const char *name, char **out,
		    struct init_error *err);
int json_get_bool(json_object *obj, const char *key, const char *name, bool *out,
		  struct init_error *err);
int json_get_u32(json_object *obj, const char *key, bool required, const char *name, uint32_t *out,
		 struct init_error *err);
/* An array of strings, returned NULL-terminated with its length. */
int json_get_strv(json_object *obj, const char *key, bool required, const char *name, char ***out,
		  size_t *len, struct init_error *err);

/* The `process` object (config_process.c). */
struct init_process;
int config_parse_process(json_object *obj, struct init_process *p, struct init_error *err);

#endif
