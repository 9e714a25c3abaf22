/* vm_create's checks of what it is asked for, which come before KVM is touched: the
 * bounds are vm/limits.h's, the same the annotations apply. */
#include "tap.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* /dev/null stands for /dev/kvm: a request within the limits fails at KVM's API version
 * check, one outside them never gets there (setup_only lets it past kvm_pvm). */
static int create(int null_fd, unsigned cpus, uint64_t ram_mib, krun_error_t *err)
{
	struct vm_params p = {
		.kvm_fd = null_fd, .cpus = cpus, .ram_mib = ram_mib, .setup_only = true
	};
	struct vm *vm = NULL;
	int ret = vm_create(&p, &vm, err);

	if (ret == 0)
		vm_destroy(vm);
	return ret;
}

static void check(int null_fd, unsigned cpus, uint64_t ram_mib, bool within, const char *what)
{
	krun_error_t err = NULL;
	int ret = create(null_fd, cpus, ram_mib, &err);

	if (within)
		ok(ret < 0 && err && strstr(err->msg, "KVM API version"), what);
	else
		ok(ret == -EINVAL && err && strstr(err->msg, "are supported"), what);
	if (err)
		printf("#   %s\n", err->msg);
	krun_error_release(&err);
}

int main(void)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	check(null_fd, 1, VM_MIN_RAM_MIB, true, "the smallest RAM the annotations give passes");
	check(null_fd, 1, VM_MIN_RAM_MIB - 1, false,
	      "less RAM than the annotations allow: refused");
	check(null_fd, 1, VM_MAX_RAM_MIB, true, "the most RAM the annotations give passes");
	check(null_fd, 1, VM_MAX_RAM_MIB + 1, false,
	      "more RAM than the annotations allow: refused");
	check(null_fd, VM_MAX_CPUS, 512, true, "VM_MAX_CPUS vCPUs pass");
	check(null_fd, VM_MAX_CPUS + 1, 512, false, "one vCPU more: refused");
	check(null_fd, 0, 512, false, "no vCPU: refused");
	close(null_fd);
	return tap_done();
}
