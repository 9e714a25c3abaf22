/* The runtime's own messages: "krun: ..." on stderr and, with --log, a text or JSON line in
 * that file. */
#include "oci/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

static const char *const level_names[] = { "error", "warning", "debug" };

static struct {
	int fd;
	enum cli_log_format format;
	enum cli_log_level level;
} log_state = { -1, CLI_LOG_TEXT, CLI_LOG_ERROR };

int log_open(const struct cli_globals *g, krun_error_t *err)
{
	log_state.format = g->log_format;
	log_state.level = g->log_level;
	if (!g->log_path)
		return 0;
	/* Appended to, so it cannot be replaced as the pid file is: a symlink planted in its
	 * place by another user is refused instead of followed to a file of the caller's. One
	 * of root's or the caller's own (/dev/stderr) is followed: nobody else can make one. */
	int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC;
	struct stat st;

	log_state.fd = open(g->log_path, flags | O_NOFOLLOW, 0600);
	if (log_state.fd < 0 && errno == ELOOP && lstat(g->log_path, &st) == 0 &&
	    S_ISLNK(st.st_mode) && (st.st_uid == 0 || st.st_uid == geteuid()))
		log_state.fd = open(g->log_path, flags, 0600);
	else if (log_state.fd < 0 && errno == ELOOP)
		return krun_make_error(err, ELOOP,
				       "log file `%s` is a symbolic link of another user's: krun "
				       "does not write through it",
				       g->log_path);
	if (log_state.fd < 0)
		return krun_make_error(err, errno, "open log file `%s`", g->log_path);
	return 0;
}

void log_close(void)
{
	close_and_reset(&log_state.fd);
}

void log_format_time(const struct timespec *ts, char buf[LOG_TIME_SIZE])
{
	struct tm tm;
	size_t n;

	gmtime_r(&ts->tv_sec, &tm);
	n = strftime(buf, LOG_TIME_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, LOG_TIME_SIZE - n, ".%06uZ", (unsigned)(ts->tv_nsec / 1000) % 1000000);
}

static char *json_line(const char *level, const char *msg, const char *time)
{
	yajl_gen gen = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t len;
	char *line = NULL;

	if (!gen)
		oom(); /* yajl_gen_alloc fails only when out of memory */
	yajl_gen_config(gen, yajl_gen_validate_utf8, 1);
	yajl_gen_map_open(gen);
	yajl_gen_string(gen, (const unsigned char *)"level", 5);
	yajl_gen_string(gen, (const unsigned char *)level, strlen(level));
	yajl_gen_string(gen, (const unsigned char *)"msg", 3);
	if (yajl_gen_string(gen, (const unsigned char *)msg, strlen(msg)) == yajl_gen_status_ok) {
		yajl_gen_string(gen, (const unsigned char *)"time", 4);
		yajl_gen_string(gen, (const unsigned char *)time, strlen(time));
		yajl_gen_map_close(gen);
		yajl_gen_get_buf(gen, &buf, &len);
		xasprintf(&line, "%.*s\n", (int)len, buf);
	}
	yajl_gen_free(gen);
	return line;
}

char *log_json_line(const char *level, const char *msg, const struct timespec *ts)
{
	char time[LOG_TIME_SIZE];
	char *line, *ascii;

	log_format_time(ts, time);
	line = json_line(level, msg, time);
	if (line)
		return line;
	/* Not UTF-8 (a path, say): keep the ASCII and mark the rest, so the line stays JSON. */
	ascii = xstrdup(msg);
	for (char *p = ascii; *p; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	line = json_line(level, ascii, time);
	free(ascii);
	return line;
}

static void write_log_file(enum cli_log_level level, const char *msg)
{
	cleanup_free char *line = NULL;
	struct timespec ts;
	char time[LOG_TIME_SIZE];

	if (log_state.fd < 0 || level > log_state.level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (log_state.format == CLI_LOG_JSON) {
		line = log_json_line(level_names[level], msg, &ts);
	} else {
		log_format_time(&ts, time);
		xasprintf(&line, "%s %s: %s\n", time, level_names[level], msg);
	}
	/* One write per line: O_APPEND keeps concurrent writers' lines whole. */
	if (line && write(log_state.fd, line, strlen(line)) < 0) {
		/* the message still reaches stderr */
	}
}

static void emit(enum cli_log_level level, const char *msg)
{
	if (level == CLI_LOG_ERROR)
		fprintf(stderr, "krun: %s\n", msg);
	else if (level == CLI_LOG_WARNING || log_state.level >= CLI_LOG_DEBUG)
		fprintf(stderr, "krun: %s: %s\n", level_names[level], msg);
	write_log_file(level, msg);
}

static void emitv(enum cli_log_level level, const char *fmt, va_list ap)
{
	cleanup_free char *msg = NULL;

	xvasprintf(&msg, fmt, ap);
	emit(level, msg);
}

void log_error(const char *msg)
{
	emit(CLI_LOG_ERROR, msg);
}

void log_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emitv(CLI_LOG_WARNING, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emitv(CLI_LOG_DEBUG, fmt, ap);
	va_end(ap);
}
