# The retry logic of tests/run-all and the evidence of a failed test host that
# tests/kvmhost/run reads, with a fake test host (fake-run) and made-up consoles: runs on
# any machine, without the test host. tests/run-all runs it.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

HERE=$BATS_TEST_DIRNAME
LOCKUP='[  181.263113] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [vcpu0:849]'
PANIC='[  402.912001] Kernel panic - not syncing: Fatal exception in interrupt'
RCU='[  255.001234] rcu: INFO: rcu_preempt self-detected stall on CPU'

setup() {
	export FAKE_KVMHOST_DIR=$BATS_TEST_TMPDIR/fake RESULTS=$BATS_TEST_TMPDIR/results
	mkdir -p "$FAKE_KVMHOST_DIR" "$RESULTS"
}

# attempt NAME N STATUS [EVIDENCE]: attempt N of NAME.bats exits STATUS after printing
# the TAP on stdin, and the test host's evidence when given.
attempt() {
	{
		echo "$3 ${4-}"
		cat
	} > "$FAKE_KVMHOST_DIR/$1.$2"
}

calls() { cat "$FAKE_KVMHOST_DIR/$1.calls"; }

# Runs the named bats files as tests/run-all does inside the test host, then its summary.
run_files() {
	run bash -c '
		source "$1/../run-all"
		results=$RESULTS builddir=$RESULTS srcdir=$1/../.. kvmhost_run=$1/fake-run
		shift
		for name in "$@"; do
			run_bats_file "$name.bats" inside
		done
		summarize' _ "$HERE" "$@"
}

@test "a file whose tests pass runs once" {
	printf '1..2\nok 1 one\nok 2 two\n' | attempt a 1 0
	run_files a
	assert_success
	assert_equal "$(calls a)" 1
	assert_equal "${lines[-1]}" "2 passed, 0 failed"
}

@test "a failing test is a failure and runs once" {
	printf '1..2\nok 1 one\nnot ok 2 two\n' | attempt a 1 1
	run_files a
	assert_failure
	assert_equal "$(calls a)" 1
	assert_equal "${lines[-1]}" "1 passed, 1 failed"
}

@test "a file that used up its time limit in a live test host is a failure and runs once" {
	printf '1..3\nok 1 one\n' | attempt a 1 124
	run_files a
	assert_failure
	assert_equal "$(calls a)" 1
	assert_equal "${lines[-1]}" "1 passed, 2 failed"
}

@test "a test host that stopped without evidence of its own failure is not retried" {
	printf '1..1\n' | attempt a 1 75
	run_files a
	assert_failure
	assert_equal "$(calls a)" 1
	assert_equal "${lines[-1]}" "0 passed, 1 failed"
}

@test "a test host that failed runs the file again; both attempts and the evidence are kept" {
	printf '1..2\nok 1 one\n' | attempt a 1 75 "its kernel logged \"${LOCKUP#*] }\""
	printf '1..2\nok 1 one\nok 2 two\n' | attempt a 2 0
	run_files a
	assert_success
	assert_equal "$(calls a)" 2
	assert_equal "${lines[-2]}" "2 passed, 0 failed"
	assert_equal "${lines[-1]}" "retried after a test host failure: a.bats attempt 1: its kernel logged \"${LOCKUP#*] }\""
	assert_equal "$(cat "$RESULTS/bats-a-1.tap")" "$(printf '1..2\nok 1 one')"
	assert_equal "$(cat "$RESULTS/bats-a-2.tap")" "$(printf '1..2\nok 1 one\nok 2 two')"
	assert_equal "$(cat "$RESULTS/kvmhost-a-1.log")" "console of a, attempt 1"
	assert_equal "$(cat "$RESULTS/kvmhost-a-2.log")" "console of a, attempt 2"
	assert [ -s "$RESULTS/kvmhost-a-1.evidence" ]
	assert [ ! -e "$RESULTS/kvmhost-a-2.evidence" ]
}

@test "a test that failed before its test host failed stays failed" {
	printf '1..3\nok 1 one\nnot ok 2 two # timeout after 300s\n' | attempt a 1 75 "its heartbeat (rewritten every 5 s) is 125 s old"
	printf '1..3\nok 1 one\nok 2 two\nok 3 three\n' | attempt a 2 0
	run_files a
	assert_failure
	assert_equal "${lines[-2]}" "2 passed, 1 failed"
	assert_line "not ok 2 two # failed in an earlier attempt (bats-a-1.tap)"
}

@test "a file runs at most four times" {
	for n in 1 2 3 4; do
		printf '1..1\n' | attempt a "$n" 75 "its kernel logged \"${PANIC#*] }\""
	done
	run_files a
	assert_failure
	assert_equal "$(calls a)" 4
	assert_equal "${lines[-2]}" "0 passed, 1 failed"
	assert_equal "${lines[-1]}" "retried after a test host failure: a.bats attempt 1: its kernel logged \"${PANIC#*] }\"; a.bats attempt 2: its kernel logged \"${PANIC#*] }\"; a.bats attempt 3: its kernel logged \"${PANIC#*] }\""
}

@test "more than three files needing a retry fail the run, saying so" {
	for name in a b c d; do
		printf '1..1\n' | attempt "$name" 1 75 "its heartbeat (rewritten every 5 s) is 130 s old"
		printf '1..1\nok 1 one\n' | attempt "$name" 2 0
	done
	run_files a b c d
	assert_failure
	assert_equal "$(calls d)" 2
	assert_line "run-all: 4 bats files needed a retry because their test host failed (more than 3): the test host was too unstable, the run fails"
	assert_equal "${lines[-2]}" "4 passed, 1 failed"
}

