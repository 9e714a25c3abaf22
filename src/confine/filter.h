/* The VMM's seccomp program, made at build time by gen-filter (gen_filter.c holds the
 * allow-list) into the generated filter_bpf.c, and loaded by seccomp.c. */
#ifndef KRUN_CONFINE_FILTER_H
#define KRUN_CONFINE_FILTER_H

#include <linux/filter.h>
#include <stddef.h>

/* tgkill's first argument must be the process' own tgid, known only at run time: the
 * program compares it with this value, which seccomp.c replaces (no pid is this large). */
#define CONFINE_TGID_PLACEHOLDER 0x7fffabcdu
#define CONFINE_IS_TGID_PLACEHOLDER(insn)                                                          \
	((insn)->code == (BPF_JMP | BPF_JEQ | BPF_K) && (insn)->k == CONFINE_TGID_PLACEHOLDER)

/* The longest program seccomp.c patches (on its stack); gen-filter refuses a longer one. */
#define CONFINE_FILTER_MAX_LEN 512

extern const struct sock_filter confine_filter[];
extern const size_t confine_filter_len;

#endif
