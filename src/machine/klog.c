/* The end of the guest's kernel console, as krun prints it when the guest stopped without
 * an exit status (machine_klog_text in internal.h). */
#include <stdio.h>
#include <string.h>
#include "machine/internal.h"
#include "util/util.h"

/* The guest's last words, which nobody else shows without a terminal (a kernel panic goes
 * there): whole lines only, each after "  | ", and only printable ASCII, since the guest
 * wrote them. A memory stream, since a line break takes five bytes of output and the guest
 * chooses how many there are. */
char *machine_klog_text(const char *klog, size_t len, bool wrapped)
{
	const char *s = klog, *end = klog + len, *nl = memchr(klog, '\n', len);
	char *out = NULL;
	size_t size;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		oom();
	if (wrapped && nl)
		s = nl + 1; /* the ring wrapped: its first line is cut */
	fputs("  | ", f);
	for (; s < end; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\n' && s + 1 < end)
			fputs("\n  | ", f);
		else if (ch == '\t' || (ch >= 0x20 && ch < 0x7f))
			fputc(ch, f);
		else if (ch != '\n' && ch != '\r')
			fputc('?', f);
	}
	if (fclose(f) != 0 || !out)
		oom();
	return out;
}
