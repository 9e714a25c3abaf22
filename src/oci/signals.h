/* Signal names as `kill` takes them: "TERM", "SIGTERM", "sigterm", "15", "RTMIN+2". */
#ifndef KRUN_OCI_SIGNALS_H
#define KRUN_OCI_SIGNALS_H

/* The signal number, or -EINVAL. */
int signal_parse(const char *text);

#endif
