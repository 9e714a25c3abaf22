/* confine_apply: the bounding set needs CAP_SETPCAP, so it goes before the capset that
 * may drop it; the filter comes last, and forbids both. */
#include "confine.h"

int confine_apply(const struct confine_config *cfg, krun_error_t *err)
{
	int ret = confine_caps(confine_caps_kept(cfg->bounding), err);

	if (ret == 0)
		ret = confine_seccomp(err);
	return ret < 0 ? krun_error_wrap(err, "confine the VMM") : 0;
}
