/* The pieces of the lifecycle verbs that need no VM: the state store, signal names, bind
 * mount options, and the namespace plan. */
#include "oci/config.h"
#include "oci/mounts.h"
#include "oci/namespaces.h"
#include "oci/signals.h"
#include "oci/start_socket.h"
#include "oci/status.h"
#include "oci/sync.h"
#include "util/util.h"
#include "tap.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_signals(void)
{
	is_int(signal_parse("TERM"), SIGTERM, "TERM");
	is_int(signal_parse("SIGKILL"), SIGKILL, "SIGKILL");
	is_int(signal_parse("sigusr1"), SIGUSR1, "names ignore case");
	is_int(signal_parse("15"), 15, "numbers");
	is_int(signal_parse("RTMIN+2"), SIGRTMIN + 2, "RTMIN+2");
	is_int(signal_parse("SIGNOPE"), -EINVAL, "unknown name");
	is_int(signal_parse("0"), -EINVAL, "0 is not a signal");
	is_int(signal_parse("65"), -EINVAL, "65 is out of range");
	is_int(signal_parse("9x"), -EINVAL, "trailing garbage");
	is_int(signal_parse(""), -EINVAL, "empty");
}

static struct oci_mount mount_of(const char *dest, const char *type, char **opts, size_t n)
{
	struct oci_mount m = { .destination = (char *)dest,
			       .type = (char *)type,
			       .source = "/src" };
	m.options.v = opts;
	m.options.n = n;
	return m;
}

static void test_mounts(void)
{
	char *bind_ro[] = { "rbind", "ro", "nosuid", "rprivate" };
	char *plain[] = { "nosuid" };
	char *bad[] = { "bind", "size=10m" };
	char *dev[] = { "bind", "dev" };
	struct bind_options o;
	struct oci_mount m;
	krun_error_t err = NULL;

	m = mount_of("/data", "bind", NULL, 0);
	ok(mount_is_host_bind(&m), "a bind mount is the host's");
	m = mount_of("/data", NULL, bind_ro, 4);
	ok(mount_is_host_bind(&m), "rbind in the options makes a bind");
	m = mount_of("/dev/shm", "bind", NULL, 0);
	ok(!mount_is_host_bind(&m), "binds under /dev belong to the guest's /dev");
	m = mount_of("/proc/x", "bind", NULL, 0);
	ok(!mount_is_host_bind(&m), "nothing under /proc");
	m = mount_of("/devices", "bind", NULL, 0);
	ok(mount_is_host_bind(&m), "/devices is not under /dev");
	m = mount_of("/run", "tmpfs", plain, 1);
	ok(!mount_is_host_bind(&m), "tmpfs is the guest's");

	m = mount_of("/data", "bind", bind_ro, 4);
	ok(bind_options_parse(&m, &o, &err) == 0, "bind options parse");
	ok(o.recursive, "rbind is recursive");
	ok(o.attr_set == (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV),
	   "ro and nosuid, and always nodev");
	ok(o.propagation == MS_PRIVATE, "rprivate");
	m = mount_of("/data", "bind", dev, 2);
	ok(bind_options_parse(&m, &o, &err) == 0 && (o.attr_set & MOUNT_ATTR_NODEV) &&
	       !(o.attr_clr & MOUNT_ATTR_NODEV),
	   "`dev` does not make host device nodes usable");
	m = mount_of("/data", "bind", bad, 2);
	ok(bind_options_parse(&m, &o, &err) < 0, "an unknown option fails");
	is_str(err ? err->msg : NULL,
	       "mount `/data`: option `size=10m` is not supported for a bind mount",
	       "the message names the mount and the option");
	krun_error_release(&err);
}

