/* Messages of the runtime itself: "krun: ..." on stderr, and with --log also a line in
 * that file (JSON {"level","msg","time"} with --log-format=json, as containerd and
 * podman read it). */
#ifndef KRUN_OCI_LOG_H
#define KRUN_OCI_LOG_H

#include <time.h>
#include "oci/cli.h"

/* Opens the --log file (append) if one was given. */
int log_open(const struct cli_globals *g, krun_error_t *err);
void log_close(void);

void log_error(const char *msg);
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One JSON log line with its newline; exposed for the unit tests. Caller frees. */
char *log_json_line(const char *level, const char *msg, const struct timespec *ts);
/* RFC 3339 UTC with microseconds: "2026-11-22T04:00:24.123456Z". */
#define LOG_TIME_SIZE 40
void log_format_time(const struct timespec *ts, char buf[LOG_TIME_SIZE]);

#endif
