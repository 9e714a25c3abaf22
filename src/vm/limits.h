/* The bounds of one krun microVM, defined once: the annotations refuse or adjust what is
 * outside them (krun(1)) and vm_create refuses it. */
#ifndef KRUN_VM_LIMITS_H
#define KRUN_VM_LIMITS_H

/* The MP table lists them and one vCPU array holds them. */
#define VM_MAX_CPUS 16
/* krun(1): a smaller krun.ram_mib is ignored, a smaller memory limit refused. */
#define VM_MIN_RAM_MIB 128
/* 64 GiB: a bound for one container's microVM. */
#define VM_MAX_RAM_MIB 65536

#endif
