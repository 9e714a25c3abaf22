#!/usr/bin/env bats
# docker 20.10 runs containers with krun registered as a runtime (dockerd --add-runtime),
# through containerd and its runc shim.

load helpers
load clients

setup_file() {
	clients_setup_file podman containerd containerd-shim-runc-v2 dockerd "$CLIENTS_DOCKER_CLI"
	podman_setup
	containerd_start
	dockerd_start
	docker_ load -q -i "$(clients_docker_archive)" > /dev/null
}

teardown_file() {
	clients_teardown_file
}

teardown() {
	local id
	for id in $(docker_ ps -aq); do
		docker_ rm -f "$id" > /dev/null
	done
}

# Succeeds once a detached container has printed the line `ready`.
said_ready() { # name
	docker_ logs "$1" | grep -qx ready
}

@test "dockerd knows the krun runtime" {
	run --separate-stderr docker_ info --format '{{json .Runtimes}}'
	assert_status 0
	[ "$(jq -r .krun.path <<< "$output")" = "$KRUN_BIN" ] || fail "runtimes: $output"
}

@test "docker run --runtime krun: the workload's output and exit status 0" {
	run --separate-stderr docker_run --rm "$CLIENTS_IMAGE" sh -c 'echo hello from docker; uname -r'
	assert_status 0
	assert_equal "${lines[0]}" "hello from docker"
	assert_guest_kernel "${lines[1]}"
	assert_equal "${#lines[@]}" 2
}

@test "docker run --runtime krun: exit status 42 is the workload's" {
	run --separate-stderr docker_run --rm "$CLIENTS_IMAGE" sh -c 'echo before-exit; exit 42'
	assert_status 42
	assert_output "before-exit"
}

@test "docker run --rm -e -w: environment and directory, and no container left" {
	run --separate-stderr docker_run --rm --name docker-rm -e GREETING=hola -w /home/user \
		"$CLIENTS_IMAGE" sh -c 'echo "$GREETING|$(pwd)"'
	assert_status 0
	assert_output "hola|/home/user"
	run --separate-stderr docker_ ps -aq --filter name='^docker-rm$'
	assert_status 0
	assert_output ""
}

@test "docker exec: output, exit status, -e, -w and --user reach a process in the VM" {
	run --separate-stderr docker_run -d --name ex "$CLIENTS_IMAGE" sh -c "$TRAP_TERM"
	assert_status 0
	wait_until 120 said_ready ex
	run --separate-stderr docker_ exec -e NEW=new -w /tmp --user 65534 ex \
		sh -c 'echo "$NEW $(pwd) $(id -u)"; echo to-stderr >&2; exit 3'
	assert_status 3
	assert_output "new /tmp 65534"
	assert_equal "$stderr" to-stderr
	# As with runc: an exec the runtime could not start is docker's 126.
	run -126 --separate-stderr docker_ exec ex /no/such/program
	run --separate-stderr docker_ rm -f ex
	assert_status 0
}

@test "docker run -d: logs and ps show it, and stop ends it by SIGTERM without the timeout" {
	run --separate-stderr docker_run -d --name detached "$CLIENTS_IMAGE" sh -c "$TRAP_TERM"
	assert_status 0
	wait_until 120 said_ready detached
	run --separate-stderr docker_ ps --filter name='^detached$' --format '{{.Names}} {{.Status}}'
	assert_status 0
	assert_output --regexp '^detached Up '
	local start=$SECONDS
	run --separate-stderr docker_ stop -t 30 detached
	assert_status 0
	local took=$((SECONDS - start))
	[ "$took" -lt 20 ] || fail "docker stop took $took s: the workload did not get SIGTERM"
	run --separate-stderr docker_ inspect -f '{{.State.Status}} {{.State.ExitCode}}' detached
	assert_output "exited 3"
	run --separate-stderr docker_ logs detached
	assert_line "got-term"
}

@test "docker kill: SIGKILL ends a detached container with status 137" {
	run --separate-stderr docker_run -d --name killed "$CLIENTS_IMAGE" sh -c 'echo ready; exec sleep 1000'
	assert_status 0
	wait_until 120 said_ready killed
	run --separate-stderr docker_ kill killed
	assert_status 0
	run --separate-stderr docker_ wait killed
	assert_status 0
	assert_output "137"
}
