/* How krun prints the end of a guest's kernel console (machine_klog_text): whatever the
 * guest wrote there, including a ring full of line breaks (five bytes of output each). */
#include <stdlib.h>
#include <string.h>
#include "machine/internal.h"
#include "tap.h"

int main(void)
{
	static const char lines[] = "one\ntwo\x01\x7f\r\nthree\n";
	char ring[CONSOLE_KLOG_SIZE];
	char *text;

	text = machine_klog_text(lines, sizeof(lines) - 1, false);
	ok(!strcmp(text, "  | one\n  | two??\n  | three"),
	   "lines after \"  | \", control bytes as ?, CR dropped, no empty last line");
	free(text);
	text = machine_klog_text("cut line\nwhole\n", 15, true);
	ok(!strcmp(text, "  | whole"), "a wrapped ring loses its first, cut, line");
	free(text);
	memset(ring, '\n', sizeof(ring));
	text = machine_klog_text(ring, sizeof(ring), false);
	size_t want = 4 + 5 * (sizeof(ring) - 1);
	ok(strlen(text) == want && !strncmp(text + want - 5, "\n  | ", 5),
	   "a ring of line breaks: every one printed, none beyond the buffer");
	free(text);
	return tap_done();
}
