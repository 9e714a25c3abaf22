/* Port I/O exits: the i8042 reset line, the debug UART, and nothing elsewhere (pio.h). */
#include "vm/pio.h"
#include "vm/vm_internal.h"

#include <string.h>
#include <unistd.h>

#define I8042_DATA    0x60
#define I8042_COMMAND 0x64
#define I8042_RESET   0xfe /* pulse the CPU reset line: Linux's reboot=k path */

#define UART_BASE	   0x3f8
#define UART_THR	   0 /* transmit holding register (LCR.DLAB clear) */
#define UART_IIR	   2
#define UART_LCR	   3
#define UART_LSR	   5
#define UART_MSR	   6
#define UART_LCR_DLAB	   0x80
#define UART_IIR_NO_INT	   0x01
#define UART_LSR_TX_EMPTY  0x60 /* THR empty and transmitter idle */
#define UART_MSR_CONNECTED 0xb0 /* DCD, DSR, CTS */

void pio_init(struct pio *pio, bool debug)
{
	memset(pio, 0, sizeof(*pio));
	pio->debug = debug;
	pthread_mutex_init(&pio->lock, NULL);
}

static void flush_line(struct pio *pio)
{
	/* Debug output: a short write to stderr is not worth failing the VM for. */
	(void)!write(STDERR_FILENO, pio->line, pio->len);
	pio->len = 0;
}

void pio_flush(struct pio *pio)
{
	pthread_mutex_lock(&pio->lock);
	if (pio->len)
		flush_line(pio);
	pthread_mutex_unlock(&pio->lock);
}

void pio_destroy(struct pio *pio)
{
	pio_flush(pio);
	pthread_mutex_destroy(&pio->lock);
}

static uint8_t uart_read(struct pio *pio, unsigned reg)
{
	switch (reg) {
	case UART_IIR:
		return UART_IIR_NO_INT;
	case UART_LCR:
		return pio->uart_lcr;
	case UART_LSR:
		return UART_LSR_TX_EMPTY;
	case UART_MSR:
		return UART_MSR_CONNECTED;
	default:
		return 0;
	}
}

static void uart_write(struct pio *pio, unsigned reg, uint8_t value)
{
	pthread_mutex_lock(&pio->lock);
	if (reg == UART_LCR) {
		pio->uart_lcr = value;
	} else if (reg == UART_THR && !(pio->uart_lcr & UART_LCR_DLAB)) {
		pio->line[pio->len++] = (char)value;
		if (value == '\n' || pio->len == sizeof(pio->line))
			flush_line(pio);
	}
	pthread_mutex_unlock(&pio->lock);
}

static bool is_uart(const struct pio *pio, uint16_t port)
{
	return pio->debug && port >= UART_BASE && port < UART_BASE + 8;
}

void pio_in(struct vm *vm, struct pio *pio, uint16_t port, uint8_t *data, unsigned size)
{
	memset(data, 0xff, size);
	if (port == I8042_COMMAND || port == I8042_DATA)
		data[0] = 0; /* nothing to read, ready for a command: no probing delays */
	else if (is_uart(pio, port))
		data[0] = uart_read(pio, port - UART_BASE);
}

void pio_out(struct vm *vm, struct pio *pio, uint16_t port, const uint8_t *data, unsigned size)
{
	if (port == I8042_COMMAND && data[0] == I8042_RESET)
		vm_stop(vm, "the guest reset the machine through the i8042");
	else if (is_uart(pio, port))
		uart_write(pio, port - UART_BASE, data[0]);
}
