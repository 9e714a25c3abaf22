/* Legacy port I/O that reaches userspace (the PIC, PIT and speaker port live in KVM):
 * just enough of an i8042 to reset the machine, a transmit-only debug UART, and every
 * other port reads as all ones and ignores writes. */
#ifndef KRUN_VM_PIO_H
#define KRUN_VM_PIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

struct pio {
	bool debug; /* UART output to stderr; otherwise the UART is absent */
	uint8_t uart_lcr;
	pthread_mutex_t lock; /* UART state and line buffer: several vCPUs may print */
	size_t len;
	char line[256];
};

void pio_init(struct pio *pio, bool debug);
/* Writes out a partial UART line. */
void pio_flush(struct pio *pio);
/* Flushes and releases the state. */
void pio_destroy(struct pio *pio);
/* One access of size bytes at port; data is what the guest wrote or receives. */
void pio_in(struct vm *vm, struct pio *pio, uint16_t port, uint8_t *data, unsigned size);
void pio_out(struct vm *vm, struct pio *pio, uint16_t port, const uint8_t *data, unsigned size);

#endif
