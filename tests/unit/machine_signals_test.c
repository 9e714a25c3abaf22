/* Which signals the VMM takes over for the workload (machine_signal_set). */
#include <signal.h>
#include <stdio.h>
#include "machine/machine.h"
#include "tap.h"

int main(void)
{
	const int forwarded[] = { SIGTERM, SIGINT,	 SIGHUP,       SIGQUIT, SIGUSR1, SIGUSR2,
				  SIGALRM, SIGCONT,	 SIGTSTP,      SIGTTIN, SIGTTOU, SIGABRT,
				  SIGURG,  SIGRTMIN + 1, SIGRTMIN + 3, SIGRTMAX };
	const int kept[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,	  SIGILL, SIGFPE, SIGTRAP,
			     SIGSYS,  SIGCHLD, SIGPIPE, SIGRTMIN, 32,	  33 };
	sigset_t set, tty;
	char name[64];

	machine_signal_set(&set, false);
	machine_signal_set(&tty, true);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		snprintf(name, sizeof(name), "signal %d goes to the workload", forwarded[i]);
		ok(sigismember(&set, forwarded[i]) == 1 && sigismember(&tty, forwarded[i]) == 1,
		   name);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		snprintf(name, sizeof(name), "signal %d stays the VMM's", kept[i]);
		ok(sigismember(&set, kept[i]) != 1 && sigismember(&tty, kept[i]) != 1, name);
	}
	ok(sigismember(&set, SIGWINCH) == 0, "SIGWINCH left alone without a terminal");
	ok(sigismember(&tty, SIGWINCH) == 1, "SIGWINCH taken with a terminal (resize)");
	return tap_done();
}
