/* The host side of the OCI mounts: bind mounts made in the container process's own mount
 * namespace, which the guest then sees through virtio-fs. */
#include "oci/mounts.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

static bool has_option(const struct oci_mount *m, const char *opt)
{
	for (size_t i = 0; i < m->options.n; i++)
		if (!strcmp(m->options.v[i], opt))
			return true;
	return false;
}

bool mount_is_host_bind(const struct oci_mount *m)
{
	bool bind = (m->type && !strcmp(m->type, "bind")) || has_option(m, "bind") ||
		    has_option(m, "rbind");

	if (!bind)
		return false;
	return !under(m->destination, "/proc") && !under(m->destination, "/sys") &&
	       !under(m->destination, "/dev");
}

struct option_word {
	const char *name;
	unsigned long long set, clr;
};

static const struct option_word attr_words[] = {
	{ "ro", MOUNT_ATTR_RDONLY, 0 },		{ "rw", 0, MOUNT_ATTR_RDONLY },
	{ "nosuid", MOUNT_ATTR_NOSUID, 0 },	{ "suid", 0, MOUNT_ATTR_NOSUID },
	{ "nodev", MOUNT_ATTR_NODEV, 0 },	{ "dev", 0, MOUNT_ATTR_NODEV },
	{ "noexec", MOUNT_ATTR_NOEXEC, 0 },	{ "exec", 0, MOUNT_ATTR_NOEXEC },
	{ "noatime", MOUNT_ATTR_NOATIME, 0 },	{ "nodiratime", MOUNT_ATTR_NODIRATIME, 0 },
	{ "relatime", MOUNT_ATTR_RELATIME, 0 }, { "strictatime", MOUNT_ATTR_STRICTATIME, 0 },
};

static const struct option_word propagation_words[] = {
	{ "private", MS_PRIVATE, 0 },	    { "rprivate", MS_PRIVATE, 0 },
	{ "slave", MS_SLAVE, 0 },	    { "rslave", MS_SLAVE, 0 },
	{ "shared", MS_SHARED, 0 },	    { "rshared", MS_SHARED, 0 },
	{ "unbindable", MS_UNBINDABLE, 0 }, { "runbindable", MS_UNBINDABLE, 0 },
};

/* Options that only matter to other kinds of mounts, or that a bind takes as it is. */
static const char *const ignored_words[] = { "bind",  "defaults", "async",	"sync",
					     "atime", "diratime", "norelatime", "nostrictatime",
					     "z",     "Z",	  "U",		"copy" };

static const struct option_word *find_word(const struct option_word *w, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(w[i].name, name))
			return &w[i];
	return NULL;
}

static bool ignored(const char *opt)
{
	for (size_t i = 0; i < ARRAY_SIZE(ignored_words); i++)
		if (!strcmp(ignored_words[i], opt))
			return true;
	return false;
}

int bind_options_parse(const struct oci_mount *m, struct bind_options *o, krun_error_t *err)
{
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < m->options.n; i++) {
		const char *opt = m->options.v[i];
		const struct option_word *w;

		if (!strcmp(opt, "rbind")) {
			o->recursive = true;
		} else if ((w = find_word(attr_words, ARRAY_SIZE(attr_words), opt))) {
			o->attr_set = (o->attr_set & ~w->clr) | w->set;
			o->attr_clr = (o->attr_clr & ~w->set) | w->clr;
		} else if ((w = find_word(propagation_words, ARRAY_SIZE(propagation_words), opt))) {
			o->propagation = w->set;
		} else if (!ignored(opt)) {
			return krun_make_error(err, 0,
					       "mount `%s`: option `%s` is not supported for a "
					       "bind mount",
					       m->destination, opt);
		}
	}
	/* The guest reaches these files through the VMM: a host device node must not open
	 * (the guest has devices of its own), whatever the options say. */
	o->attr_set |= MOUNT_ATTR_NODEV;
	o->attr_clr &= ~(unsigned long long)MOUNT_ATTR_NODEV;
	/* The access-time options form one field: setting one needs the field cleared. */
	if (o->attr_set & (MOUNT_ATTR_NOATIME | MOUNT_ATTR_RELATIME | MOUNT_ATTR_STRICTATIME))
		o->attr_clr |= MOUNT_ATTR__ATIME;
	return 0;
}

static int openat2_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

/* Opens (O_PATH) the mount point dest inside the root, creating what is missing: each
 * directory on the way, and the last component as a directory or an empty file. Every
 * step is resolved inside the root, so the image's symlinks cannot lead out of it. */
