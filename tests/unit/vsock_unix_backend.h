/* A vsock backend for the device tests (the product's only backend is TSI). */
#ifndef KRUN_TESTS_VSOCK_UNIX_BACKEND_H
#define KRUN_TESTS_VSOCK_UNIX_BACKEND_H

#include "devices/vsock/vsock.h"

/* Host port P is <dir>/vsock-P.sock, a unix socket of the guest's type. dir must be short
 * enough for any port to fit in sun_path. */
int virtio_vsock_unix_backend_new(const char *dir, struct vsock_backend **out, krun_error_t *err);

#endif
