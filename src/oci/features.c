/* krun features: what this runtime recognises, as the OCI features structure that CRI-O and
 * containerd read at start-up. Fixed at build time, not probed on the host. */
#include "oci/spec_features.h"
#include "oci/verbs.h"
#include "annotations/vm_keys.h"
#include "util/json_gen.h"
#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/capability.h>

static const char *const hooks[] = {
	"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
	NULL,
};

/* Bind mounts are made on the host (mounts.c) and take the access and propagation words;
 * the other kinds are mounted by the guest init (init/mount_options.c), which takes the
 * flag words and tmpcopyup. Keep this list the union of the two. */
const char *const oci_mount_options[] = {
	"bind",	       "rbind",		"defaults", "ro",	  "rw",
	"nosuid",      "suid",		"nodev",    "dev",	  "noexec",
	"exec",	       "sync",		"async",    "dirsync",	  "noatime",
	"atime",       "nodiratime",	"diratime", "relatime",	  "norelatime",
	"strictatime", "nostrictatime", "private",  "rprivate",	  "shared",
	"rshared",     "slave",		"rslave",   "unbindable", "runbindable",
	"tmpcopyup",   "notmpcopyup",	NULL,
};

static const char *const namespaces[] = {
	"cgroup", "ipc", "mount", "network", "pid", "user", "uts", NULL,
};

/* libcap's names in the upper case that config.json uses; numbers libcap cannot name
 * (a kernel newer than libcap) are left out. */
static void gen_capabilities(yajl_gen g)
{
	json_gen_str(g, "capabilities");
	yajl_gen_array_open(g);
	for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; cap++) {
		char *name = cap_to_name(cap);

		if (!name)
			oom();
		if (strncmp(name, "cap_", 4) == 0) {
			for (char *p = name; *p; p++)
				*p = toupper((unsigned char)*p);
			json_gen_str(g, name);
		}
		cap_free(name);
	}
	yajl_gen_array_close(g);
}

static void gen_enabled(yajl_gen g, const char *key, bool enabled)
{
	json_gen_str(g, key);
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "enabled", enabled);
	yajl_gen_map_close(g);
}

static void gen_cgroup(yajl_gen g)
{
	json_gen_str(g, "cgroup");
	yajl_gen_map_open(g);
	json_gen_kv_bool(g, "v1", true);
	json_gen_kv_bool(g, "v2", true);
	json_gen_kv_bool(g, "systemd", true);
	json_gen_kv_bool(g, "systemdUser", false);
	yajl_gen_map_close(g);
}

/* seccomp, AppArmor and SELinux are not applied to the workload yet (the guest will apply
 * seccomp later): claiming them would let a caller believe a profile is in force. */
static void gen_linux(yajl_gen g)
{
	json_gen_str(g, "linux");
	yajl_gen_map_open(g);
	json_gen_kv_strv(g, "namespaces", namespaces);
	gen_capabilities(g);
	gen_cgroup(g);
	gen_enabled(g, "seccomp", false);
	gen_enabled(g, "apparmor", false);
	gen_enabled(g, "selinux", false);
	json_gen_str(g, "mountExtensions");
	yajl_gen_map_open(g);
	gen_enabled(g, "idmap", false);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

/* "krun.cpus,krun.ram_mib,...": the annotations that configure the microVM. */
static char *vm_annotation_list(void)
{
	size_t len = 1;
	char *out;

	for (int f = 0; f < VM_N_FIELDS; f++)
		len += vm_keys[f].annotation ? strlen(vm_keys[f].annotation) + 1 : 0;
	out = xzalloc(len);
	for (int f = 0; f < VM_N_FIELDS; f++) {
		if (!vm_keys[f].annotation)
			continue;
		if (*out)
			strcat(out, ",");
		strcat(out, vm_keys[f].annotation);
	}
	return out;
}

static void gen_annotations(yajl_gen g)
{
	cleanup_free char *list = vm_annotation_list();

	json_gen_str(g, "annotations");
	yajl_gen_map_open(g);
	json_gen_kv_str(g, "run.oci.krun.version", KRUN_VERSION);
	json_gen_kv_str(g, "run.oci.krun.vm_annotations", list);
	/* The VMM itself, not the workload (docs/confinement.md): a seccomp allow-list, the
	 * capabilities of the container's bounding set that its devices use, an empty root. */
	json_gen_kv_str(g, "run.oci.krun.vmm.seccomp", "allow-list");
	json_gen_kv_str(g, "run.oci.krun.vmm.capabilities", "container-bounding-set");
	json_gen_kv_str(g, "run.oci.krun.vmm.root", "empty");
	yajl_gen_map_close(g);
}

char *oci_features_generate(size_t *len)
{
	static const char *const unsafe[] = { "krun.", NULL };
	cleanup_json_gen yajl_gen g = json_gen_new(true);

	yajl_gen_map_open(g);
	json_gen_kv_str(g, "ociVersionMin", "1.0.0");
	json_gen_kv_str(g, "ociVersionMax", "1.1.0");
	json_gen_kv_strv(g, "hooks", hooks);
	json_gen_kv_strv(g, "mountOptions", oci_mount_options);
	gen_linux(g);
	gen_annotations(g);
	json_gen_kv_strv(g, "potentiallyUnsafeConfigAnnotations", unsafe);
	yajl_gen_map_close(g);
	return json_gen_take(g, len);
}

int krun_cmd_features(const struct cli_globals *g, int argc, char **argv, krun_error_t *err)
{
	cleanup_free char *text = NULL;
	size_t len;

	if (argc > 1)
		return cli_usage_error(err, "%s: unexpected argument `%s`", argv[0], argv[1]);
	text = oci_features_generate(&len);
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
		return krun_make_error(err, errno, "write the features to stdout");
	return 0;
}
