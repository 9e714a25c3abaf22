#!/usr/bin/env bats
# The image's /.krun_vm.json in a real bundle: every field reaches the VM, each krun.*
# annotation wins over the file, and a file that is malformed, of the wrong kind or
# pointing out of the root fails `create` with a message that says what is wrong.
# nested_virt turned on is in 16-nested-virt.bats (its guest runs a VM: slow under TCG).

load helpers

# vm_json TEXT: the image's /.krun_vm.json.
vm_json() {
	printf '%s\n' "$1" > "$BUNDLE/rootfs/.krun_vm.json"
}

# fails_with TEXT: krun run fails at once (before any VM), printing TEXT on stderr.
fails_with() {
	run --separate-stderr timeout 60 "$KRUN_BIN" run --bundle "$BUNDLE" "test-$BATS_TEST_NUMBER-$$"
	[ "$status" -ne 124 ] || fail "krun hung: $stderr"
	assert_equal "$status" 1
	[[ "$stderr" == "krun: "*"$1"* ]] || fail "stderr does not hold '$1': $stderr"
}

# The guest's view of its machine, one line each (the kvm line also says whether the
# CPU offers SVM or VMX).
GUEST_REPORT='nproc
	awk "/^MemTotal:/ { print \"mem \" \$2 }" /proc/meminfo
	echo "cmdline $(cat /proc/cmdline)"
	awk "\$2 == \"/\" { print \"root \" \$1 \" \" \$3; exit }" /proc/mounts
	if grep -qwE "svm|vmx" /proc/cpuinfo; then echo "cpu-virt yes"; else echo "cpu-virt no"; fi
	if [ -e /dev/kvm ]; then echo "dev-kvm yes"; else echo "dev-kvm no"; fi'

# mem_between LOW_MIB HIGH_MIB: the guest's MemTotal (the RAM minus what the kernel keeps
# for itself) is in (LOW, HIGH] MiB.
mem_between() {
	local kib
	kib=$(awk '$1 == "mem" { print $2 }' <<< "$output")
	[ -n "$kib" ] && [ "$kib" -gt $(($1 * 1024)) ] && [ "$kib" -le $(($2 * 1024)) ] ||
		fail "MemTotal $kib kB, not in ($1, $2] MiB"
}

@test ".krun_vm.json: every field is applied (cpus, ram_mib, kernel_cmdline, virtiofs_tag, the zero switches)" {
	make_bundle -- sh -c "$GUEST_REPORT"
	vm_json '{"cpus": 1, "ram_mib": 320, "gpu_flags": 0, "use_passt": 0, "nested_virt": 0,
		  "kernel_cmdline": "krun_test.marker=from-image", "virtiofs_tag": "image-root",
		  "virtiofs_shm_size": 0}'
	run --separate-stderr krun_run
	assert_success
	assert_line 1
	mem_between 270 320
	assert_line --regexp '^cmdline .* krun_test\.marker=from-image$'
	assert_line "root image-root virtiofs"
	assert_line "cpu-virt no"
	assert_line "dev-kvm no"
}

@test ".krun_vm.json: each krun.* annotation wins over the file" {
	make_bundle --annotation krun.cpus=1 --annotation krun.ram_mib=384 \
		--annotation krun.gpu_flags=0 --annotation krun.use_passt=0 \
		--annotation krun.nested_virt=0 -- sh -c "$GUEST_REPORT"
	# Every value here would show, or would be refused as not supported yet.
	vm_json '{"cpus": 2, "ram_mib": 256, "gpu_flags": 1, "use_passt": 1, "nested_virt": 1}'
	run --separate-stderr krun_run
	assert_success
	assert_line 1
	mem_between 330 384
	assert_line "cpu-virt no"
	assert_line "dev-kvm no"
	[[ $stderr != *nested* ]] || fail "a warning about nesting for a value that lost: $stderr"

	# krun.variant: every value is refused by this krun, but the message is the annotation's.
	make_bundle --annotation krun.variant=aws-nitro -- true
	vm_json '{"flavor": "no-such-variant"}'
	fails_with "krun.variant=aws-nitro: this krun was built without the aws-nitro variant"
	# A bad file value hidden by an annotation is not read.
	make_bundle --annotation krun.cpus=1 -- true
	vm_json '{"cpus": "many"}'
	KRUN_KERNEL=/nonexistent/vmlinux run --separate-stderr krun_run
	[[ $stderr == *"guest kernel \`/nonexistent/vmlinux\`"* ]] || fail "stderr: $stderr"
}

