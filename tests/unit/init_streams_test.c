/* Finding the workload's virtio-console ports by name, against a fake sysfs tree. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "../../init/streams.h"
#include "tap.h"

static char sysfs[] = "/tmp/init_streams_test.XXXXXX";

static void add_port(const char *dev, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", sysfs, dev);
	mkdir(path, 0755);
	if (!name)
		return; /* the host has not named it yet: no name attribute */
	snprintf(path, sizeof(path), "%s/%s/name", sysfs, dev);
	FILE *f = fopen(path, "w");
	fprintf(f, "%s\n", name);
	fclose(f);
}

static long elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int main(void)
{
	char dev[64];

	if (!mkdtemp(sysfs))
		abort();
	add_port("vport0p0", NULL);
	add_port("vport0p1", "krun-stdout");
	add_port("vport0p2", "krun-stderr-not");
	add_port("vport0p3", "krun-stderr");
	add_port("vport0p4", "");

	ok(port_find(sysfs, "krun-stdout", dev, sizeof(dev)) == 0 && strcmp(dev, "vport0p1") == 0,
	   "finds a port by name");
	ok(port_find(sysfs, "krun-stderr", dev, sizeof(dev)) == 0 && strcmp(dev, "vport0p3") == 0,
	   "exact name match, not a prefix");
	ok(port_find(sysfs, "krun-stdin", dev, sizeof(dev)) < 0, "a missing port is not found");
	ok(port_find("/nonexistent/virtio-ports", "krun-stdout", dev, sizeof(dev)) < 0,
	   "no virtio-ports class at all");

	static const char *const names[] = { PORT_NAME_STDIN, PORT_NAME_STDOUT, PORT_NAME_STDERR };
	char devs[3][64];
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	unsigned found = ports_wait(sysfs, names, 3, devs, 100);
	long waited = elapsed_ms(&start);
	is_int(found, 6, "stdout and stderr found, stdin not");
	/* Both sides count whole milliseconds, so 100 ms can read as 99. */
	ok(waited >= 99 && waited < 2000, "a missing port is waited for, boundedly");
	ok(strcmp(devs[1], "vport0p1") == 0 && strcmp(devs[2], "vport0p3") == 0, "device names");

	/* The name arriving late: a child names the port after a short delay. */
	pid_t pid = fork();
	if (pid == 0) {
		usleep(50 * 1000);
		add_port("vport0p0", "krun-stdin");
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	found = ports_wait(sysfs, names, 3, devs, PORTS_WAIT_MS);
	waited = elapsed_ms(&start);
	is_int(found, 7, "all three found once the name arrives");
	ok(waited < PORTS_WAIT_MS, "the wait ends as soon as the ports are there");
	is_str(devs[0], "vport0p0", "stdin port");

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sysfs);
	if (system(cmd) != 0)
		abort();
	return tap_done();
}
