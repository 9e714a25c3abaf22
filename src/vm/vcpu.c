/* A vCPU's thread: KVM_RUN and its exits (port I/O, MMIO, shutdown, failures), and the
 * signal that kicks it out of the guest (vcpu.h). */
#include "vm/vcpu.h"
#include "vm/cpu.h"
#include "vm/cpuid.h"
#include "vm/vm_internal.h"
#include "util/util.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define KICK_SIGNAL SIGRTMIN

int vcpu_init(struct vcpu *v, struct vm *vm, unsigned index, size_t run_size, krun_error_t *err)
{
	struct cpuid_params params = { .cpu_index = index,
				       .ncpus = vm->cfg.cpus,
				       .nested = vm->cfg.nested_virt,
				       .tsc_deadline = vm->tsc_deadline };
	cleanup_free struct kvm_cpuid2 *cpuid = NULL;

	v->vm = vm;
	v->index = index;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return krun_make_error(err, errno, "KVM_CREATE_VCPU %u", index);
	v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return krun_make_error(err, errno, "map the kvm_run area of vCPU %u", index);
	}
	v->run_size = run_size;
	cpuid = cpuid_alloc(vm->host_cpuid->nent + CPUID_EXTRA_ENTRIES);
	cpuid_normalize(vm->host_cpuid, cpuid, &params);
	return cpu_configure(v->fd, index, cpuid, err);
}

static void on_kick(int sig)
{
	/* Nothing to do: delivery alone makes KVM_RUN return EINTR. */
}

int vcpu_install_kick_handler(krun_error_t *err)
{
	struct sigaction sa = { .sa_handler = on_kick }; /* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	if (sigaction(KICK_SIGNAL, &sa, NULL) < 0)
		return krun_make_error(err, errno, "install the vCPU kick signal handler");
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* Sticky: a vCPU about to enter KVM_RUN returns at once; the signal interrupts one
	 * already inside. */
	v->run->immediate_exit = 1;
	pthread_kill(v->thread, KICK_SIGNAL);
}

/* Stops the VM on this vCPU's failure; errnum (0 when none) is the error's status. */
static void fail(struct vcpu *v, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct vcpu *v, int errnum, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	krun_error_t e = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	krun_make_error(&e, errnum, "vCPU %u: %s", v->index, msg);
	vm_fail(v->vm, &e);
}

static void fail_internal(struct vcpu *v)
{
	const struct kvm_run *r = v->run;
	char data[16 * 19 + 1] = "";
	struct kvm_regs regs = { 0 };
	unsigned n = r->internal.ndata < 16 ? r->internal.ndata : 16;

	for (unsigned i = 0, off = 0; i < n; i++)
		off += snprintf(data + off, sizeof(data) - off, " 0x%llx",
				(unsigned long long)r->internal.data[i]);
	ioctl(v->fd, KVM_GET_REGS, &regs);
	fail(v, 0, "KVM internal error, suberror %u, at RIP 0x%llx; data:%s", r->internal.suberror,
	     (unsigned long long)regs.rip, n ? data : " none");
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;

	for (uint32_t i = 0; i < r->io.count; i++, data += r->io.size) {
		if (r->io.direction == KVM_EXIT_IO_OUT)
			pio_out(v->vm, &v->vm->pio, r->io.port, data, r->io.size);
		else
			pio_in(v->vm, &v->vm->pio, r->io.port, data, r->io.size);
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	const struct mmio_range *range =
	    mmio_bus_find(&v->vm->mmio, r->mmio.phys_addr, r->mmio.len);

	if (!range) {
		/* Nothing there: reads float high, writes vanish. */
		if (!r->mmio.is_write)
			memset(r->mmio.data, 0xff, sizeof(r->mmio.data));
		return;
	}
	if (r->mmio.is_write)
		range->ops->write(range->opaque, r->mmio.phys_addr - range->base, r->mmio.data,
				  r->mmio.len);
	else
		range->ops->read(range->opaque, r->mmio.phys_addr - range->base, r->mmio.data,
				 r->mmio.len);
}

/* Returns false when this vCPU must stop running. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *r = v->run;

	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vm_stop(v->vm, "triple fault");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		vm_stop(v->vm, "system event from KVM");
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		fail_internal(v);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		fail(v, 0, "KVM could not enter the guest, hardware reason 0x%llx on host CPU %u",
		     (unsigned long long)r->fail_entry.hardware_entry_failure_reason,
		     r->fail_entry.cpu);
		return false;
	default:
		fail(v, 0, "unexpected KVM exit reason %u", r->exit_reason);
		return false;
	}
}

static void note_first_run(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	clock_gettime(CLOCK_MONOTONIC, &vm->first_run);
	vm->first_run_set = true;
	pthread_mutex_unlock(&vm->lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];
	sigset_t kick;

	snprintf(name, sizeof(name), "vcpu%u", v->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&kick);
	sigaddset(&kick, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	if (v->index == 0)
		note_first_run(v->vm);
	if (v->vm->cfg.setup_only) {
		vm_stop(v->vm, "set-up only: the guest was not entered");
		return NULL;
	}
	while (!atomic_load(&v->vm->stopping)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fail(v, errno, "KVM_RUN");
			break;
		}
		if (!handle_exit(v))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *v, krun_error_t *err)
{
	sigset_t all, old;
	int ret;

	/* The thread starts with every signal blocked, so signals meant for the process go
	 * to the main thread; it then unblocks the kick signal alone. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0)
		return krun_make_error(err, ret, "start the thread of vCPU %u", v->index);
	/* A stop that came before this point did not see the thread: kick it now. */
	pthread_mutex_lock(&v->vm->lock);
	v->started = true;
	if (atomic_load(&v->vm->stopping))
		vcpu_kick(v);
	pthread_mutex_unlock(&v->vm->lock);
	return 0;
}

void vcpu_join(struct vcpu *v)
{
	bool started;

	if (!v->vm)
		return;
	/* Not kickable from here on: a joined thread id must not be signalled. */
	pthread_mutex_lock(&v->vm->lock);
	started = v->started;
	v->started = false;
	pthread_mutex_unlock(&v->vm->lock);
	if (started)
		pthread_join(v->thread, NULL);
}

void vcpu_destroy(struct vcpu *v)
{
	vcpu_join(v);
	if (v->run)
		munmap(v->run, v->run_size);
	close_and_reset(&v->fd);
	v->run = NULL;
}