static void test_namespaces(void)
{
	struct oci_namespace user[] = { { "user", NULL } };
	struct oci_namespace twice[] = { { "pid", NULL }, { "pid", NULL } };
	struct oci_namespace unknown[] = { { "mnt", NULL } };
	struct oci_namespace some[] = { { "pid", NULL },
					{ "uts", NULL },
					{ "cgroup", NULL },
					{ "network", "/proc/self/ns/net" } };
	struct oci_config cfg = { 0 };
	krun_error_t err = NULL;
	struct ns_plan p;

	cfg.namespaces = some;
	cfg.n_namespaces = 4;
	ok(ns_plan_build(&cfg, &p, &err) == 0, "a plan");
	ok(p.clone_flags == CLONE_NEWPID, "only pid at clone");
	ok(p.unshare_flags == (CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNS),
	   "uts and cgroup made after, and always a mount namespace");
	ok(!p.new_user && !ns_plan_has_user(&p), "no user namespace");
	ok(p.n_join == 1 && p.join[0].flag == CLONE_NEWNET && p.join[0].fd >= 0,
	   "network joined by path");
	ns_plan_release(&p);

	cfg.namespaces = user;
	cfg.n_namespaces = 1;
	ok(ns_plan_build(&cfg, &p, &err) < 0 &&
	       strstr(err->msg, "linux.uidMappings and linux.gidMappings"),
	   "a new user namespace needs id mappings");
	krun_error_release(&err);
	cfg.uid_mappings = cfg.gid_mappings = &(struct oci_id_mapping){ 0, 100000, 65536 };
	cfg.n_uid_mappings = cfg.n_gid_mappings = 1;
	cfg.namespaces = (struct oci_namespace[]){ { "user", NULL }, { "network", NULL } };
	cfg.n_namespaces = 2;
	ok(ns_plan_build(&cfg, &p, &err) == 0 && p.new_user && ns_plan_has_user(&p),
	   "with them, a new user namespace");
	ok(p.unshare_flags == CLONE_NEWNS && p.late_flags == CLONE_NEWNET,
	   "the mount namespace made before it, the network namespace inside it");
	ns_plan_release(&p);
	cfg.namespaces = (struct oci_namespace[]){ { "user", "/proc/self/ns/user" },
						   { "network", "/proc/self/ns/net" },
						   { "ipc", NULL } };
	cfg.n_namespaces = 3;
	ok(ns_plan_build(&cfg, &p, &err) == 0 && !p.new_user && ns_plan_has_user(&p) &&
	       p.n_join == 2 && p.join[0].flag == CLONE_NEWNET && p.join[1].flag == CLONE_NEWUSER,
	   "a user namespace joined by path is joined after the others");
	ns_plan_release(&p);
	cfg.namespaces = (struct oci_namespace[]){ { "time", NULL } };
	cfg.n_namespaces = 1;
	ok(ns_plan_build(&cfg, &p, &err) < 0 && strstr(err->msg, "`time` namespace"),
	   "a time namespace is refused, by name");
	krun_error_release(&err);
	cfg.uid_mappings = cfg.gid_mappings = NULL;
	cfg.namespaces = twice;
	cfg.n_namespaces = 2;
	ok(ns_plan_build(&cfg, &p, &err) < 0 && strstr(err->msg, "twice"), "duplicates");
	krun_error_release(&err);
	cfg.namespaces = unknown;
	cfg.n_namespaces = 1;
	ok(ns_plan_build(&cfg, &p, &err) < 0 && strstr(err->msg, "unknown type `mnt`"), "unknown");
	krun_error_release(&err);
	cfg.namespaces = (struct oci_namespace[]){ { "network", "/no/such" } };
	ok(ns_plan_build(&cfg, &p, &err) < 0 && strstr(err->msg, "/no/such"), "missing path");
	krun_error_release(&err);
}

static struct container_state *sample_state(const char *root, const char *id, pid_t pid)
{
	struct container_state *s = xzalloc(sizeof(*s));

	s->id = xstrdup(id);
	xasprintf(&s->dir, "%s/%s", root, id);
	s->pid = pid;
	s->start_time = status_process_start_time(pid);
	s->bundle = xstrdup("/b");
	s->rootfs = xstrdup("rootfs");
	s->created = xstrdup("2026-11-30T06:00:00.000000Z");
	s->owner = xstrdup("root");
	return s;
}

