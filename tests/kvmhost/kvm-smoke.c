// kvm-smoke: proves that /dev/kvm runs a real guest. It creates a VM with one vCPU in
// real mode whose code adds two numbers, writes the sum to an I/O port and halts, and
// checks every exit on the way. Prints one line per step; exits 0 when all went as planned.
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define GUEST_CODE_ADDR 0x1000
#define SUM_PORT	0xe9
#define EXPECTED_SUM	5

// mov al, 2; add al, 3; mov dx, SUM_PORT; out dx, al; hlt
static const uint8_t guest_code[] = { 0xb0, 0x02, 0x04, 0x03, 0xba, SUM_PORT, 0x00, 0xee, 0xf4 };

static void fail(const char *what)
{
	fprintf(stderr, "kvm-smoke: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int create_vm(int kvm)
{
	int version = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (version < 0)
		fail("KVM_GET_API_VERSION");
	if (version != KVM_API_VERSION) {
		fprintf(stderr, "kvm-smoke: KVM API version %d, expected %d\n", version,
			KVM_API_VERSION);
		exit(1);
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		fail("KVM_CREATE_VM");

	void *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail("mmap guest memory");
	memcpy(mem, guest_code, sizeof(guest_code));
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = GUEST_CODE_ADDR,
		.memory_size = 0x1000,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		fail("KVM_SET_USER_MEMORY_REGION");
	return vm;
}

// Real mode, flat code segment at 0, execution starting at the guest code.
static void reset_vcpu(int vcpu)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		fail("KVM_SET_SREGS");

	struct kvm_regs regs = { .rip = GUEST_CODE_ADDR, .rflags = 0x2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		fail("KVM_SET_REGS");
}

static void run_until_exit(int vcpu, struct kvm_run *run, uint32_t expected)
{
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		fail("KVM_RUN");
	if (run->exit_reason != expected) {
		fprintf(stderr, "kvm-smoke: exit reason %u, expected %u\n", run->exit_reason,
			expected);
		exit(1);
	}
}

static void check_port_write(struct kvm_run *run)
{
	const uint8_t *data = (const uint8_t *)run + run->io.data_offset;
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != SUM_PORT || run->io.size != 1 ||
	    run->io.count != 1 || *data != EXPECTED_SUM) {
		fprintf(stderr, "kvm-smoke: I/O exit dir %u port %#x size %u count %u data %u\n",
			run->io.direction, run->io.port, run->io.size, run->io.count, *data);
		exit(1);
	}
	printf("guest wrote %u to port %#x\n", *data, SUM_PORT);
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail("open /dev/kvm");
	int vm = create_vm(kvm);
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		fail("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < 0)
		fail("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		fail("mmap kvm_run");
	reset_vcpu(vcpu);

	run_until_exit(vcpu, run, KVM_EXIT_IO);
	check_port_write(run);
	run_until_exit(vcpu, run, KVM_EXIT_HLT);
	printf("guest halted\n");
	return 0;
}
