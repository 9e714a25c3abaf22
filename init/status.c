/* The exit status the VM reports, from what happened to the workload. */
#include <errno.h>
#include <sys/wait.h>
#include "common.h"
#include "status.h"

int status_from_wait(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return STATUS_INIT_FAILED; /* stopped or continued: not an end, never asked for */
}

int status_from_exec_errno(int errnum)
{
	return errnum == ENOENT ? STATUS_NOT_FOUND : STATUS_CANNOT_EXECUTE;
}
