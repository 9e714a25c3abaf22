#!/usr/bin/env bats
# Signals sent to the VMM (krun run is the VMM) reach the workload in the guest, through
# the console's krun-signal port; before the guest is up the terminating ones stop the VM;
# with a terminal, the host terminal's size reaches the guest's hvc0.

load helpers

setup() {
	OUT=$BATS_TEST_TMPDIR/out
	ERR=$BATS_TEST_TMPDIR/err
}

teardown() {
	[ -z "${KRUN_PID:-}" ] || kill -KILL "$KRUN_PID" 2> /dev/null || true
}

# Starts krun run on $BUNDLE in the background, output in $OUT and $ERR.
start_krun() {
	"$KRUN_BIN" "$@" run --bundle "$BUNDLE" "sig-$BATS_TEST_NUMBER-$$" > "$OUT" 2> "$ERR" &
	KRUN_PID=$!
}

# Waits for the background krun; its exit status in $status.
wait_krun() {
	status=0
	wait "$KRUN_PID" || status=$?
	KRUN_PID=
}

# `sleep & wait` so that a trap runs as soon as the signal arrives.
loop_forever='while :; do sleep 1 & wait $!; done'

@test "SIGTERM to krun reaches the workload, whose exit status comes back" {
	make_bundle -- sh -c "trap 'echo got-term; exit 7' TERM; echo ready; $loop_forever"
	start_krun
	wait_for output_has ready
	kill -TERM "$KRUN_PID"
	wait_krun
	assert_equal "$status" 7
	output_has got-term || fail "output: $(cat "$OUT")"
}

@test "SIGUSR1 to krun reaches the workload's trap, which carries on" {
	make_bundle -- sh -c "trap 'echo got-usr1' USR1; trap 'exit 3' TERM; echo ready; $loop_forever"
	start_krun
	wait_for output_has ready
	kill -USR1 "$KRUN_PID"
	wait_for output_has got-usr1
	kill -USR1 "$KRUN_PID"
	wait_for eval '[ "$(grep -c got-usr1 "$OUT")" -ge 2 ]'
	kill -0 "$KRUN_PID" || fail "krun ended on SIGUSR1"
	kill -TERM "$KRUN_PID"
	wait_krun
	assert_equal "$status" 3
}

@test "SIGINT to a krun without a terminal reaches the workload" {
	make_bundle -- sh -c "trap 'echo got-int; exit 5' INT; echo ready; $loop_forever"
	start_krun
	wait_for output_has ready
	kill -INT "$KRUN_PID"
	wait_krun
	assert_equal "$status" 5
	output_has got-int || fail "output: $(cat "$OUT")"
}

@test "a signal the workload ignores leaves it running; one it does not handle ends it" {
	make_bundle -- sh -c "trap '' HUP; echo ready; $loop_forever"
	start_krun
	wait_for output_has ready
	kill -HUP "$KRUN_PID"
	sleep 3
	kill -0 "$KRUN_PID" || fail "SIGHUP, which the workload ignores, ended krun"
	kill -USR2 "$KRUN_PID"
	wait_krun
	assert_equal "$status" $((128 + 12))
}

@test "real-time signals (SIGRTMIN+3, systemd's stop signal) are forwarded" {
	make_bundle -- sh -c "trap 'echo got-rt; exit 4' 37; echo ready; $loop_forever"
	start_krun
	wait_for output_has ready
	kill -37 "$KRUN_PID"
	wait_krun
	assert_equal "$status" 4
	output_has got-rt || fail "output: $(cat "$OUT")"
}

@test "SIGTERM before the guest init is up stops the VM with 143" {
	make_bundle -- sh -c "trap 'echo got-term; exit 9' TERM; echo ready; $loop_forever"
	# --debug puts the guest kernel's log on stderr: its first line means the VM runs
	# (signals are handled) and the init has not started yet.
	start_krun --debug
	wait_for grep -q "Linux version" "$ERR"
	kill -TERM "$KRUN_PID"
	wait_krun
	assert_equal "$status" 143
	! output_has ready || fail "the workload ran: $(cat "$OUT")"
	grep -q "signal 15 before the guest init was up" "$ERR" || fail "stderr: $(tail -5 "$ERR")"
}

@test "with a terminal, the guest's terminal has the host terminal's size" {
	make_bundle --terminal -- stty size
	run script -qec "stty cols 100 rows 40; $KRUN_BIN run --bundle $BUNDLE term-$$" /dev/null
	assert_success
	assert_line --partial "40 100"
}

@test "with a terminal, a resize of the host terminal reaches the guest (SIGWINCH)" {
	make_bundle --terminal -- sh -c "trap 'echo size \$(stty size)' WINCH; echo ready; $loop_forever"
	# Inside script, krun and this shell share the terminal's foreground process group,
	# so resizing the terminal sends SIGWINCH to krun as a terminal emulator would.
	cat > "$BATS_TEST_TMPDIR/inner" <<-EOF
		stty cols 80 rows 24
		"$KRUN_BIN" run --bundle "$BUNDLE" winch-$$ < /dev/tty &
		for i in \$(seq 600); do grep -q ready "$OUT" && break; sleep 0.1; done
		stty cols 132 rows 43
		for i in \$(seq 600); do grep -q "size 43 132" "$OUT" && break; sleep 0.1; done
		kill -TERM \$!
		wait \$!
	EOF
	script -qec "bash $BATS_TEST_TMPDIR/inner" /dev/null > "$OUT" || true
	output_has "size 43 132" || fail "output: $(cat "$OUT")"
}