static int open_mount_point(int rootfd, const char *dest, bool dir, krun_error_t *err)
{
	cleanup_free char *path = xstrdup(dest);
	char *p = path;

	for (;;) {
		char *slash, saved;
		int fd, ret;
		bool last;

		while (*p == '/')
			p++;
		slash = strchr(p, '/');
		last = !slash || slash[strspn(slash, "/")] == '\0';
		saved = slash ? *slash : '\0';
		if (slash)
			*slash = '\0';
		fd = openat2_in_root(rootfd, path, O_PATH);
		if (fd == -ENOENT) {
			cleanup_close int parent = -1;
			char *base = strrchr(path, '/');

			*base = '\0';
			parent = openat2_in_root(rootfd, *path ? path : "/", O_PATH | O_DIRECTORY);
			*base = '/';
			if (parent < 0)
				return krun_make_error(err, -parent, "mount point `%s`", dest);
			if (!last || dir)
				ret = mkdirat(parent, base + 1, 0755);
			else
				ret = mknodat(parent, base + 1, S_IFREG | 0644, 0);
			if (ret < 0 && errno != EEXIST)
				return krun_make_error(err, errno,
						       "create mount point `%s` in the root", path);
			fd = openat2_in_root(rootfd, path, O_PATH);
		}
		if (fd < 0)
			return krun_make_error(err, -fd, "mount point `%s`", path);
		if (last)
			return fd;
		close(fd);
		*slash = saved;
		p = slash;
	}
}

static char *bind_source(const struct oci_mount *m, const char *bundle)
{
	char *src;

	if (m->source[0] == '/')
		return xstrdup(m->source);
	xasprintf(&src, "%s/%s", bundle, m->source);
	return src;
}

static int bind_one(const struct oci_mount *m, const char *bundle, int rootfd, krun_error_t *err)
{
	cleanup_free char *src = NULL;
	cleanup_close int tree = -1, target = -1;
	struct bind_options o;
	struct stat st;
	int ret;

	if (!m->source)
		return krun_make_error(err, 0, "mount `%s`: a bind mount needs a source",
				       m->destination);
	ret = bind_options_parse(m, &o, err);
	if (ret < 0)
		return ret;
	src = bind_source(m, bundle);
	if (stat(src, &st) < 0)
		return krun_make_error(err, errno, "mount `%s`: source `%s`", m->destination, src);
	tree = open_tree(AT_FDCWD, src,
			 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (o.recursive ? AT_RECURSIVE : 0));
	if (tree < 0)
		return krun_make_error(err, errno, "mount `%s`: clone `%s`", m->destination, src);
	struct mount_attr attr = {
		.attr_set = o.attr_set,
		.attr_clr = o.attr_clr,
		.propagation = o.propagation,
	};
	if (mount_setattr(tree, "", AT_EMPTY_PATH | (o.recursive ? AT_RECURSIVE : 0), &attr,
			  sizeof(attr)) < 0)
		return krun_make_error(err, errno, "mount `%s`: set its options", m->destination);
	target = open_mount_point(rootfd, m->destination, S_ISDIR(st.st_mode), err);
	if (target < 0)
		return target;
	if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return krun_make_error(err, errno, "mount `%s` on `%s`", src, m->destination);
	return 0;
}

/* How the container's copy of the host mounts relates to the host's: never shared back,
 * since a mount made for the container must not appear on the host ("shared" becomes a
 * slave: host mounts still arrive), and private by default. */
static unsigned long propagation_flag(const char *name)
{
	const struct option_word *w;

	if (!name)
		return MS_PRIVATE;
	w = find_word(propagation_words, ARRAY_SIZE(propagation_words), name);
	if (!w)
		return 0;
	if (w->set == MS_SHARED)
		return MS_SLAVE;
	return w->set == MS_UNBINDABLE ? MS_PRIVATE : w->set;
}

/* The root becomes a mount of its own (a clone of the rootfs tree) on which no device node
 * opens: the VMM serves these files to the guest, which has devices of its own. Read-only
 * applies to its top only; the bind mounts made on it later keep their own. */
static int make_root_mount(const char *rootfs, bool readonly, krun_error_t *err)
{
	cleanup_close int tree = -1;
	struct mount_attr nodev = { .attr_set = MOUNT_ATTR_NODEV };
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };

	tree = open_tree(AT_FDCWD, rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return krun_make_error(err, errno, "root: clone `%s`", rootfs);
	if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &nodev, sizeof(nodev)) < 0)
		return krun_make_error(err, errno, "root: set `nodev`");
	if (readonly && mount_setattr(tree, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
		return krun_make_error(err, errno, "read-only root: set read-only");
	if (move_mount(tree, "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return krun_make_error(err, errno, "root: mount on `%s`", rootfs);
	return 0;
}

int mounts_setup(const struct oci_config *cfg, const char *bundle, const char *rootfs,
		 krun_error_t *err)
{
	unsigned long propagation = propagation_flag(cfg->rootfs_propagation);
	cleanup_close int rootfd = -1;
	int ret;

	if (!propagation)
		return krun_make_error(err, 0,
				       "config.json: linux.rootfsPropagation `%s` is not "
				       "a propagation type",
				       cfg->rootfs_propagation);
	/* Nothing mounted for the container may show up in the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | propagation, NULL) < 0)
		return krun_make_error(err, errno, "make the container's mounts private");
	ret = make_root_mount(rootfs, cfg->root_readonly, err);
	if (ret < 0)
		return ret;
	rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return krun_make_error(err, errno, "rootfs `%s`", rootfs);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		if (!mount_is_host_bind(&cfg->mounts[i]))
			continue;
		ret = bind_one(&cfg->mounts[i], bundle, rootfd, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}
