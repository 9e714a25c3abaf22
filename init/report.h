/* The end of every VM: tell the VMM the exit status, then power off. */
#ifndef KRUN_INIT_REPORT_H
#define KRUN_INIT_REPORT_H

/* _IO('v', 2), the ioctl the VMM's virtio-fs server takes as the VM's exit status (the
 * host calls it KRUN_IOCTL_EXIT_CODE). It has no size bits, so the guest FUSE client
 * passes the argument value through untouched. */
#define INIT_IOCTL_EXIT_CODE 0x7602
#define FUSE_SUPER_MAGIC     0x65735546

/* Reports status through root_fd (the root directory, opened at start), syncs and
 * reboots; with reboot=k the reset ends the VM. Never returns. */
void report_and_power_off(int root_fd, int status) __attribute__((noreturn));

#endif
