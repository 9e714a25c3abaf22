/* The KVM virtual machine: creating it, starting and stopping its vCPUs, and what devices
 * may register with it (vm.h, bus.h). */
#include "vm/vm_internal.h"
#include "vm/boot.h"
#include "vm/cpu.h"
#include "vm/kvm.h"
#include "vm/loader.h"
#include "vm/memory.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

static int check_config(const struct vm_params *cfg, krun_error_t *err)
{
	if (cfg->cpus < 1 || cfg->cpus > VM_MAX_CPUS)
		return krun_make_error(err, EINVAL, "%u vCPUs requested: 1 to %d are supported",
				       cfg->cpus, VM_MAX_CPUS);
	if (cfg->ram_mib < VM_MIN_RAM_MIB || cfg->ram_mib > VM_MAX_RAM_MIB)
		return krun_make_error(
		    err, EINVAL, "%llu MiB of RAM requested: %d MiB to %d MiB are supported",
		    (unsigned long long)cfg->ram_mib, VM_MIN_RAM_MIB, VM_MAX_RAM_MIB);
	return 0;
}

static int create_vm_fd(struct vm *vm, krun_error_t *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0)
		return krun_make_error(err, errno, "KVM_CREATE_VM");
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)GUEST_KVM_TSS_ADDR) < 0)
		return krun_make_error(err, errno, "KVM_SET_TSS_ADDR");
	/* PIC, IOAPIC and LAPICs in KVM, before any vCPU exists; the PIT too, with its
	 * speaker port handled in the kernel. */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return krun_make_error(err, errno, "KVM_CREATE_IRQCHIP");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return krun_make_error(err, errno, "KVM_CREATE_PIT2");
	return 0;
}

