/* virtio-rng: one queue whose buffers the host fills with getrandom() bytes. */
#ifndef KRUN_DEVICES_RNG_H
#define KRUN_DEVICES_RNG_H

#include "devices/virtio/virtio.h"

int virtio_rng_new(struct virtio_device **out, krun_error_t *err);

#endif