@test ".krun_vm.json: kernel_path boots the kernel shipped in the image" {
	make_bundle -- sh -c 'uname -r; cat /proc/cmdline'
	mkdir -p "$BUNDLE/rootfs/boot"
	cp "$KRUN_KERNEL" "$BUNDLE/rootfs/boot/vmlinux-6.1"
	# A symbolic link inside the image, resolved inside it.
	ln -s /boot/vmlinux-6.1 "$BUNDLE/rootfs/boot/vmlinux"
	vm_json '{"kernel_path": "/boot/vmlinux", "kernel_format": 1, "kernel_cmdline": "krun_test.k=image"}'
	# krun's own kernel is not there: only the image's can boot.
	KRUN_KERNEL=/nonexistent/vmlinux run --separate-stderr krun_run
	assert_success
	assert_line --regexp '^6\.1\.[0-9]+-krun$'
	assert_line --regexp ' krun_test\.k=image$'
}

@test ".krun_vm.json: a kernel_path that is missing, outside the root, not a file or not a kernel" {
	make_bundle -- true
	vm_json '{"kernel_path": "/boot/none", "kernel_format": 1}'
	fails_with "the image's kernel \`/boot/none\`: No such file or directory"
	# An absolute link to the host's kernel, and a climb out of the root, stay inside it.
	mkdir -p "$BUNDLE/rootfs/boot"
	ln -s "$KRUN_KERNEL" "$BUNDLE/rootfs/boot/host-kernel"
	vm_json '{"kernel_path": "/boot/host-kernel", "kernel_format": 1}'
	fails_with "the image's kernel \`/boot/host-kernel\`: No such file or directory"
	vm_json "{\"kernel_path\": \"../../../../../../../..$KRUN_KERNEL\", \"kernel_format\": 1}"
	fails_with "No such file or directory"
	vm_json '{"kernel_path": "/boot", "kernel_format": 1}'
	fails_with "the image's kernel \`/boot\` is not a regular file"
	vm_json '{"kernel_path": "/boot/vmlinux"}'
	fails_with ".krun_vm.json: kernel_path needs kernel_format (1 for ELF)"
	vm_json '{"kernel_format": 1}'
	fails_with ".krun_vm.json: kernel_format needs kernel_path"
	vm_json '{"kernel_path": "/boot", "kernel_format": 2}'
	fails_with ".krun_vm.json: kernel_format=2: a kernel format other than 1 (ELF) is not supported yet"
	vm_json '{"kernel_path": "/etc/passwd", "kernel_format": 1}'
	fails_with "the image's kernel \`/etc/passwd\` is not an ELF file (kernel_format 1)"
	: > "$BUNDLE/rootfs/boot/empty"
	vm_json '{"kernel_path": "/boot/empty", "kernel_format": 1}'
	fails_with "the image's kernel \`/boot/empty\` is not an ELF file (kernel_format 1)"
}

@test ".krun_vm.json: a virtiofs_tag that would change the kernel command line is refused" {
	make_bundle -- true
	local tag
	for tag in 'my root' 'a" init=/bin/sh' "it's" $'a\tb' 'x;reboot' 'tâg'; do
		vm_json "$(jq -cn --arg t "$tag" '{virtiofs_tag: $t}')"
		fails_with ".krun_vm.json: virtiofs_tag="
		[[ $stderr == *": may hold only letters, digits and . _ - / : + @" ]] ||
			fail "tag '$tag': $stderr"
	done
	vm_json '{"virtiofs_tag": "0123456789012345678901234567890123456"}'
	fails_with "virtiofs_tag=0123456789012345678901234567890123456: must be 1 to 36 bytes long"
}

