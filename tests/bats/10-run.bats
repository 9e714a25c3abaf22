#!/usr/bin/env bats
# krun run: the workload's output, exit status, environment and the machine it sees.

load helpers

@test "hello world" {
	make_bundle -- echo hello world
	run krun_run
	assert_success
	assert_output "hello world"
}

@test "exit statuses 0, 1 and 42 are the workload's" {
	for code in 0 1 42; do
		make_bundle -- sh -c "exit $code"
		run krun_run
		[ "$status" -eq "$code" ] || fail "exit $code gave $status: $output"
	done
}

@test "a program that does not exist exits 127 with a message" {
	make_bundle -- /bin/no-such-program
	run -127 --separate-stderr krun_run
	assert_equal "$status" 127
	[[ "$stderr" == *"no-such-program"* ]] || fail "stderr: $stderr"
}

@test "a file that is not executable exits 126" {
	make_bundle -- /etc/passwd
	run krun_run
	assert_equal "$status" 126
}

@test "a workload killed by SIGKILL exits 137" {
	make_bundle -- sh -c 'kill -9 $$'
	run krun_run
	assert_equal "$status" 137
}

@test "env and cwd are applied" {
	make_bundle --cwd /home/user --env GREETING=bonjour --env EMPTY= -- sh -c 'echo "$GREETING|$EMPTY|$(pwd)"'
	run krun_run
	assert_success
	assert_output "bonjour||/home/user"
}

@test "PATH lookup finds the program" {
	make_bundle --env PATH=/nowhere:/bin -- busybox true
	run krun_run
	assert_success
}

@test "stdout and stderr arrive separately and completely (1 MiB each)" {
	make_bundle -- sh -c 'krun-testprog pattern stdout 1048576 out-; krun-testprog pattern stderr 1048576 err-'
	krun_run > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err"
	expected_out=$("$KRUN_TESTPROG" pattern stdout 1048576 out- | sha256sum)
	expected_err=$("$KRUN_TESTPROG" pattern stderr 1048576 err- 2>&1 >/dev/null | sha256sum)
	assert_equal "$(sha256sum < "$BATS_TEST_TMPDIR/out")" "$expected_out"
	assert_equal "$(sha256sum < "$BATS_TEST_TMPDIR/err")" "$expected_err"
}

@test "stdin reaches the workload and EOF ends it" {
	make_bundle -- sh -c 'wc -c; echo done'
	run krun_run < <(head -c 300000 /dev/zero)
	assert_success
	assert_equal "${lines[0]// /}" "300000"
	assert_equal "${lines[1]}" "done"
}

@test "the guest sees the configured vCPUs" {
	# Not more than the test host's 2 CPUs: overcommitted nested guests are what freezes
	# QEMU/TCG's SVM emulation most often (tests/kvmhost/README.md); the clamp to 16 and
	# the default are unit-tested.
	for n in 1 2; do
		make_bundle --annotation krun.cpus=$n -- nproc
		run krun_run
		assert_success
		assert_output "$n"
	done
}

@test "the guest sees the configured RAM" {
	make_bundle --annotation krun.ram_mib=256 -- sh -c 'grep MemTotal /proc/meminfo'
	run krun_run
	assert_success
	kib=$(echo "$output" | awk '{print $2}')
	# MemTotal is the RAM minus what the kernel reserves for itself.
	[ "$kib" -gt $((200 * 1024)) ] && [ "$kib" -le $((256 * 1024)) ] || fail "MemTotal $kib kB"
}

@test "the OCI memory limit sets the guest RAM" {
	make_bundle --memory $((300 * 1024 * 1024)) -- sh -c 'grep MemTotal /proc/meminfo'
	run krun_run
	assert_success
	kib=$(echo "$output" | awk '{print $2}')
	[ "$kib" -gt $((250 * 1024)) ] && [ "$kib" -le $((300 * 1024)) ] || fail "MemTotal $kib kB"
}

@test "uname -r shows our kernel" {
	make_bundle -- uname -r
	run krun_run
	assert_success
	assert_output --regexp '^6\.1\.[0-9]+-krun$'
}

@test "the guest has the container's mounts" {
	make_bundle -- sh -c 'cat /proc/mounts'
	run krun_run
	assert_success
	for fs in "/ virtiofs" "/proc proc" "/sys sysfs" "/dev devtmpfs" "/dev/pts devpts" "/dev/shm tmpfs" "/sys/fs/cgroup cgroup2"; do
		assert_line --partial "$fs"
	done
}

@test "the VMM's own messages reach the JSON log" {
	local log=$BATS_TEST_TMPDIR/krun.log
	make_bundle -- true
	run --separate-stderr "$KRUN_BIN" --debug --log "$log" --log-format json \
		run --bundle "$BUNDLE" "test-$BATS_TEST_NUMBER-$$"
	assert_success
	jq -r 'select(.level == "debug") | .msg' "$log" | grep -q '^VM stopped: ' ||
		fail "log: $(cat "$log")"
}
