#!/usr/bin/env bats
# podman (4.3, with conmon) runs containers with --runtime krun: output, exit status,
# environment, detached containers and their lifecycle, a terminal, volumes, networking,
# and the krun.* annotations and memory limit that size the microVM.

load helpers
load clients

setup_file() {
	clients_setup_file podman conmon tmux
	podman_setup
}

teardown_file() {
	clients_teardown_file
}

teardown() {
	tmux_stop
	podman_cleanup
	[ -z "${HOST_PID-}" ] || kill "$HOST_PID" 2> /dev/null || true
}

# MemTotal of the guest in kB, from a container's /proc/meminfo.
mem_total_kib() {
	awk '/^MemTotal:/ { print $2 }' <<< "$1"
}

# Succeeds once a detached container has printed the line `ready`.
said_ready() { # name
	podman logs "$1" | grep -qx ready
}

@test "podman run: the workload's output and exit status 0" {
	run --separate-stderr podman_run --rm "$CLIENTS_IMAGE" sh -c 'echo hello from podman; uname -r'
	assert_status 0
	assert_equal "${lines[0]}" "hello from podman"
	assert_guest_kernel "${lines[1]}"
	assert_equal "${#lines[@]}" 2
}

@test "podman run: exit status 42 is the workload's" {
	run --separate-stderr podman_run --rm "$CLIENTS_IMAGE" sh -c 'echo before-exit; exit 42'
	assert_status 42
	assert_output "before-exit"
}

@test "podman run -e and -w reach the workload" {
	run --separate-stderr podman_run --rm -e GREETING=bonjour -e EMPTY= -w /home/user \
		"$CLIENTS_IMAGE" sh -c 'echo "$GREETING|$EMPTY|$(pwd)|${container-}"'
	assert_status 0
	assert_output "bonjour||/home/user|podman"
}

@test "podman run --rm leaves no container behind" {
	run --separate-stderr podman_run --rm --name rm-me "$CLIENTS_IMAGE" echo removed-after
	assert_status 0
	assert_output "removed-after"
	run --separate-stderr podman ps -a --filter name='^rm-me$' --format '{{.Names}}'
	assert_status 0
	assert_output ""
	run podman container exists rm-me
	assert_equal "$status" 1
}

@test "podman run -d: logs and ps show it, and stop ends it by SIGTERM without the timeout" {
	run --separate-stderr podman_run -d --name detached "$CLIENTS_IMAGE" sh -c "$TRAP_TERM"
	assert_status 0
	wait_until 120 said_ready detached
	run --separate-stderr podman ps --format '{{.Names}} {{.Status}}'
	assert_status 0
	assert_line --regexp '^detached Up '
	local start=$SECONDS
	run --separate-stderr podman stop -t 30 detached
	assert_status 0
	local took=$((SECONDS - start))
	# After 30 s podman would send SIGKILL; the workload's trap answers SIGTERM at once.
	[ "$took" -lt 20 ] || fail "podman stop took $took s: the workload did not get SIGTERM"
	run --separate-stderr podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' detached
	assert_output "exited 3"
	run --separate-stderr podman logs detached
	assert_line "got-term"
}

@test "podman exec: output, exit status, -e, -w and --user reach a process in the VM" {
	run --separate-stderr podman_run -d --name ex "$CLIENTS_IMAGE" sh -c "$TRAP_TERM"
	assert_status 0
	wait_until 120 said_ready ex
	run --separate-stderr podman exec -e NEW=new -w /tmp --user 65534 ex \
		sh -c 'echo "$NEW $(pwd) $(id -u)"; echo to-stderr >&2; exit 3'
	assert_status 3
	assert_output "new /tmp 65534"
	assert_equal "$stderr" to-stderr
	run -127 --separate-stderr podman exec ex /no/such/program
	run --separate-stderr podman exec -d ex sh -c 'sleep 2; echo detached > /tmp/mark'
	assert_status 0
	wait_until 60 podman exec ex test -e /tmp/mark
}

@test "podman kill: SIGKILL ends a detached container with status 137" {
	run --separate-stderr podman_run -d --name killed "$CLIENTS_IMAGE" sh -c 'echo ready; exec sleep 1000'
	assert_status 0
	wait_until 120 said_ready killed
	run --separate-stderr podman kill killed
	assert_status 0
	run --separate-stderr podman wait killed
	assert_status 0
	assert_output "137"
	run --separate-stderr podman ps --filter name='^killed$' --format '{{.Names}}'
	assert_status 0
	assert_output ""
}

@test "podman rm -f removes a running container" {
	run --separate-stderr podman_run -d --name forced "$CLIENTS_IMAGE" sh -c 'echo ready; exec sleep 1000'
	assert_status 0
	wait_until 120 said_ready forced
	run --separate-stderr podman rm -f forced
	assert_status 0
	run podman container exists forced
	assert_equal "$status" 1
	run --separate-stderr podman ps -a --filter name='^forced$' --format '{{.Names}}'
	assert_status 0
	assert_output ""
}

@test "podman run -it: a terminal of the right size, typed commands, ^C" {
	tmux_start 100 30 "podman run --runtime $KRUN_BIN -it --rm $CLIENTS_IMAGE sh"
	tmux_wait_for '# ?$' 120
	tmux_ send-keys -t krun 'tty; stty size; echo typed-$((6 * 7))' Enter
	tmux_wait_for '^typed-42' 30
	run tmux_screen
	assert_line --regexp '^/dev/(pts/[0-9]+|hvc[0-9]+|console|tty[0-9]*)$'
	assert_line "30 100"
	tmux_ send-keys -t krun 'sleep 100' Enter
	sleep 2
	tmux_ send-keys -t krun C-c
	tmux_ send-keys -t krun 'echo "sleep ended $?"' Enter
	# 130 = 128 + SIGINT: the terminal's ^C reached the foreground sleep.
	tmux_wait_for '^sleep ended 130' 30
	tmux_ send-keys -t krun 'exit 5' Enter
	run tmux_exit_status
	assert_output "5"
}

