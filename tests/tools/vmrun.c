/* vmrun: runs one microVM with machine_run, without any OCI layer. A developer tool for
 * testing the VMM and for set-up benchmarks. Exits with the guest's status. */
#include "confine/confine.h"
#include "vm/kvm.h"
#include "machine/machine.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONFIG_MAX (16 << 20)

static void usage(FILE *f)
{
	fprintf(f, "usage: vmrun --root DIR [options]\n"
		   "  --kernel PATH    vmlinux (default " KRUN_KERNEL_DEFAULT ")\n"
		   "  --root DIR       host directory that becomes the guest's /\n"
		   "  --init PATH      guest init binary (default " KRUN_INIT_DEFAULT ")\n"
		   "  --config FILE    served as /.krun_config.json (default: {})\n"
		   "  --cpus N         vCPUs (default 1)\n"
		   "  --mem MIB        guest RAM in MiB (default 512)\n"
		   "  --debug          guest kernel log on stderr\n"
		   "  --nested         expose VMX/SVM to the guest\n"
		   "  --cmdline EXTRA  appended to the kernel command line\n"
		   "  --no-tsi         no TSI (guest sockets stay in the guest)\n"
		   "  --tsi-privileged TSI: the guest may bind ports below 1024\n"
		   "  --setup-only     build the VM but do not enter the guest\n"
		   "  --timing         print the set-up time (main to first KVM_RUN) on stderr\n"
		   "  --confine        confine the VMM as krun does (docs/confinement.md)\n");
}

static unsigned long parse_number(const char *opt, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "vmrun: %s: `%s` is not a number\n", opt, s);
		exit(64);
	}
	return v;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1e3 + (b->tv_nsec - a->tv_nsec) / 1e6;
}

enum {
	OPT_KERNEL = 256,
	OPT_ROOT,
	OPT_INIT,
	OPT_CONFIG,
	OPT_CPUS,
	OPT_MEM,
	OPT_DEBUG,
	OPT_NESTED,
	OPT_CMDLINE,
	OPT_SETUP_ONLY,
	OPT_TIMING,
	OPT_NO_TSI,
	OPT_TSI_PRIVILEGED,
	OPT_CONFINE,
	OPT_HELP
};

static const struct option options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "init", required_argument, NULL, OPT_INIT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "nested", no_argument, NULL, OPT_NESTED },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "setup-only", no_argument, NULL, OPT_SETUP_ONLY },
	{ "timing", no_argument, NULL, OPT_TIMING },
	{ "no-tsi", no_argument, NULL, OPT_NO_TSI },
	{ "tsi-privileged", no_argument, NULL, OPT_TSI_PRIVILEGED },
	{ "confine", no_argument, NULL, OPT_CONFINE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int keep(const char **path, krun_error_t *err)
{
	int fd = open(*path, O_PATH | O_CLOEXEC);
	char *s;

	if (fd < 0)
		return krun_make_error(err, errno, "open `%s`", *path);
	xasprintf(&s, "/proc/self/fd/%d", fd);
	*path = s;
	return 0;
}

static struct confine_config confine_cfg;

static int confine_vmm(void *opaque, krun_error_t *err)
{
	return confine_apply(opaque, err);
}

/* What krun's container process does (src/oci/container_process.c), with every
 * capability in the bounding set. */
static int confine(struct machine_config *cfg, krun_error_t *err)
{
	int kvm, root, tree, ret;

	if ((ret = keep(&cfg->kernel_path, err)) < 0 || (ret = keep(&cfg->init_path, err)) < 0 ||
	    (ret = kvm_open(-1, cfg->setup_only, &kvm, err)) < 0)
		return ret;
	cfg->kvm_fd = kvm;
	root = open(cfg->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return krun_make_error(err, errno, "open `%s`", cfg->root_path);
	ret = confine_root(root, &tree, err);
	close(root);
	if (ret < 0)
		return ret;
	xasprintf((char **)&cfg->root_path, "/proc/self/fd/%d", tree);
	confine_cfg.bounding = confine_caps_all();
	cfg->confine = confine_vmm;
	cfg->confine_opaque = &confine_cfg;
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec start, first_run = { 0, 0 };
	struct machine_config cfg = {
		.kvm_fd = -1,
		.cpus = 1,
		.ram_mib = 512,
		.kernel_path = KRUN_KERNEL_DEFAULT,
		.init_path = KRUN_INIT_DEFAULT,
		.config_json = "{}",
		.config_json_len = 2,
		.stdin_fd = 0,
		.stdout_fd = 1,
		.stderr_fd = 2,
		.first_run_at = &first_run,
		.tsi = true,
	};
	cleanup_free char *config = NULL;
	const char *config_path = NULL;
	krun_error_t err = NULL;
	bool timing = false, confined = false;
	int opt, status;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL:
			cfg.kernel_path = optarg;
			break;
		case OPT_ROOT:
			cfg.root_path = optarg;
			break;
		case OPT_INIT:
			cfg.init_path = optarg;
			break;
		case OPT_CONFIG:
			config_path = optarg;
			break;
		case OPT_CPUS:
			cfg.cpus = parse_number("--cpus", optarg);
			break;
		case OPT_MEM:
			cfg.ram_mib = parse_number("--mem", optarg);
			break;
		case OPT_DEBUG:
			cfg.debug = true;
			break;
		case OPT_NESTED:
			cfg.nested_virt = true;
			break;
		case OPT_CMDLINE:
			cfg.kernel_cmdline_extra = optarg;
			break;
		case OPT_SETUP_ONLY:
			cfg.setup_only = true;
			break;
		case OPT_TIMING:
			timing = true;
			break;
		case OPT_NO_TSI:
			cfg.tsi = false;
			break;
		case OPT_TSI_PRIVILEGED:
			cfg.tsi_privileged_ports = true;
			break;
		case OPT_CONFINE:
			confined = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (!cfg.root_path || optind != argc) {
		usage(stderr);
		return 64;
	}
	if (config_path) {
		int ret =
		    read_file_at(AT_FDCWD, config_path, CONFIG_MAX, &config, &cfg.config_json_len);
		if (ret < 0) {
			fprintf(stderr, "vmrun: read `%s`: %s\n", config_path, strerror(-ret));
			return 1;
		}
		cfg.config_json = config;
	}
	cfg.terminal = isatty(0) && isatty(1);
	if (confined && confine(&cfg, &err) < 0) {
		fprintf(stderr, "vmrun: %s\n", err->msg);
		return 1;
	}

	if (machine_run(&cfg, &status, &err) < 0) {
		fprintf(stderr, "vmrun: %s\n", err->msg);
		krun_error_release(&err);
		return 1;
	}
	if (timing && first_run.tv_sec)
		fprintf(stderr, "vmrun: set-up %.3f ms (main to first KVM_RUN)\n",
			ms_between(&start, &first_run));
	return status;
}
