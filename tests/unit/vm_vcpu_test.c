/* A vCPU whose KVM_RUN fails stops the VM with an error that carries the errno as its
 * status (vm_run returns it), not only as text. /dev/null stands for the vCPU fd. */
#include "tap.h"
#include "vm/vcpu.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct vcpu *v = &vm->vcpu[0];
	krun_error_t err = NULL;

	vm->cfg.cpus = 1;
	pthread_mutex_init(&vm->lock, NULL);
	if (event_loop_new(&vm->loop, &err) < 0 || vcpu_install_kick_handler(&err) < 0)
		return 1;
	v->vm = vm;
	v->fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	v->run = calloc(1, sizeof(*v->run)); /* vm_stop writes immediate_exit there */
	ok(vcpu_start(v, &err) == 0, "the vCPU thread starts");
	vcpu_join(v);
	ok(vm->error != NULL, "the failed KVM_RUN is the VM's error");
	if (vm->error) {
		is_int(vm->error->status, ENOTTY, "its status is KVM_RUN's errno");
		is_str(vm->error->msg, "vCPU 0: KVM_RUN: Inappropriate ioctl for device",
		       "its message names the vCPU, the call and the errno once");
	}
	krun_error_release(&vm->error);
	close(v->fd);
	free(v->run);
	event_loop_free(vm->loop);
	free(vm);
	return tap_done();
}
