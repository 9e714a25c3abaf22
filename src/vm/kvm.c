/* /dev/kvm: opening it, refusing a KVM that cannot run the guest, host-wide queries (kvm.h). */
#include "vm/kvm.h"
#include "vm/cpuid.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KVM_PVM_MODULE "/sys/module/kvm_pvm"

static const struct {
	long cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "IRQCHIP" },
	{ KVM_CAP_IOEVENTFD, "IOEVENTFD" },
	{ KVM_CAP_IRQFD, "IRQFD" },
	{ KVM_CAP_USER_MEMORY, "USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" },
	{ KVM_CAP_PIT2, "PIT2" },
	{ KVM_CAP_EXT_CPUID, "EXT_CPUID" },
	{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
};

bool kvm_has_cap(int fd, long cap)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static int check_kvm(int fd, krun_error_t *err)
{
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);

	if (version != KVM_API_VERSION)
		return krun_make_error(err, ENOTSUP, "%s: KVM API version %d, expected %d",
				       KVM_DEVICE, version, KVM_API_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++)
		if (!kvm_has_cap(fd, required_caps[i].cap))
			return krun_make_error(err, ENOTSUP, "%s: KVM lacks the capability %s",
					       KVM_DEVICE, required_caps[i].name);
	return 0;
}

static int open_device(int device_fd)
{
	if (device_fd >= 0)
		return fcntl(device_fd, F_DUPFD_CLOEXEC, 0);
	return open(KVM_DEVICE, O_RDWR | O_CLOEXEC);
}

int kvm_open(int device_fd, bool allow_pvm, int *kvm_fd, krun_error_t *err)
{
	cleanup_close int fd = open_device(device_fd);
	int ret;

	if (fd < 0 && errno == ENOENT)
		return krun_make_error(err, ENOENT,
				       "%s does not exist: this host has no KVM (load "
				       "kvm_intel or kvm_amd, or run on a host with hardware "
				       "virtualisation)",
				       KVM_DEVICE);
	if (fd < 0)
		return krun_make_error(err, errno, "open %s", KVM_DEVICE);
	if (!allow_pvm && access(KVM_PVM_MODULE, F_OK) == 0)
		return krun_make_error(err, ENOTSUP,
				       "%s is the kvm_pvm software hypervisor, which "
				       "cannot run the krun guest: run on a host with hardware "
				       "virtualisation (VT-x/AMD-V) or inside tests/kvmhost",
				       KVM_DEVICE);
	ret = check_kvm(fd, err);
	if (ret < 0)
		return ret;
	*kvm_fd = steal_fd(&fd);
	return 0;
}

int kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out, krun_error_t *err)
{
	/* Hosts report well under 128 entries today; grow if KVM asks for more. */
	for (unsigned capacity = 128; capacity <= 4096; capacity *= 2) {
		struct kvm_cpuid2 *c = cpuid_alloc(capacity);
		int ret = ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c), saved_errno = errno;

		if (ret == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (saved_errno != E2BIG)
			return krun_make_error(err, saved_errno, "KVM_GET_SUPPORTED_CPUID");
	}
	return krun_make_error(err, E2BIG, "KVM_GET_SUPPORTED_CPUID");
}
