/* init's own messages ("krun-init: ..."). They go to the console (/dev/hvc0) until the
 * workload's stderr is open, then to the workload's stderr. */
#ifndef KRUN_INIT_LOG_H
#define KRUN_INIT_LOG_H

#define CONSOLE_PATH "/dev/hvc0"

/* The fd messages go to (not owned); -1 drops them. */
void log_set_fd(int fd);
/* From now on, messages go to the console, opened on first use: /dev may not be mounted
 * yet when this is called. */
void log_to_console(void);

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
