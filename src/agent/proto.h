/* The exec channel's wire format (docs/exec.md), shared by the host side (krun exec and the
 * VMM's bridge) and the agent in krun-init. A header only: the init links nothing of the
 * host side. One stream carries one guest process; each message either way is a record of
 * a type, a length and that many payload bytes, integers little-endian. */
#ifndef KRUN_AGENT_PROTO_H
#define KRUN_AGENT_PROTO_H

#include <stdint.h>

/* The agent's vsock port in the guest: below 1024, which only CAP_NET_BIND_SERVICE may
 * bind and the guest kernel never hands out as an ephemeral port. */
#define AGENT_VSOCK_PORT 1000u
/* The largest payload; a record announcing more ends the connection. */
#define AGENT_RECORD_MAX (64u << 10)
/* What READY carries; a host that does not know it stops there. */
#define AGENT_PROTOCOL_VERSION 1u

enum agent_record_type {
	/* host to guest */
	AGENT_EXEC = 1,	     /* JSON {"process": an OCI process object}; first and once */
	AGENT_STDIN = 2,     /* bytes for the process' stdin (or its terminal) */
	AGENT_STDIN_EOF = 3, /* no payload: the process' stdin is closed */
	AGENT_SIGNAL = 4,    /* u32 signal number, sent to the process */
	AGENT_WINSIZE = 5,   /* u16 rows, u16 columns: the terminal's new size */
	/* guest to host */
	AGENT_READY = 15,   /* u32 AGENT_PROTOCOL_VERSION; first, as soon as the agent accepted */
	AGENT_STARTED = 16, /* u32 the process' pid in the guest */
	AGENT_STDOUT = 17,  /* bytes the process wrote to stdout (or its terminal) */
	AGENT_STDERR = 18,  /* bytes the process wrote to stderr */
	AGENT_EXIT = 19,    /* u32 the process' wait status; the last record */
	AGENT_ERROR = 20,   /* u32 exit status (125, 126, 127), then a message; the last record */
};

struct agent_record_header {
	uint32_t type;
	uint32_t len;
};

#endif
