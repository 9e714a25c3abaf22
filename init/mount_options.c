/* OCI mount option strings to mount(2) flags and data. */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include "mount_plan.h"

struct flag_option {
	const char *name;
	bool clear; /* the option turns the flag off ("rw", "suid"...) */
	unsigned long flag;
};

static const struct flag_option flag_options[] = {
	{ "defaults", false, 0 },
	{ "ro", false, MS_RDONLY },
	{ "rw", true, MS_RDONLY },
	{ "nosuid", false, MS_NOSUID },
	{ "suid", true, MS_NOSUID },
	{ "nodev", false, MS_NODEV },
	{ "dev", true, MS_NODEV },
	{ "noexec", false, MS_NOEXEC },
	{ "exec", true, MS_NOEXEC },
	{ "sync", false, MS_SYNCHRONOUS },
	{ "async", true, MS_SYNCHRONOUS },
	{ "dirsync", false, MS_DIRSYNC },
	{ "mand", false, MS_MANDLOCK },
	{ "nomand", true, MS_MANDLOCK },
	{ "noatime", false, MS_NOATIME },
	{ "atime", true, MS_NOATIME },
	{ "nodiratime", false, MS_NODIRATIME },
	{ "diratime", true, MS_NODIRATIME },
	{ "relatime", false, MS_RELATIME },
	{ "norelatime", true, MS_RELATIME },
	{ "strictatime", false, MS_STRICTATIME },
	{ "nostrictatime", true, MS_STRICTATIME },
	{ "lazytime", false, MS_LAZYTIME },
	{ "nolazytime", true, MS_LAZYTIME },
	{ "iversion", false, MS_I_VERSION },
	{ "noiversion", true, MS_I_VERSION },
	{ "silent", false, MS_SILENT },
	{ "loud", true, MS_SILENT },
	{ "nosymfollow", false, MS_NOSYMFOLLOW },
	{ "symfollow", true, MS_NOSYMFOLLOW },
};

static const struct {
	const char *name;
	unsigned long propagation;
} propagation_options[] = {
	{ "private", MS_PRIVATE },	 { "rprivate", MS_PRIVATE | MS_REC },
	{ "shared", MS_SHARED },	 { "rshared", MS_SHARED | MS_REC },
	{ "slave", MS_SLAVE },		 { "rslave", MS_SLAVE | MS_REC },
	{ "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

static const struct flag_option *find_flag_option(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(flag_options); i++)
		if (strcmp(flag_options[i].name, name) == 0)
			return &flag_options[i];
	/* The recursive forms ("rro", "rnosuid"...) mean the same on a new, non-bind mount,
	 * which has no submounts yet. */
	if (name[0] == 'r' && name[1] != '\0')
		for (size_t i = 0; i < ARRAY_SIZE(flag_options); i++)
			if (strcmp(flag_options[i].name, name + 1) == 0)
				return &flag_options[i];
	return NULL;
}

static bool apply_special_option(const char *opt, struct mount_options *o)
{
	if (strcmp(opt, "bind") == 0 || strcmp(opt, "rbind") == 0) {
		o->bind = true;
		return true;
	}
	if (strcmp(opt, "tmpcopyup") == 0 || strcmp(opt, "notmpcopyup") == 0) {
		o->copy_up = opt[0] == 't';
		return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(propagation_options); i++) {
		if (strcmp(propagation_options[i].name, opt) == 0) {
			o->propagation = propagation_options[i].propagation;
			return true;
		}
	}
	return false;
}

static void append_data(char **data, const char *opt)
{
	char *joined = *data ? xstrfmt("%s,%s", *data, opt) : xstrdup(opt);
	free(*data);
	*data = joined;
}

int mount_options_parse(char *const *options, size_t n, struct mount_options *out,
			struct init_error *err)
{
	struct mount_options o = { 0 };

	for (size_t i = 0; i < n; i++) {
		const char *opt = options[i];
		const struct flag_option *f;

		if (opt[0] == '\0')
			continue;
		if (strcmp(opt, "remount") == 0) {
			free(o.data);
			return init_fail(err, 0, "option `remount` is not valid for a new mount");
		}
		f = find_flag_option(opt);
		if (f) {
			if (f->clear)
				o.flags &= ~f->flag;
			else
				o.flags |= f->flag;
		} else if (!apply_special_option(opt, &o)) {
			append_data(&o.data, opt);
		}
	}
	*out = o;
	return 0;
}

void mount_options_free(struct mount_options *o)
{
	free(o->data);
	o->data = NULL;
}
