#!/usr/bin/env bats
# containerd 1.6 runs containers with krun as the runc binary of its runc shim
# (containerd-shim-runc-v2): ctr run --runc-binary krun.

load helpers
load clients

setup_file() {
	clients_setup_file podman containerd ctr containerd-shim-runc-v2
	podman_setup
	containerd_start
	ctr_ image import "$(clients_docker_archive)" > /dev/null
}

teardown_file() {
	clients_teardown_file
}

# Succeeds when `ctr task ls` shows the task in that STATUS.
task_in_state() { # id status
	[ "$(ctr_ task ls | awk -v id="$1" '$1 == id { print $3 }')" = "$2" ]
}

@test "ctr image import made the test image" {
	run --separate-stderr ctr_ image ls -q
	assert_status 0
	assert_line "$CLIENTS_IMAGE"
}

@test "ctr run: the workload's output and exit status 0" {
	run --separate-stderr ctr_run --rm "$CLIENTS_IMAGE" ctr-out sh -c 'echo hello from ctr; uname -r'
	assert_status 0
	assert_equal "${lines[0]}" "hello from ctr"
	assert_guest_kernel "${lines[1]}"
	assert_equal "${#lines[@]}" 2
}

@test "ctr run: exit status 42 is the workload's" {
	run --separate-stderr ctr_run --rm "$CLIENTS_IMAGE" ctr-42 sh -c 'echo before-exit; exit 42'
	assert_status 42
	assert_output "before-exit"
}

@test "ctr run --rm --env: the variable reaches the workload, no container or task is left" {
	run --separate-stderr ctr_run --rm --env GREETING=hej "$CLIENTS_IMAGE" ctr-rm sh -c 'echo "$GREETING"'
	assert_status 0
	assert_output "hej"
	run --separate-stderr ctr_ container ls -q
	assert_status 0
	assert_output ""
	run --separate-stderr ctr_ task ls -q
	assert_status 0
	assert_output ""
}

@test "ctr task exec: output and exit status of a process in the VM" {
	local marks=$BATS_TEST_TMPDIR/marks
	mkdir -p "$marks"
	run --separate-stderr ctr_run -d --mount "type=bind,src=$marks,dst=/marks,options=rbind:rw" \
		"$CLIENTS_IMAGE" ctr-ex sh -c "${TRAP_TERM/echo ready/touch /marks/up}"
	assert_status 0
	wait_until 60 task_in_state ctr-ex RUNNING
	wait_until 120 test -e "$marks/up"
	run --separate-stderr ctr_ task exec --exec-id e1 ctr-ex sh -c 'echo "in the vm $(id -u)"; exit 3'
	assert_status 3
	assert_output "in the vm 0"
	run --separate-stderr ctr_ task kill -s SIGKILL ctr-ex
	assert_status 0
	wait_until 20 task_in_state ctr-ex STOPPED
	ctr_ task delete ctr-ex
	ctr_ container delete ctr-ex
}

@test "ctr run -d: task ls and task ps show it, SIGTERM stops it with the workload's status" {
	# A detached task's output goes nowhere: the workload marks a shared directory once its
	# trap is set, so that the SIGTERM below cannot come before it.
	local marks=$BATS_TEST_TMPDIR/marks
	mkdir -p "$marks"
	run --separate-stderr ctr_run -d --mount "type=bind,src=$marks,dst=/marks,options=rbind:rw" \
		"$CLIENTS_IMAGE" ctr-d sh -c "${TRAP_TERM/echo ready/touch /marks/up}"
	assert_status 0
	wait_until 60 task_in_state ctr-d RUNNING
	wait_until 120 test -e "$marks/up"
	local pid
	pid=$(ctr_ task ls | awk '$1 == "ctr-d" { print $2 }')
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" || fail "task ls gave no live pid: '$pid'"
	# The shim asks the runtime (krun ps) for the container's host processes.
	run --separate-stderr ctr_ task ps ctr-d
	assert_status 0
	assert_line --regexp "^$pid( |$)"
	run --separate-stderr ctr_ task kill ctr-d
	assert_status 0
	wait_until 20 task_in_state ctr-d STOPPED
	run --separate-stderr ctr_ task delete ctr-d
	assert_status 0
	[[ $stderr == *"exit code 3"* ]] || fail "the exit status is not the trap's 3: $stderr"
	ctr_ container delete ctr-d
}