static void test_store(void)
{
	char root[] = "/tmp/oci_lifecycle_test.XXXXXX";
	struct container_state *s, *loaded = NULL;
	cleanup_free char *dir = NULL, *json = NULL;
	int listener;
	enum container_status st;
	krun_error_t err = NULL;
	pid_t child;

	if (!mkdtemp(root))
		return;
	cleanup_free char *deep = NULL, *deep_dir = NULL;

	xasprintf(&deep, "%s/a/b/root", root);
	ok(status_dir_create(deep, "c0", &deep_dir, &err) == 0,
	   "a state root below missing directories is made whole");
	ok(status_dir_remove(deep_dir, &err) == 0, "and its container directory removed");
	ok(status_dir_create(root, "c1", &dir, &err) == 0, "state dir created");
	ok(status_dir_create(root, "c1", &dir, &err) == -EEXIST, "a second one is refused");
	is_str(err ? err->msg : NULL, "container `c1` already exists: File exists",
	       "saying it exists");
	krun_error_release(&err);

	s = sample_state(root, "c1", getpid());
	ok(status_write(s, &err) == 0, "status written");
	ok(status_load(root, "c1", &loaded, &err) == 0, "status read back");
	ok(loaded && loaded->pid == getpid() && loaded->start_time == s->start_time &&
	       !strcmp(loaded->bundle, "/b") && !strcmp(loaded->owner, "root") &&
	       !loaded->cgroup_path,
	   "the same fields");
	ok(status_get(loaded, &st, &err) == 0 && st == CONTAINER_RUNNING,
	   "a live process without start socket is running");
	listener = start_socket_listen(dir, &err);
	ok(listener >= 0, "start socket");
	ok(status_get(loaded, &st, &err) == 0 && st == CONTAINER_CREATED,
	   "with the start socket: created");
	json = status_state_json(loaded, st, false, NULL);
	ok(strstr(json, "\"status\": \"created\"") && strstr(json, "\"id\": \"c1\"") &&
	       strstr(json, "\"rootfs\": \"rootfs\""),
	   "state JSON");
	loaded->start_time++;
	ok(status_get(loaded, &st, &err) == 0 && st == CONTAINER_STOPPED,
	   "another start time means the pid was reused: stopped");
	container_state_free(loaded);
	loaded = NULL;
	close(listener);

	child = fork();
	if (child == 0)
		_exit(0);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	is_int(status_process_start_time(child), 0, "a reaped process has no start time");
	ok(status_load(root, "nope", &loaded, &err) == -ENOENT &&
	       strstr(err->msg, "container `nope` does not exist"),
	   "a missing container");
	krun_error_release(&err);
	ok(status_load(root, "../c1", &loaded, &err) == -ENOENT, "no path games with ids");
	krun_error_release(&err);
	ok(status_dir_remove(dir, &err) == 0 && access(dir, F_OK) < 0, "removed");
	ok(status_dir_remove(dir, &err) == 0, "removing twice is fine");
	container_state_free(s);
	rmdir(deep);
	free(deep_dir);
	xasprintf(&deep_dir, "%s/a/b", root);
	rmdir(deep_dir);
	*strrchr(deep_dir, '/') = '\0';
	rmdir(deep_dir);
	rmdir(root);
}

/* One start through the socket, the container side answering reply (NULL: success). */
static int start_once(const char *dir, const char *reply, krun_error_t *err)
{
	krun_error_t child_err = NULL;
	int listener = start_socket_listen(dir, &child_err);
	pid_t pid = fork();
	int ret;

	if (pid == 0) {
		int conn = start_socket_accept(listener, &child_err);

		if (conn < 0)
			_exit(1);
		start_socket_reply(conn, reply);
		_exit(0);
	}
	close(listener);
	ret = start_socket_trigger(dir, "c2", err);
	waitpid(pid, NULL, 0);
	return ret;
}

static void test_start_socket(void)
{
	char dir[] = "/tmp/oci_start_socket.XXXXXX";
	krun_error_t err = NULL;
	cleanup_free char *sock = NULL;

	if (!mkdtemp(dir))
		return;
	xasprintf(&sock, "%s/" START_SOCKET, dir);
	ok(start_once(dir, NULL, &err) == 0, "start succeeds when the container says so");
	ok(access(sock, F_OK) < 0, "and the socket is gone: the container counts as started");
	ok(start_once(dir, "startContainer hook `/x`: exited with status 2", &err) < 0 && err &&
	       !strcmp(err->msg, "container `c2`: startContainer hook `/x`: exited with status 2"),
	   "a failing startContainer hook fails start with its message");
	krun_error_release(&err);
	ok(start_socket_trigger(dir, "c2", &err) == -ESRCH && err &&
	       strstr(err->msg, "is not running"),
	   "nobody listening: not running");
	krun_error_release(&err);
	rmdir(dir);
}

/* A set-up step whose other side is gone fails with a message naming that side: the CLI
 * prints it, not "unknown error". */
static void test_sync_failures(void)
{
	krun_error_t err = NULL;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	close(sv[1]);
	ok(sync_send(sv[0], SYNC_GO, NULL, &err) < 0 && err, "send to a gone child fails");
	is_str(err ? err->msg : "(none)", "the container process exited during set-up",
	       "the runtime's message names the container process");
	krun_error_release(&err);
	ok(sync_send(sv[0], SYNC_MOUNTED, NULL, &err) < 0 && err, "send to a gone runtime fails");
	is_str(err ? err->msg : "(none)", "the runtime exited during set-up",
	       "the container process' message names the runtime");
	krun_error_release(&err);
	ok(sync_wait(sv[0], SYNC_GO, &err) < 0 && err, "waiting on a gone runtime fails");
	is_str(err ? err->msg : "(none)", "the runtime exited during set-up",
	       "and names the runtime");
	krun_error_release(&err);
	close(sv[0]);
	ok(sync_send(sv[0], SYNC_GO, "x", &err) == -EBADF && err, "a send that fails otherwise");
	is_str(err ? err->msg : "(none)",
	       "container set-up: send to the container process: Bad file descriptor",
	       "says what failed and why");
	krun_error_release(&err);
}

int main(void)
{
	test_sync_failures();
	test_start_socket();
	test_signals();
	test_mounts();
	test_namespaces();
	test_store();
	return tap_done();
}