@test ".krun_vm.json: malformed documents, wrong types, unknown keys and bad values" {
	make_bundle -- true
	vm_json '{"cpus": 1,'
	fails_with ".krun_vm.json: invalid JSON"
	vm_json '[{"cpus": 1}]'
	fails_with ".krun_vm.json: the document must be a JSON object"
	vm_json '{"cpus": "2"}'
	fails_with ".krun_vm.json: cpus must be an integer"
	vm_json '{"nested_virt": true}'
	fails_with ".krun_vm.json: nested_virt must be an integer"
	vm_json '{"kernel_cmdline": ["quiet"]}'
	fails_with ".krun_vm.json: kernel_cmdline must be a string"
	vm_json '{"cpus": 1.5}'
	fails_with ".krun_vm.json: cpus=1.5: not a number"
	vm_json '{"cpus": 17}'
	fails_with ".krun_vm.json: cpus=17: must be from 1 to 16"
	vm_json '{"ram_mib": 1048576}'
	fails_with ".krun_vm.json: ram_mib=1048576: more than the maximum of 65536 MiB"
	vm_json "{\"kernel_cmdline\": \"$(head -c 1025 /dev/zero | tr '\0' x)\"}"
	fails_with "kernel_cmdline="
	[[ $stderr == *"longer than 1024 bytes" ]] || fail "stderr: $stderr"
	vm_json '{"cpus": 1, "cpu": 2}'
	fails_with ".krun_vm.json: unknown key \`cpu\`"
	vm_json '{"flavor": "tdx"}'
	fails_with ".krun_vm.json: flavor=tdx: unknown variant (known: sev, aws-nitro)"
	vm_json '{"flavor": "sev"}'
	fails_with ".krun_vm.json: flavor=sev: this krun was built without the sev variant"
}

@test ".krun_vm.json: settings not supported yet are refused, naming the setting" {
	make_bundle -- true
	vm_json '{"gpu_flags": 1}'
	fails_with ".krun_vm.json: gpu_flags=1: virtio-gpu is not supported yet"
	vm_json '{"use_passt": 1}'
	fails_with ".krun_vm.json: use_passt=1: passt networking is not supported yet"
	vm_json '{"initrd_path": "/boot/initrd"}'
	fails_with ".krun_vm.json: initrd_path=/boot/initrd: an initrd is not supported yet"
	vm_json '{"virtiofs_shm_size": 536870912}'
	fails_with ".krun_vm.json: virtiofs_shm_size=536870912: a virtio-fs DAX window is not supported yet"
}

@test ".krun_vm.json: a symbolic link is followed inside the root, never out of it" {
	make_bundle -- true
	# Inside the root, absolute or relative: read (its unknown key shows it was).
	mkdir -p "$BUNDLE/rootfs/etc/krun"
	echo '{"from-the-link": 1}' > "$BUNDLE/rootfs/etc/krun/vm.json"
	ln -s /etc/krun/vm.json "$BUNDLE/rootfs/.krun_vm.json"
	fails_with ".krun_vm.json: unknown key \`from-the-link\`"
	ln -sfn etc/krun/vm.json "$BUNDLE/rootfs/.krun_vm.json"
	fails_with ".krun_vm.json: unknown key \`from-the-link\`"
	# A host file outside the root, named absolutely or by climbing: never read, and
	# not silently taken for "no file".
	echo '{"from-the-host": 1}' > "$BATS_TEST_TMPDIR/outside.json"
	ln -sfn "$BATS_TEST_TMPDIR/outside.json" "$BUNDLE/rootfs/.krun_vm.json"
	fails_with "the image's /.krun_vm.json is a symbolic link to no file inside the image"
	ln -sfn "../../../../../../../..$BATS_TEST_TMPDIR/outside.json" "$BUNDLE/rootfs/.krun_vm.json"
	fails_with "the image's /.krun_vm.json is a symbolic link to no file inside the image"
	[[ $stderr != *from-the-host* ]] || fail "the host file was read: $stderr"
}

@test ".krun_vm.json: a FIFO, a directory or a 10 MiB file is refused without blocking" {
	make_bundle -- true
	mkfifo "$BUNDLE/rootfs/.krun_vm.json"
	fails_with "the image's /.krun_vm.json is not a regular file"
	rm "$BUNDLE/rootfs/.krun_vm.json"
	mkdir "$BUNDLE/rootfs/.krun_vm.json"
	fails_with "the image's /.krun_vm.json is not a regular file"
	rmdir "$BUNDLE/rootfs/.krun_vm.json"
	{ printf '{"cpus": 1, "kernel_cmdline": "'; head -c $((10 << 20)) /dev/zero | tr '\0' x; printf '"}\n'; } \
		> "$BUNDLE/rootfs/.krun_vm.json"
	fails_with ".krun_vm.json: larger than 64 KiB"
}
