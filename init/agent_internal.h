/* Inside the exec agent: one connection and the process it runs. */
#ifndef KRUN_INIT_AGENT_INTERNAL_H
#define KRUN_INIT_AGENT_INTERNAL_H

#include "agent.h"
#include "agent/proto.h"

#define AGENT_HDR      sizeof(struct agent_record_header)
#define AGENT_TX_CAP   (96u << 10) /* records waiting for the host */
#define AGENT_OUT_READ (32u << 10) /* the largest piece of output read at once */

enum { OUT_STDOUT, OUT_STDERR };

struct agent_conn {
	struct agent *agent;
	struct agent_conn *next;
	struct loop_watch sock; /* the connection to the host */
	/* The process' stdout and stderr, and its stdin. With a terminal: its master in
	 * out[OUT_STDOUT] and a duplicate in `in` (epoll watches fds, not files). */
	struct loop_watch out[2];
	struct loop_watch in;
	uint32_t watching_sock, watching_out[2], watching_in; /* the epoll events now */
	pid_t pid;					      /* > 0 while the process runs */
	int wstatus;
	bool tty;
	bool started, exited, finished; /* EXEC served; reaped; the last record queued */
	/* What the host sent: whole records are served from the front. A STDIN record the
	 * process cannot take yet stays there, stdin_done bytes of it written. */
	uint8_t rx[AGENT_HDR + AGENT_RECORD_MAX];
	size_t rx_len, stdin_done;
	bool stdin_blocked;
	/* Records for the host, from tx_off to tx_len. */
	uint8_t tx[AGENT_TX_CAP];
	size_t tx_off, tx_len;
};

/* agent_conn.c */
struct agent_conn *conn_new(struct agent *a, int fd);
void conn_free(struct agent_conn *c);
/* Queues a record (false when it does not fit now). */
bool conn_queue(struct agent_conn *c, uint32_t type, const void *payload, size_t len);
/* Queues the ERROR record that ends the connection. */
void conn_fail(struct agent_conn *c, int status, const char *msg);
/* Brings the watches in line with the state, finishes what can be finished, and frees
 * the connection when it is over. c may be gone on return. */
void conn_settle(struct agent_conn *c);

/* agent_start.c: the EXEC record. */
void conn_exec(struct agent_conn *c, const uint8_t *payload, size_t len);

#endif
