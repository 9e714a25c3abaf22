#!/usr/bin/env bats
# process.terminal: the workload's stdio is a terminal carried by hvc0.

load helpers

@test "with process.terminal the workload runs on a terminal" {
	make_bundle --terminal -- sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo both-tty; echo "size $(stty size)"'
	# script gives krun a pty as stdin and stdout, as podman -it would; its size, set
	# first, is what the guest's terminal must say.
	run script -qec "stty rows 37 cols 101; $KRUN_BIN run --bundle $BUNDLE term-$$" /dev/null
	assert_success
	assert_line --partial "/dev/hvc0"
	assert_line --partial "both-tty"
	assert_line --regexp '^size 37 101.?$'
}

@test "with process.terminal the workload's exit status comes back" {
	make_bundle --terminal -- sh -c 'exit 7'
	run script -qec "$KRUN_BIN run --bundle $BUNDLE term-$$" /dev/null
	assert_equal "$status" 7
}

@test "process.terminal without a terminal attached is refused clearly" {
	make_bundle --terminal -- true
	run --separate-stderr krun_run < /dev/null
	assert_failure
	[[ "$stderr" == "krun: "*terminal* ]] || fail "stderr: $stderr"
}
