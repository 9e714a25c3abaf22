/* Control-file helpers of the cgroup code. */
#include "oci/cgroup_internal.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* cgroup.procs of a busy cgroup can be long. */
#define CG_READ_MAX (16u << 20)

const char *const cg_ctrl_names[CG_NCTRL] = {
	[CG_CPU] = "cpu",   [CG_CPUSET] = "cpuset",   [CG_MEMORY] = "memory",
	[CG_PIDS] = "pids", [CG_FREEZER] = "freezer",
};

const struct cg_hier *cg_find(const struct cgroup *cg, enum cg_ctrl ctrl)
{
	for (size_t i = 0; i < cg->n; i++) {
		if (cg->h[i].ctrls & (1u << ctrl))
			return &cg->h[i];
	}
	return NULL;
}

int cg_missing(krun_error_t *err, enum cg_ctrl ctrl)
{
	return krun_make_error(err, 0, "cgroup: the %s controller is not available on this host",
			       cg_ctrl_names[ctrl]);
}

int cg_write(const char *dir, const char *file, const char *value, krun_error_t *err)
{
	cleanup_free char *path = NULL;
	cleanup_close int fd = -1;
	size_t len = strlen(value);
	ssize_t n;

	xasprintf(&path, "%s/%s", dir, file);
	/* No O_CREAT: the kernel makes the control files, a missing one is an error. */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return krun_make_error(err, errno, "cgroup: write `%s` to `%s`", value, path);
	n = write(fd, value, len);
	if (n < 0 || (size_t)n != len)
		return krun_make_error(err, n < 0 ? errno : EIO, "cgroup: write `%s` to `%s`",
				       value, path);
	return 0;
}

int cg_write_int(const char *dir, const char *file, long long value, krun_error_t *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", value);
	return cg_write(dir, file, buf, err);
}

int cg_read(const char *dir, const char *file, char **out, krun_error_t *err)
{
	cleanup_free char *path = NULL;
	char *buf;
	size_t len;
	int ret;

	xasprintf(&path, "%s/%s", dir, file);
	ret = read_file_at(AT_FDCWD, path, CG_READ_MAX, &buf, &len);
	if (ret < 0)
		return krun_make_error(err, -ret, "cgroup: read `%s`", path);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	*out = buf;
	return 0;
}

bool cg_has_file(const char *dir, const char *file)
{
	cleanup_free char *path = NULL;

	xasprintf(&path, "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

bool cg_backoff(unsigned *waited_ms, unsigned timeout_ms)
{
	unsigned step = *waited_ms < 10 ? 1 : *waited_ms < 200 ? 10 : 50;

	if (*waited_ms >= timeout_ms)
		return false;
	usleep(step * 1000);
	*waited_ms += step;
	return true;
}

bool cg_word_in(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; *p;) {
		size_t n;

		p += strspn(p, " \t\n");
		n = strcspn(p, " \t\n");
		if (n == len && strncmp(p, word, len) == 0)
			return true;
		p += n;
	}
	return false;
}
