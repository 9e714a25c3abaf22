/* The real static init, end to end on the build host: PID 1 of throwaway pid, mount and
 * uts namespaces, chrooted into a fake root made of a static busybox. No test mode: the
 * workload reports through a file, and init's reboot() in a pid namespace ends that
 * namespace with SIGHUP (its exit status report is skipped: the root is not virtio-fs).
 * Needs root, unshare(1) and a static busybox; skipped without them. */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"

#define BUSYBOX "/usr/bin/busybox"

static const char config[] =
    "{\"process\":{\"user\":{\"uid\":1000,\"gid\":1000,\"additionalGids\":[4],\"umask\":23},"
    "\"args\":[\"sh\",\"-c\",\"exec >/work/out 2>&1; id; pwd; env | sort; umask; hostname; "
    "readlink /dev/ptmx; readlink /dev/fd; stat -c %a /dev/shm; cat /tmp/seed; "
    "awk -v s=- '{for(i=7;i<NF;i++)if($i==s)print $5,$(i+1)}' /proc/self/mountinfo | "
    "grep -v '^/ '; ulimit -n\"],"
    "\"env\":[\"PATH=/bin\",\"A=b\"],\"cwd\":\"/work\","
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":321,\"hard\":654}]},"
    "\"hostname\":\"e2ebox\","
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"options\":[\"nosuid\"]},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"options\":[\"mode=755\"]},"
    "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"options\":[\"size=1m\",\"tmpcopyup\"]},"
    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/etc/hosts\","
    "\"options\":[\"rbind\"]}]}";

static const char expected[] = "uid=1000(u) gid=1000 groups=4\n"
			       "/work\n"
			       "A=b\nHOME=/home/u\nPATH=/bin\nPWD=/work\nSHLVL=1\n"
			       "0027\n"
			       "e2ebox\n"
			       "pts/ptmx\n"
			       "/proc/self/fd\n"
			       "1777\n"
			       "copied up\n"
			       "/dev devtmpfs\n"
			       "/sys sysfs\n"
			       "/sys/fs/cgroup cgroup2\n"
			       "/dev/pts devpts\n"
			       "/dev/shm tmpfs\n"
			       "/dev/mqueue mqueue\n"
			       "/proc proc\n"
			       "/tmp tmpfs\n"
			       "321\n";

static void shell(const char *fmt, const char *root)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), fmt, root, root, root, root);
	if (system(cmd) != 0) {
		printf("Bail out! %s\n", cmd);
		exit(1);
	}
}

static void write_text(const char *root, const char *rel, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! write %s\n", path);
		exit(1);
	}
}

static void make_root(const char *root)
{
	shell("chmod 755 %s && mkdir -p %s/bin %s/etc %s/home/u", root);
	shell("mkdir -p %s/work %s/tmp %s/proc %s/sys", root);
	shell("chmod 1777 %s/work && cp " BUSYBOX " %s/bin/busybox && cp " KRUN_INIT_BUILT
	      " %s/init.krun && mkdir %s/dev",
	      root);
	shell("cd %s/bin && for c in sh id env sort umask hostname readlink stat cat awk grep; do "
	      "ln -s busybox $c; done",
	      root);
	write_text(root, "etc/passwd",
		   "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n");
	write_text(root, "tmp/seed", "copied up\n");
	write_text(root, ".krun_config.json", config);
}

static bool can_run(void)
{
	struct stat st;
	if (geteuid() != 0 || system("unshare --version >/dev/null 2>&1") != 0)
		return false;
	return stat(BUSYBOX, &st) == 0 &&
	       system("file " BUSYBOX " | grep -q 'statically linked'") == 0;
}

int main(void)
{
	char root[] = "/tmp/init_pidns_test.XXXXXX", cmd[512], out[4096] = "";

	if (!can_run()) {
		printf("1..0 # SKIP needs root, unshare and a static " BUSYBOX "\n");
		return 0;
	}
	if (!mkdtemp(root))
		abort();
	make_root(root);
	snprintf(cmd, sizeof(cmd),
		 "exec 2>/dev/null; unshare -fpmu --propagation private chroot %s /init.krun",
		 root);
	int wstatus = system(cmd);
	/* unshare passes on the death of its child: killed by SIGHUP, or exit 128+1. */
	ok((WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGHUP) ||
	       (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 128 + SIGHUP),
	   "init ended with reboot() (SIGHUP for a pid namespace)");

	snprintf(cmd, sizeof(cmd), "%s/work/out", root);
	int fd = open(cmd, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, out, sizeof(out) - 1) : -1;
	out[n > 0 ? n : 0] = '\0';
	is_str(out, expected, "the workload ran with the config's user, env, cwd, limits, mounts");

	snprintf(cmd, sizeof(cmd), "grep -q %s /proc/self/mountinfo", root);
	ok(system(cmd) != 0, "nothing stays mounted outside the namespace");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		abort();
	return tap_done();
}
