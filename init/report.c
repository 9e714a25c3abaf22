/* The end of every VM: the exit status to the VMM, then power off. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "log.h"
#include "report.h"

static void report_status(int root_fd, int status)
{
	struct statfs sfs;

	/* Only virtio-fs knows this ioctl; on another root the number could mean anything. */
	if (root_fd < 0 || fstatfs(root_fd, &sfs) < 0 || sfs.f_type != FUSE_SUPER_MAGIC) {
		log_msg("warning: the root is not virtio-fs: exit status %d not reported", status);
		return;
	}
	if (ioctl(root_fd, INIT_IOCTL_EXIT_CODE, (unsigned long)status) < 0)
		log_msg("warning: reporting exit status %d: %s", status, strerror(errno));
}

void report_and_power_off(int root_fd, int status)
{
	report_status(root_fd, status);
	sync();
	reboot(RB_AUTOBOOT);
	/* Still here: PID 1 exiting makes the kernel panic, and panic=-1 resets the VM. */
	log_msg("reboot: %s", strerror(errno));
	_exit(status);
}