@test "podman run --network bridge: the guest's traffic goes through the container's CNI network namespace, both ways" {
	# The host side: an echo server on every address of the test host, the bridge's
	# gateway among them, that names each peer.
	local gw
	gw=$(podman network inspect -f '{{range .Subnets}}{{.Gateway}}{{end}}' podman)
	[[ $gw =~ ^10\.88\.[0-9]+\.[0-9]+$ ]] || fail "podman's default network has no gateway: '$gw'"
	"$KRUN_TESTPROG" tcp-echo-server 0.0.0.0 18201 > "$BATS_TEST_TMPDIR/echo" 2>&1 3>&- &
	HOST_PID=$!
	wait_until 30 eval "ss -Htln '( sport = :18201 )' | grep -q ."
	# The guest talks to it through the bridge, then serves an echo of its own.
	run --separate-stderr podman_run -d --network bridge --name bridged "$CLIENTS_IMAGE" \
		sh -c "krun-testprog tcp-talk $gw 18201 from-the-guest; echo ready;
			exec krun-testprog tcp-echo-server 0.0.0.0 18202"
	assert_status 0
	wait_until 120 said_ready bridged
	local pid sandbox ip
	pid=$(podman inspect -f '{{.State.Pid}}' bridged)
	sandbox=$(podman inspect -f '{{.NetworkSettings.SandboxKey}}' bridged)
	ip=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' bridged)
	[[ $ip =~ ^10\.88\.[0-9]+\.[0-9]+$ ]] || fail "the container got no address on the bridge: '$ip'"
	assert_equal "$(stat -L -c %i "/proc/$pid/ns/net")" "$(stat -L -c %i "$sandbox")"
	run nsenter --net="$sandbox" ip -4 -o addr show dev eth0
	assert_success
	assert_output --partial " inet $ip/16 "
	# Out: the echo came back, and the host saw it come from the container's address.
	run podman logs bridged
	assert_line "from-the-guest"
	grep -q "^accepted $ip:[0-9]* on $gw:18201\$" "$BATS_TEST_TMPDIR/echo" ||
		fail "the host's server saw: $(cat "$BATS_TEST_TMPDIR/echo")"
	# In: the test host reaches the guest's server at the container's address.
	wait_until 60 "$KRUN_TESTPROG" tcp-talk "$ip" 18202 to-the-guest
	run "$KRUN_TESTPROG" tcp-talk "$ip" 18202 to-the-guest
	assert_success
	assert_output "to-the-guest"
}

@test "podman run -v: a host directory is read and written from the container" {
	local dir=$BATS_TEST_TMPDIR/shared
	mkdir "$dir"
	echo from-host > "$dir/in.txt"
	run --separate-stderr podman_run --rm -v "$dir:/data" "$CLIENTS_IMAGE" \
		sh -c 'cat /data/in.txt; echo from-container > /data/out.txt'
	assert_status 0
	assert_output "from-host"
	assert_equal "$(cat "$dir/out.txt")" "from-container"
}

@test "podman run --annotation krun.cpus sets the guest's vCPUs" {
	local n
	for n in 1 2; do
		run --separate-stderr podman_run --rm --annotation krun.cpus=$n "$CLIENTS_IMAGE" nproc
		assert_status 0
		assert_output "$n"
	done
}

@test "podman run --annotation krun.ram_mib sets the guest's RAM" {
	run --separate-stderr podman_run --rm --annotation krun.ram_mib=256 "$CLIENTS_IMAGE" cat /proc/meminfo
	assert_status 0
	local kib
	kib=$(mem_total_kib "$output")
	# MemTotal is the RAM minus what the guest kernel keeps for itself.
	[ "$kib" -gt $((200 * 1024)) ] && [ "$kib" -le $((256 * 1024)) ] || fail "MemTotal $kib kB"
}

@test "podman run --memory sets the guest's RAM" {
	run --separate-stderr podman_run --rm --memory 300m "$CLIENTS_IMAGE" cat /proc/meminfo
	assert_status 0
	local kib
	kib=$(mem_total_kib "$output")
	[ "$kib" -gt $((250 * 1024)) ] && [ "$kib" -le $((300 * 1024)) ] || fail "MemTotal $kib kB"
}

@test "podman run --uidmap: the VMM runs as the mapped root, the workload as root in the guest" {
	run --separate-stderr podman_run -d --name userns --uidmap 0:100000:65536 --gidmap 0:100000:65536 \
		"$CLIENTS_IMAGE" sh -c 'id -u; touch /made-here; echo ready; sleep 600'
	assert_status 0
	wait_until 120 said_ready userns
	local pid
	pid=$(podman inspect --format '{{.State.Pid}}' userns)
	assert_equal "$(awk '{print $1, $2, $3}' "/proc/$pid/uid_map")" "0 100000 65536"
	assert_equal "$(awk '$1 == "Uid:" {print $2}' "/proc/$pid/status")" 100000
	assert_equal "$(podman logs userns | head -n 1)" 0
	podman rm -f -t 0 userns
}