static int create_vcpus(struct vm *vm, krun_error_t *err)
{
	int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	int ret;

	if (run_size < (int)sizeof(struct kvm_run))
		return krun_make_error(err, errno, "KVM_GET_VCPU_MMAP_SIZE");
	ret = kvm_supported_cpuid(vm->kvm_fd, &vm->host_cpuid, err);
	if (ret < 0)
		return ret;
	vm->tsc_deadline = kvm_has_cap(vm->kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER);
	for (unsigned i = 0; i < vm->cfg.cpus; i++) {
		ret = vcpu_init(&vm->vcpu[i], vm, i, (size_t)run_size, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int build(struct vm *vm, krun_error_t *err)
{
	int ret;

	ret = kvm_open(vm->cfg.kvm_fd, vm->cfg.setup_only, &vm->kvm_fd, err);
	if (ret < 0)
		return ret;
	ret = create_vm_fd(vm, err);
	if (ret < 0)
		return ret;
	ret = guest_mem_map(&vm->mem, vm->cfg.ram_mib << 20, err);
	if (ret < 0)
		return ret;
	ret = guest_mem_register(&vm->mem, vm->vm_fd, err);
	if (ret < 0)
		return ret;
	ret = create_vcpus(vm, err);
	if (ret < 0)
		return ret;
	return event_loop_new(&vm->loop, err);
}

int vm_create(const struct vm_params *cfg, struct vm **out, krun_error_t *err)
{
	struct vm *vm;
	int ret = check_config(cfg, err);

	if (ret < 0)
		return ret;
	vm = xzalloc(sizeof(*vm));
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	for (unsigned i = 0; i < VM_MAX_CPUS; i++)
		vm->vcpu[i].fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pio_init(&vm->pio, cfg->debug);
	ret = build(vm, err);
	if (ret < 0) {
		vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

int vm_load_kernel(struct vm *vm, const char *path, bool custom, krun_error_t *err)
{
	int ret = kernel_load(&vm->mem, path, custom, &vm->entry, err);

	if (ret < 0)
		return ret;
	vm->kernel_loaded = true;
	return 0;
}

int vm_start(struct vm *vm, const char *cmdline, krun_error_t *err)
{
	int ret;

	if (!vm->kernel_loaded)
		return krun_make_error(err, EINVAL, "start the VM: no kernel loaded");
	ret = boot_write(&vm->mem, cmdline, vm->cfg.cpus, err);
	if (ret < 0)
		return ret;
	ret = cpu_set_boot_state(vm->vcpu[0].fd, vm->entry, err);
	if (ret < 0)
		return ret;
	ret = vcpu_install_kick_handler(err);
	if (ret < 0)
		return ret;
	atomic_store(&vm->started, true);
	for (unsigned i = 0; i < vm->cfg.cpus; i++) {
		ret = vcpu_start(&vm->vcpu[i], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void vm_shutdown(struct vm *vm)
{
	vm_stop(vm, "VM shut down by the VMM");
	for (unsigned i = 0; i < vm->cfg.cpus; i++)
		vcpu_join(&vm->vcpu[i]);
}

int vm_run(struct vm *vm, krun_error_t *err)
{
	int ret = event_loop_run(vm->loop, err);

	if (ret < 0)
		vm_stop(vm, "event loop failure");
	vm_shutdown(vm);
	pio_flush(&vm->pio);
	if (ret < 0 || !vm->error)
		return ret;
	ret = -(vm->error->status ? vm->error->status : EIO);
	if (err && !*err)
		*err = steal_ptr(&vm->error);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (vm->loop)
		vm_shutdown(vm);
	for (unsigned i = 0; i < VM_MAX_CPUS; i++)
		vcpu_destroy(&vm->vcpu[i]);
	event_loop_free(vm->loop);
	mmio_bus_free(&vm->mmio);
	guest_mem_unmap(&vm->mem);
	free(vm->host_cpuid);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pio_destroy(&vm->pio);
	krun_error_release(&vm->error);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

void vm_stop(struct vm *vm, const char *reason)
{
	pthread_mutex_lock(&vm->lock);
	if (atomic_load(&vm->stopping)) {
		/* The kicks are sticky; vCPUs started later kick themselves (vcpu_start). */
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	vm->stop_reason = reason;
	atomic_store(&vm->stopping, true);
	for (unsigned i = 0; i < vm->cfg.cpus; i++)
		vcpu_kick(&vm->vcpu[i]);
	pthread_mutex_unlock(&vm->lock);
	event_loop_stop(vm->loop);
}

void vm_request_stop(struct vm *vm)
{
	vm_stop(vm, "stop requested by the VMM");
}

void vm_fail(struct vm *vm, krun_error_t *e)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->error)
		vm->error = steal_ptr(e);
	pthread_mutex_unlock(&vm->lock);
	krun_error_release(e);
	vm_stop(vm, "vCPU error");
}

const char *vm_stop_reason(struct vm *vm)
{
	const char *reason;

	pthread_mutex_lock(&vm->lock);
	reason = vm->stop_reason;
	pthread_mutex_unlock(&vm->lock);
	return reason ? reason : "not stopped";
}

bool vm_first_run_time(struct vm *vm, struct timespec *ts)
{
	bool set;

	pthread_mutex_lock(&vm->lock);
	set = vm->first_run_set;
	*ts = vm->first_run;
	pthread_mutex_unlock(&vm->lock);
	return set;
}

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len, const struct mmio_ops *ops,
		     void *opaque, krun_error_t *err)
{
	if (atomic_load(&vm->started))
		return krun_make_error(err, EBUSY, "MMIO range at 0x%llx: the vCPUs already run",
				       (unsigned long long)base);
	return mmio_bus_add(&vm->mmio, base, len, ops, opaque, err);
}

int vm_add_ioeventfd(struct vm *vm, uint64_t gpa, uint32_t datamatch, int fd, krun_error_t *err)
{
	struct kvm_ioeventfd ioev = { .datamatch = datamatch,
				      .addr = gpa,
				      .len = 4,
				      .fd = fd,
				      .flags = KVM_IOEVENTFD_FLAG_DATAMATCH };

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioev) < 0)
		return krun_make_error(err, errno, "KVM_IOEVENTFD at 0x%llx",
				       (unsigned long long)gpa);
	return 0;
}

int vm_add_irqfd(struct vm *vm, unsigned gsi, int fd, krun_error_t *err)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };

	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return krun_make_error(err, errno, "KVM_IRQFD for IRQ %u", gsi);
	return 0;
}

struct guest_mem *vm_guest_mem(struct vm *vm)
{
	return &vm->mem;
}

struct event_loop *vm_event_loop(struct vm *vm)
{
	return vm->loop;
}
