# Shared by the benchmarks: where the built pieces are, a busybox root filesystem, and
# the re-run inside the KVM test host where this host's KVM cannot run the guest.

bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${KRUN_BIN:=$bench_top/krun}"
: "${KRUN_KERNEL:=$bench_top/kernel/vmlinux}"
: "${KRUN_INIT:=$bench_top/init/krun-init}"
: "${KRUN_TESTPROG:=$bench_top/tests/tools/krun-testprog}"
export KRUN_BIN KRUN_KERNEL KRUN_INIT KRUN_TESTPROG

# Re-executes the calling script inside the test host when guests cannot run here.
bench_need_kvm() {
	if [ -z "${BENCH_INSIDE_KVMHOST:-}" ] && reason=$("$bench_top/tests/kvmhost/needed"); then
		echo "# $reason: running inside the KVM test host (TCG: compare ratios, not times)" >&2
		exec "$bench_top/tests/kvmhost/run" --env BENCH_INSIDE_KVMHOST --rw "$bench_top" \
			-- env BENCH_INSIDE_KVMHOST=1 "$0" "$@"
	fi
}

# bench_rootfs DIR: busybox and the test helper.
bench_rootfs() {
	mkdir -p "$1"/{bin,proc,sys,dev,tmp,etc}
	cp /bin/busybox "$KRUN_TESTPROG" "$1/bin/"
	local a
	for a in sh sleep cat true; do ln -sf busybox "$1/bin/$a"; done
}

# bench_config ARGS...: an OCI config.json running ARGS, on stdout.
bench_config() {
	local args='[]' a
	for a in "$@"; do args=$(jq -c --arg a "$a" '. + [$a]' <<< "$args"); done
	jq -n --argjson args "$args" '{ ociVersion: "1.0.2", root: { path: "rootfs" },
		process: { args: $args, env: ["PATH=/bin"], cwd: "/" } }'
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# qemu_root BUNDLE DIR: a copy of the bundle's rootfs for QEMU, which cannot serve the
# virtual files krun serves: the init and the config become real files.
qemu_root() {
	cp -a "$1/rootfs" "$2"
	cp "$KRUN_INIT" "$2/init.krun"
	cp "$1/config.json" "$2/.krun_config.json"
}

# qemu_microvm ROOT RAM_MIB STDOUT_FILE: QEMU's microvm machine booting our vmlinux (PVH
# entry) and our init from a 9p root, with the workload's stdio on named virtio ports as
# krun provides them. Stderr of the workload goes to ROOT.err. Without ACPI, microvm
# announces its virtio-mmio devices on the command line only with acpi=off; it has no
# i8042, so the guest powers off by triple fault (reboot=t), which -no-reboot ends.
qemu_microvm() {
	: > "$3"
	qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off,acpi=off -accel kvm -cpu host \
		-m "$2" -smp 1 -nodefaults -no-user-config -nographic -no-reboot \
		-kernel "$KRUN_KERNEL" \
		-append "console=hvc0 root=rootfs rootfstype=9p rootflags=trans=virtio,version=9p2000.L rw quiet reboot=t panic=-1 init=/init.krun" \
		-fsdev local,id=root,path="$1",security_model=none \
		-device virtio-9p-device,fsdev=root,mount_tag=rootfs \
		-device virtio-serial-device \
		-chardev null,id=con -device virtconsole,chardev=con \
		-chardev null,id=in -device virtserialport,chardev=in,name=krun-stdin \
		-chardev file,id=out,path="$3" -device virtserialport,chardev=out,name=krun-stdout \
		-chardev file,id=err,path="$1.err" -device virtserialport,chardev=err,name=krun-stderr
}

# rss_outside_ram PID RAM_START RAM_END: the process's resident KiB outside the guest
# RAM address range, i.e. the VMM's own memory.
rss_outside_ram() {
	local lo=$2 hi=$3 kb=0 inside=0 first rest
	while read -r first rest; do
		if [[ $first =~ ^([0-9a-f]+)-([0-9a-f]+)$ ]]; then
			inside=$(( 16#${BASH_REMATCH[1]} >= lo && 16#${BASH_REMATCH[2]} <= hi ))
		elif [ "$first" = Rss: ] && [ "$inside" -eq 0 ]; then
			kb=$((kb + ${rest%% *}))
		fi
	done < "/proc/$1/smaps"
	echo "$kb"
}
