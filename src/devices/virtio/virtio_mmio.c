/* Plugs a virtio device into the VM: the register window on the MMIO bus, one KVM
 * ioeventfd per queue on the notify register (datamatch = queue index, so guest kicks
 * never leave the kernel), the interrupt through irqfd, and the kernel command line
 * entry that tells the guest where the device is. The transport lives as long as the
 * VM: KVM keeps references to its eventfds and the bus to its state. */
#include "devices/virtio/virtio_mmio_internal.h"

#include <inttypes.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>

#include "util/util.h"
#include "vm/layout.h"

static const struct mmio_ops virtio_mmio_bus_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
};

static int bind_eventfds(struct vm *vm, struct virtio_device *dev, uint64_t base, unsigned irq,
			 krun_error_t *err)
{
	int ret;

	for (unsigned q = 0; q < dev->ops->num_queues; q++) {
		ret =
		    vm_add_ioeventfd(vm, base + VIRTIO_MMIO_QUEUE_NOTIFY, q, dev->kick_fd[q], err);
		if (ret < 0)
			return krun_error_wrap(err, "%s: queue %u notify", dev->ops->name, q);
	}
	ret = vm_add_irqfd(vm, irq, dev->irq_fd, err);
	if (ret < 0)
		return krun_error_wrap(err, "%s: interrupt %u", dev->ops->name, irq);
	return 0;
}

static void append_cmdline(char **cmdline, uint64_t base, unsigned irq)
{
	char *old = *cmdline;

	xasprintf(cmdline, "%s%svirtio_mmio.device=%lluK@0x%08" PRIx64 ":%u", old ? old : "",
		  old && *old ? " " : "", GUEST_VIRTIO_MMIO_SIZE >> 10, base, irq);
	free(old);
}

int virtio_mmio_attach(struct vm *vm, struct virtio_device *dev, uint64_t base, unsigned irq,
		       char **cmdline, krun_error_t *err)
{
	struct virtio_mmio *t = xzalloc(sizeof(*t));
	int ret;

	ret = virtio_mmio_init(t, dev, vm_guest_mem(vm), err);
	if (ret < 0)
		goto fail_free;
	dev->loop = vm_event_loop(vm);
	ret = bind_eventfds(vm, dev, base, irq, err);
	if (ret < 0)
		goto fail_release;
	ret = vm_register_mmio(vm, base, GUEST_VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, t, err);
	if (ret < 0) {
		krun_error_wrap(err, "%s: MMIO window at 0x%" PRIx64, dev->ops->name, base);
		goto fail_release;
	}
	append_cmdline(cmdline, base, irq);
	return 0;

fail_release:
	virtio_mmio_release(t);
	/* The caller still drains and destroys the device: leave it nothing dangling. */
	dev->vq = NULL;
	dev->kick_fd = NULL;
	dev->irq_fd = -1;
fail_free:
	free(t);
	return ret;
}
