/* The exit status the VM reports, from what happened to the workload. */
#ifndef KRUN_INIT_STATUS_H
#define KRUN_INIT_STATUS_H

/* From a waitpid() status: the exit code, or 128+N when killed by signal N. */
int status_from_wait(int wstatus);

/* For a failure to execute the program: 127 when it was not found, else 126. */
int status_from_exec_errno(int errnum);

#endif
