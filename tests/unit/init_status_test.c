/* The exit status the VM reports, and the rlimit names of the OCI config. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../../init/rlimit.h"
#include "../../init/status.h"
#include "tap.h"

/* The waitpid status of a real child that runs fn. */
static int wait_status_of(void (*fn)(void))
{
	int wstatus = -1;
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(99);
	}
	waitpid(pid, &wstatus, 0);
	return wstatus;
}

static void exit_0(void)
{
	_exit(0);
}
static void exit_3(void)
{
	_exit(3);
}
static void exit_255(void)
{
	_exit(255);
}
static void die_sigkill(void)
{
	raise(SIGKILL);
}
static void die_sigterm(void)
{
	signal(SIGTERM, SIG_DFL);
	raise(SIGTERM);
}

int main(void)
{
	is_int(status_from_wait(wait_status_of(exit_0)), 0, "exit 0");
	is_int(status_from_wait(wait_status_of(exit_3)), 3, "exit 3");
	is_int(status_from_wait(wait_status_of(exit_255)), 255, "exit 255");
	is_int(status_from_wait(wait_status_of(die_sigkill)), 128 + SIGKILL, "SIGKILL: 137");
	is_int(status_from_wait(wait_status_of(die_sigterm)), 128 + SIGTERM, "SIGTERM: 143");

	is_int(status_from_exec_errno(ENOENT), 127, "not found: 127");
	is_int(status_from_exec_errno(EACCES), 126, "permission denied: 126");
	is_int(status_from_exec_errno(ENOEXEC), 126, "bad format: 126");
	is_int(status_from_exec_errno(EISDIR), 126, "a directory: 126");
	is_int(status_from_exec_errno(E2BIG), 126, "arguments too long: 126");

	is_int(rlimit_from_name("RLIMIT_NOFILE"), RLIMIT_NOFILE, "RLIMIT_NOFILE");
	is_int(rlimit_from_name("RLIMIT_AS"), RLIMIT_AS, "RLIMIT_AS");
	is_int(rlimit_from_name("RLIMIT_RTTIME"), RLIMIT_RTTIME, "RLIMIT_RTTIME");
	is_int(rlimit_from_name("RLIMIT_STACK"), RLIMIT_STACK, "RLIMIT_STACK");
	is_int(rlimit_from_name("rlimit_nofile"), -1, "names are case-sensitive");
	is_int(rlimit_from_name("NOFILE"), -1, "the RLIMIT_ prefix is required");
	is_int(rlimit_from_name(""), -1, "empty name");
	int all_named = 1;
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		const char *name = rlimit_name(r);
		all_named &= name && rlimit_from_name(name) == r;
	}
	ok(all_named, "every kernel resource has a name that maps back to it");
	ok(rlimit_name(RLIM_NLIMITS) == NULL, "no name past the last resource");
	return tap_done();
}