@test "three files needing a retry do not fail the run" {
	for name in a b c; do
		printf '1..1\n' | attempt "$name" 1 75 "its heartbeat (rewritten every 5 s) is 130 s old"
		printf '1..1\nok 1 one\n' | attempt "$name" 2 0
	done
	run_files a b c
	assert_success
	assert_equal "${lines[-2]}" "3 passed, 0 failed"
}

@test "test hosts side by side: every file is reported once, in order, with its retries" {
	for name in a b c d e; do
		printf '1..1\nok 1 %s\n' "$name" | attempt "$name" 1 0
	done
	printf '1..1\n' | attempt c 1 75 "its kernel logged \"${PANIC#*] }\""
	printf '1..1\nok 1 c\n' | attempt c 2 0
	echo 2 > "$FAKE_KVMHOST_DIR/a.delay" # b, c, d and e end first
	run bash -c '
		source "$1/../run-all"
		results=$RESULTS builddir=$RESULTS srcdir=$BATS_TEST_TMPDIR/src kvmhost_run=$1/fake-run
		kvmhost_jobs=2 KRUN_KVMHOST_RUN=$1/fake-run
		mkdir -p "$srcdir/tests/bats" "$srcdir/tests/kvmhost"
		touch "$srcdir"/tests/bats/{a,b,c,d,e}.bats
		printf "#!/bin/sh\necho fake\n" > "$srcdir/tests/kvmhost/needed"
		chmod +x "$srcdir/tests/kvmhost/needed"
		run_system_tests
		summarize' _ "$HERE"
	assert_success
	assert_equal "$(printf '%s\n' "${lines[@]}" | grep '^== bats' | tr '\n' ' ')" \
		"== bats: a.bats == bats: b.bats == bats: c.bats == bats: d.bats == bats: e.bats "
	assert_equal "${lines[-2]}" "5 passed, 0 failed"
	assert_equal "${lines[-1]}" "retried after a test host failure: c.bats attempt 1: its kernel logged \"${PANIC#*] }\""
}

# tests/kvmhost/run's own reading of the evidence, on made-up consoles and spools.
in_kvmhost_run() { # shell code, with $work, $log and $evidence_file set
	mkdir -p "$BATS_TEST_TMPDIR/work/spool"
	run bash -c "source '$HERE/run'; work=$BATS_TEST_TMPDIR/work log=$BATS_TEST_TMPDIR/console
		evidence_file=$BATS_TEST_TMPDIR/evidence; $1"
}

console() {
	printf '%s\n' "qemu-system-x86_64: warning: TCG doesn't support requested feature: CPUID.07H:EBX.rdseed [bit 18]" \
		"[   60.021907] kvm [587]: vcpu0, guest rIP: 0xffffffff8100362d Unhandled WRMSR(0xc0010007) = 0xffff" \
		"$@" > "$BATS_TEST_TMPDIR/console"
}

@test "the test host's kernel panic, soft lockup and RCU stall are evidence; its usual lines are not" {
	console
	in_kvmhost_run 'console_evidence "$log"'
	assert_success
	assert_output ""
	for line in "$LOCKUP" "$PANIC" "$RCU"; do
		console "$line"
		in_kvmhost_run 'console_evidence "$log"'
		assert_output "its kernel logged \"${line#*] }\""
	done
}

@test "a heartbeat more than 120 s old is evidence" {
	in_kvmhost_run 'heartbeat_evidence 120'
	assert_output ""
	in_kvmhost_run 'heartbeat_evidence 121'
	assert_output "its heartbeat (rewritten every 5 s) is 121 s old"
}

@test "a timeout in a live test host exits 124 and gives no evidence" {
	console
	in_kvmhost_run 'date +%s > "$work/spool/heartbeat"; exit_with_result 124'
	assert_equal "$status" 124
	assert_output --regexp "timed out after 3600 s in a live test host \(heartbeat [0-9] s old\)"
	assert [ ! -e "$BATS_TEST_TMPDIR/evidence" ]
}

@test "a test host whose kernel panicked exits 75 and gives the evidence, even at the timeout" {
	for qemu_status in 0 124; do
		rm -f "$BATS_TEST_TMPDIR/evidence"
		console "$PANIC"
		in_kvmhost_run "exit_with_result $qemu_status"
		assert_equal "$status" 75
		assert_output --partial "the test host failed (its kernel logged \"${PANIC#*] }\")"
		assert_equal "$(cat "$BATS_TEST_TMPDIR/evidence")" "its kernel logged \"${PANIC#*] }\""
	done
}

@test "a test host the watcher stopped exits 75 with the watcher's evidence" {
	console
	in_kvmhost_run 'echo "its heartbeat (rewritten every 5 s) is 125 s old" > "$work/frozen"; exit_with_result 143'
	assert_equal "$status" 75
	assert_equal "$(cat "$BATS_TEST_TMPDIR/evidence")" "its heartbeat (rewritten every 5 s) is 125 s old"
}

@test "without evidence the command's status stands, and a lost status is 255" {
	console
	in_kvmhost_run 'echo 3 > "$work/spool/status"; exit_with_result 0'
	assert_equal "$status" 3
	rm "$BATS_TEST_TMPDIR/work/spool/status"
	in_kvmhost_run 'exit_with_result 0'
	assert_equal "$status" 255
	assert_output --partial "without reporting the command's exit status"
	assert [ ! -e "$BATS_TEST_TMPDIR/evidence" ]
}
