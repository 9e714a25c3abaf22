#!/usr/bin/env bats
# The container root through virtio-fs: what the guest writes, the host sees, and the
# reverse; and the guest never reaches outside its root.

load helpers

@test "a file written in the guest appears on the host with its content, mode and owner" {
	make_bundle -- sh -c 'echo from-guest > /work/g.txt && chmod 640 /work/g.txt && chown 1000:1000 /work/g.txt'
	run krun_run
	assert_success
	assert_equal "$(cat "$BUNDLE/rootfs/work/g.txt")" "from-guest"
	assert_equal "$(stat -c '%a %u %g' "$BUNDLE/rootfs/work/g.txt")" "640 1000 1000"
}

@test "a file created by a non-root guest user is owned by that user" {
	make_bundle -- su user -c 'touch /home/user/mine'
	run krun_run
	assert_success
	assert_equal "$(stat -c '%u %g' "$BUNDLE/rootfs/home/user/mine")" "1000 1000"
}

@test "a file written on the host is seen by the guest with its content, mode and owner" {
	make_bundle -- sh -c 'cat /work/h.txt; stat -c "%a %u %g" /work/h.txt'
	echo from-host > "$BUNDLE/rootfs/work/h.txt"
	chmod 604 "$BUNDLE/rootfs/work/h.txt"
	chown 1000:1000 "$BUNDLE/rootfs/work/h.txt"
	run krun_run
	assert_success
	assert_line --index 0 "from-host"
	assert_line --index 1 "604 1000 1000"
}

@test "a 256 MiB file round trip keeps its checksum" {
	make_bundle -- sh -c 'sha256sum < /work/in; cp /work/in /work/out'
	head -c $((256 * 1024 * 1024)) /dev/urandom > "$BUNDLE/rootfs/work/in"
	want=$(sha256sum < "$BUNDLE/rootfs/work/in")
	run krun_run
	assert_success
	assert_output "$want"
	assert_equal "$(sha256sum < "$BUNDLE/rootfs/work/out")" "$want"
}

@test "rename, RENAME_NOREPLACE and RENAME_EXCHANGE" {
	make_bundle -- sh -c '
		cd /work && echo a > a && echo b > b && echo c > c &&
		mv a a2 &&
		! krun-testprog rename-noreplace b c 2>/dev/null &&
		krun-testprog rename-exchange b c'
	run krun_run
	assert_success
	assert_equal "$(cat "$BUNDLE/rootfs/work/a2")" a
	[ ! -e "$BUNDLE/rootfs/work/a" ]
	assert_equal "$(cat "$BUNDLE/rootfs/work/b")" c
	assert_equal "$(cat "$BUNDLE/rootfs/work/c")" b
}

@test "hard link and symlink" {
	make_bundle -- sh -c 'cd /work && echo x > f && ln f hard && ln -s f soft && readlink soft && stat -c %h f'
	run krun_run
	assert_success
	assert_line --index 0 f
	assert_line --index 1 2
	assert_equal "$(stat -c %i "$BUNDLE/rootfs/work/f")" "$(stat -c %i "$BUNDLE/rootfs/work/hard")"
	assert_equal "$(readlink "$BUNDLE/rootfs/work/soft")" f
}

@test "extended attributes" {
	# trusted.* rather than user.*: tmpfs hosts (the test host's /tmp) lack user.* before 6.6.
	make_bundle -- sh -c 'cd /work && touch x && krun-testprog xattr-set x trusted.color blue && krun-testprog xattr-get x trusted.color'
	run krun_run
	assert_success
	assert_output blue
	run "$KRUN_TESTPROG" xattr-get "$BUNDLE/rootfs/work/x" trusted.color
	assert_output blue
}

@test "chmod and truncate" {
	make_bundle -- sh -c 'cd /work && echo 0123456789 > t && truncate -s 4 t && chmod 600 t && truncate -s 8192 big'
	run krun_run
	assert_success
	assert_equal "$(cat "$BUNDLE/rootfs/work/t")" 0123
	assert_equal "$(stat -c %a "$BUNDLE/rootfs/work/t")" 600
	assert_equal "$(stat -c %s "$BUNDLE/rootfs/work/big")" 8192
}

@test "a write through a shared mapping reaches the host file" {
	make_bundle -- sh -c 'cd /work && krun-testprog mmap-write m 4 MAPPED'
	printf 'xxxxxxxxxxxxxxxx' > "$BUNDLE/rootfs/work/m"
	run krun_run
	assert_success
	assert_equal "$(cat "$BUNDLE/rootfs/work/m")" xxxxMAPPEDxxxxxx
}

@test "symlinks to / and ../../.. resolve inside the root" {
	make_bundle -- sh -c 'cat /work/to-root/marker; cat /work/up/marker; ls /work/up/ | grep -c host-only || true'
	echo inside > "$BUNDLE/rootfs/marker"
	echo host-only > "$BUNDLE/marker"
	echo host-only > "$BUNDLE/host-only"
	ln -s / "$BUNDLE/rootfs/work/to-root"
	ln -s ../../.. "$BUNDLE/rootfs/work/up"
	run krun_run
	assert_success
	assert_line --index 0 inside
	assert_line --index 1 inside
	assert_line --index 2 0
}

@test "the guest cannot make a host device node; FIFOs and whiteouts it can" {
	make_bundle -- sh -c '
		cd /work
		mknod kmsg c 1 11 2>&1 || echo refused-c
		mknod sda b 8 0 2>&1 || echo refused-b
		mknod wh c 0 0 && mknod fifo p && echo made'
	run krun_run
	assert_success
	assert_line refused-c
	assert_line refused-b
	assert_line made
	[ ! -e "$BUNDLE/rootfs/work/kmsg" ] && [ ! -e "$BUNDLE/rootfs/work/sda" ]
	[ -p "$BUNDLE/rootfs/work/fifo" ]
	assert_equal "$(stat -c '%F %t:%T' "$BUNDLE/rootfs/work/wh")" "character special file 0:0"
}
