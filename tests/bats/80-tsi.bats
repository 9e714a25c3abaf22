#!/usr/bin/env bats
# TSI (docs/tsi.md): with no network device, the workload's TCP, UDP and AF_UNIX sockets
# are real sockets the VMM opens on the host (here the test host's network namespace).
# The peers on the host side are krun-testprog subcommands and busybox.

load helpers
load clients

setup_file() {
	export BIG=$BATS_FILE_TMPDIR/www/big
	mkdir -p "$BATS_FILE_TMPDIR/www"
	head -c $((64 << 20)) /dev/urandom > "$BIG"
	BIG_SUM=$(sha256sum < "$BIG" | cut -d' ' -f1)
	export BIG_SUM
}

setup() {
	OUT=$BATS_TEST_TMPDIR/out
	ERR=$BATS_TEST_TMPDIR/err
	HOST_PIDS=()
	KRUN_PID=
	NETNS=
}

teardown() {
	local pid
	[ -z "${KRUN_PID:-}" ] || kill -KILL "$KRUN_PID" 2> /dev/null || true
	for pid in "${HOST_PIDS[@]}"; do
		kill -KILL "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true # reaped here, bash does not report it killed
	done
	[ -z "${NETNS:-}" ] || ip netns delete "$NETNS"
	if [ "$BATS_TEST_NAME" = "${PODMAN_TEST-}" ]; then
		podman_cleanup
		clients_teardown_file
	fi
}

# host [--netns NS] NAME ARGS...: runs krun-testprog ARGS on the host (in network
# namespace NS) in the background, its output in $BATS_TEST_TMPDIR/NAME, and waits until
# it says it is ready.
host() {
	local in=()
	if [ "$1" = --netns ]; then
		in=(ip netns exec "$2")
		shift 2
	fi
	local log=$BATS_TEST_TMPDIR/$1
	shift
	# fd 3 closed: bats waits for whoever holds it.
	"${in[@]}" "$KRUN_TESTPROG" "$@" > "$log" 2>&1 3>&- &
	HOST_PIDS+=($!)
	wait_for grep -qE '^(ready|listening)$' "$log"
}

# Starts krun run on $BUNDLE in the background, output in $OUT and $ERR.
start_krun() {
	krun_run > "$OUT" 2> "$ERR" 3>&- &
	KRUN_PID=$!
}

stop_krun() {
	kill -KILL "$KRUN_PID" 2> /dev/null || true
	wait "$KRUN_PID" 2> /dev/null || true
	KRUN_PID=
}

# hold_connection PORT: once the VMM listens on PORT for the guest, a host client connects
# and stays silent until the test closes fd 5.
hold_connection() {
	wait_for eval "ss -Htln '( sport = :$1 )' | grep -q ."
	mkfifo "$BATS_TEST_TMPDIR/hold"
	busybox nc 127.0.0.1 "$1" < "$BATS_TEST_TMPDIR/hold" > /dev/null 2>&1 3>&- &
	HOST_PIDS+=($!)
	exec 5> "$BATS_TEST_TMPDIR/hold"
}

# keepalive_due_within PORT SECONDS: the established socket of source port PORT has a
# keepalive timer that fires within SECONDS. ss prints it as 1min16sec, 59sec, 5.123ms,
# 123ms or 119min.
keepalive_due_within() {
	local t min=0 sec=0
	t=$(ss -Htno state established "( sport = :$1 )" | sed -n 's/.*timer:(keepalive,\([^,]*\),.*/\1/p')
	[ -n "$t" ] || return 1
	[[ $t =~ ^([0-9]+)min ]] && min=${BASH_REMATCH[1]}
	[[ $t =~ ([0-9]+)(sec|\.[0-9]+ms)$ ]] && sec=${BASH_REMATCH[1]}
	[ $((min * 60 + sec)) -le "$2" ]
}

# A bundle whose /etc/resolv.conf is the ordinary one for a resolver on loopback.
tsi_bundle() {
	make_bundle "$@"
	printf 'nameserver 127.0.0.1\n' > "$BUNDLE/rootfs/etc/resolv.conf"
}

@test "TSI: the guest has lo up and dummy0 with an IPv4 and an IPv6 address" {
	tsi_bundle -- sh -c 'cat /proc/net/if_inet6; ip -4 addr show dummy0; ip link show lo'
	run --separate-stderr krun_run
	assert_status 0
	assert_output --partial "fd0007a5000000000000000000000001"
	assert_output --partial "inet 203.0.113.1/24"
	assert_output --regexp "lo: <[^>]*UP"
}

@test "TSI: 64 MiB over TCP/IPv4 from a host server (busybox wget) arrive intact" {
	busybox httpd -f -p 127.0.0.1:18081 -h "$BATS_FILE_TMPDIR/www" 3>&- &
	HOST_PIDS+=($!)
	wait_for eval 'ss -Htln | grep -q "127.0.0.1:18081 "'
	tsi_bundle -- sh -c 'wget -q -O - http://127.0.0.1:18081/big | sha256sum'
	run --separate-stderr krun_run
	assert_status 0
	assert_output "$BIG_SUM  -"
}

@test "TSI: 64 MiB over TCP/IPv6 from a host server arrive intact" {
	host srv tcp-file-server ::1 18082 "$BIG"
	tsi_bundle -- sh -c 'krun-testprog tcp-get ::1 18082 | sha256sum'
	run --separate-stderr krun_run
	assert_status 0
	assert_output "$BIG_SUM  -"
}

@test "TSI: 16 MiB from the guest to a host server arrive intact" {
	# Past the guest's own 256 KiB buffer, which its kernel may cap our credit to.
	host srv tcp-sink-server 127.0.0.1 18090 "$BATS_TEST_TMPDIR/received"
	tsi_bundle -- sh -c 'krun-testprog tcp-put 127.0.0.1 18090 < /up'
	head -c $((16 << 20)) "$BIG" > "$BUNDLE/rootfs/up"
	run --separate-stderr krun_run
	assert_status 0
	wait_for grep -q '^received' "$BATS_TEST_TMPDIR/srv"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/srv")" $'listening\nreceived 16777216'
	assert_equal "$(sha256sum < "$BATS_TEST_TMPDIR/received")" "$(sha256sum < "$BUNDLE/rootfs/up")"
}

@test "TSI: small pieces left unread hold little guest memory" {
	# 2000 separate 400-byte segments: in 16 KiB receive buffers they would hold over
	# 31 MiB; copied out (kernel/patches/0002), about 2 MiB.
	host srv tcp-trickle-server 127.0.0.1 18103 2000 400
	tsi_bundle -- krun-testprog tcp-hold 127.0.0.1 18103 15
	run --separate-stderr krun_run
	assert_success
	assert_line "read 800000 bytes"
	local held
	held=$(awk '$1 == "held" { print $2 }' <<< "$output")
	[ "$held" -lt 12288 ] || fail "the unread data held $held KiB of guest memory"
}

@test "TSI: getsockname and getpeername give the real addresses; shutdown half-closes" {
	host srv tcp-echo-server 127.0.0.1 18083
	tsi_bundle -- sh -c 'krun-testprog names 127.0.0.1 18083 && krun-testprog tcp-talk 127.0.0.1 18083 half-closed'
	run --separate-stderr krun_run
	assert_status 0
	assert_line --index 0 --regexp '^local 127\.0\.0\.1:[0-9]+ peer 127\.0\.0\.1:18083$'
	# The echo server answers once it read end of file: the guest's SHUT_WR reached it.
	assert_line --index 1 "half-closed"
	# The server saw the guest's local address as its peer.
	local port=${lines[0]#local 127.0.0.1:}
	port=${port%% *}
	wait_for grep -q "accepted 127.0.0.1:$port on" "$BATS_TEST_TMPDIR/srv"
}

@test "TSI: non-blocking connect: EINPROGRESS, then epoll and SO_ERROR" {
	host srv tcp-echo-server 127.0.0.1 18084
	tsi_bundle -- sh -c 'krun-testprog nb-connect 127.0.0.1 18084; krun-testprog nb-connect 127.0.0.1 18085; krun-testprog nb-connect ::1 18085'
	run --separate-stderr krun_run
	assert_status 0
	assert_equal "${lines[0]}" "EINPROGRESS OK"
	assert_equal "${lines[1]}" "EINPROGRESS ECONNREFUSED"
	assert_equal "${lines[2]}" "EINPROGRESS ECONNREFUSED"
}

@test "TSI: a blocking connect to a closed host port gets ECONNREFUSED" {
	tsi_bundle -- krun-testprog names 127.0.0.1 18086
	run --separate-stderr krun_run
	assert_status 1
	assert_equal "$stderr" "krun-testprog: connect 127.0.0.1: Connection refused"
}

@test "TSI: 256 connections open at once each carry their own data" {
	host srv tcp-echo-server 127.0.0.1 18087
	tsi_bundle -- krun-testprog parallel-connect 127.0.0.1 18087 256
	run --separate-stderr krun_run
	assert_status 0
	assert_output "parallel 256 ok"
}

@test "TSI: loopback with a guest listener stays in the guest" {
	# Nothing listens on the host: only the guest's own server can answer.
	tsi_bundle -- sh -c 'krun-testprog tcp-echo-server 127.0.0.1 18088 > /tmp/srv & sleep 1; krun-testprog tcp-talk 127.0.0.1 18088 inside'
	run --separate-stderr krun_run
	assert_status 0
	assert_output "inside"
}

@test "TSI: a server in the guest is reached from the host at the same port" {
	tsi_bundle -- krun-testprog tcp-echo-server 0.0.0.0 18089
	start_krun
	wait_for output_has listening
	wait_for "$KRUN_TESTPROG" tcp-talk 127.0.0.1 18089 ping
	run "$KRUN_TESTPROG" tcp-talk 127.0.0.1 18089 from-the-host
	assert_success
	assert_output "from-the-host"
	# The guest's accept() saw the host client's real address.
	output_has "accepted 127.0.0.1:[0-9]* on 127.0.0.1:18089" || fail "guest output: $(cat "$OUT")"
	stop_krun
}

@test "TSI: DNS over UDP through glibc's resolver and an ordinary resolv.conf" {
	host dns dns-server 127.0.0.1 53
	# busybox's nslookup binds its socket before connecting it; glibc does not, and sizes
	# its second answer's buffer with FIONREAD.
	tsi_bundle -- sh -c 'nslookup -type=a www.example.test 127.0.0.1 && krun-testprog resolve www.example.test'
	run --separate-stderr krun_run
	assert_status 0
	assert_line "Address: 192.0.2.42"
	assert_line "192.0.2.42"
	assert_line "2001:db8::42"
}

@test "TSI: UDP from the guest to a host server, replies from the right source (and MSG_PEEK)" {
	host srv4 udp-echo-server 127.0.0.1 18090
	host srv6 udp-echo-server ::1 18091
	tsi_bundle -- sh -c 'krun-testprog udp-send 127.0.0.1 18090 hello4; krun-testprog udp-send ::1 18091 hello6; krun-testprog udp-connect-send 127.0.0.1 18090 connected'
	run --separate-stderr krun_run
	assert_status 0
	assert_equal "${lines[0]}" "echo: hello4 from 127.0.0.1:18090"
	assert_equal "${lines[1]}" "echo: hello6 from [::1]:18091"
	assert_line --index 2 --regexp '^echo: connected-[12] from 127\.0\.0\.1:18090$'
	assert_line --index 3 --regexp '^echo: connected-[12] from 127\.0\.0\.1:18090$'
	assert_equal "${#lines[@]}" 4
}

@test "TSI: UDP from the host to a server in the guest" {
	tsi_bundle -- krun-testprog udp-echo-server 0.0.0.0 18092
	start_krun
	wait_for output_has ready
	wait_for "$KRUN_TESTPROG" udp-send 127.0.0.1 18092 ping
	run "$KRUN_TESTPROG" udp-send 127.0.0.1 18092 from-the-host
	assert_success
	assert_output "echo: from-the-host from 127.0.0.1:18092"
	stop_krun
}

@test "TSI: a guest server restarted at once binds its port again (SO_REUSEADDR reaches the host)" {
	# The first server (and its connection) dies with the client still there, so the VMM's side
	# closes first and stays in TIME_WAIT on the port the second server then binds.
	tsi_bundle -- sh -c 'krun-testprog tcp-echo-server 0.0.0.0 18096 > /tmp/first &
		until grep -q accepted /tmp/first; do sleep 0.1; done
		killall krun-testprog; sleep 1; exec krun-testprog tcp-echo-server 0.0.0.0 18096'
	start_krun
	# A client that keeps its connection open and silent (nothing left unread).
	hold_connection 18096
	wait_for output_has listening
	exec 5>&-
	ss -Htan state time-wait '( sport = :18096 )' | grep -q . ||
		fail "no TIME_WAIT on the port: $(ss -Htan '( sport = :18096 )')"
	run "$KRUN_TESTPROG" tcp-talk 127.0.0.1 18096 after-restart
	assert_success
	assert_output after-restart
	stop_krun
}

@test "TSI: options set on a connection the guest accepted reach the host socket" {
	tsi_bundle -- krun-testprog keepalive-server 0.0.0.0 18098 77
	start_krun
	hold_connection 18098
	wait_for output_has "keepidle 77"
	# The VMM's end of the connection (source port 18098) runs the keepalive timer, due
	# within the guest's 77 s (the host's default idle time is 2 hours).
	wait_for keepalive_due_within 18098 77 ||
		fail "keepalive timer: $(ss -Htno state established '( sport = :18098 )')"
	exec 5>&-
	stop_krun
}

@test "TSI: a UDP port the host refuses fails bind() in the guest, as it would on the host" {
	host holder udp-bind 127.0.0.1 18099 120
	tsi_bundle --jq '.process.capabilities = { bounding: ["CAP_CHOWN"] }' -- sh -c '
		krun-testprog udp-bind 0.0.0.0 18099 0; echo "in use: $?"
		krun-testprog udp-bind 0.0.0.0 53 0; echo "privileged: $?"
		krun-testprog udp-bind 127.0.0.1 18100 0; echo "free: $?"'
	run --separate-stderr krun_run
	assert_success
	assert_line "in use: 1"
	assert_line "privileged: 1"
	assert_line "free: 0"
	[[ $stderr == *"bind 18099: Address already in use"* ]] || fail "stderr: $stderr"
	[[ $stderr == *"bind 53: Permission denied"* ]] || fail "stderr: $stderr"
}

@test "TSI: closed guest sockets leave no host socket behind" {
	host srv tcp-echo-server 127.0.0.1 18093
	tsi_bundle -- sh -c 'krun-testprog names 127.0.0.1 18093 && krun-testprog listen-close 0.0.0.0 18094 3'
	start_krun
	wait_for output_has listening
	ss -Htlnp | grep -q ':18094 .*pid=' || fail "no host listener for the guest's: $(ss -Htlnp)"
	wait_for output_has closed
	# The guest closed everything: no TCP socket of the VMM is left.
	wait_for eval '! ss -Htanp | grep -q "pid=$KRUN_PID,"'
	wait_for eval '! ss -Htln | grep -q ":18094 "'
	stop_krun
}

@test "TSI: the guest's sockets are the container network namespace's, not the host's" {
	local ns=krun-tsi-$$
	ip netns add "$ns"
	NETNS=$ns
	ip -n "$ns" link set lo up
	# The same port served twice: on the host's loopback and on the namespace's.
	host outside tcp-echo-server 127.0.0.1 18101
	host --netns "$ns" inside tcp-echo-server 127.0.0.1 18101
	tsi_bundle --jq '.linux.namespaces += [{type: "network", path: "/run/netns/'"$ns"'"}]' \
		-- sh -c 'krun-testprog tcp-talk 127.0.0.1 18101 hello; krun-testprog listen-close 0.0.0.0 18102 30'
	start_krun
	wait_for output_has listening
	assert_equal "$(head -n1 "$OUT")" hello
	grep -q "accepted" "$BATS_TEST_TMPDIR/inside" || fail "the namespace's server saw no client"
	if grep -q "accepted" "$BATS_TEST_TMPDIR/outside"; then
		fail "the host's server was reached from the container"
	fi
	# The guest's listener is the namespace's, and the host has none on its port.
	ip netns exec "$ns" ss -Htln | grep -q ':18102 ' || fail "no listener in the namespace"
	if ss -Htln | grep -q ':18102 '; then
		fail "the guest's listener is on the host"
	fi
	stop_krun
}

@test "TSI: an AF_UNIX client in the guest talks to a host socket bind-mounted in" {
	local dir=$BATS_TEST_TMPDIR/sockdir
	mkdir -p "$dir"
	host srv unix-echo-server "$dir/app.sock"
	tsi_bundle --jq ".mounts = [{destination: \"/hostsock\", type: \"bind\", source: \"$dir\", options: [\"rbind\"]}]" \
		-- krun-testprog unix-talk /hostsock/app.sock over-vsock
	run --separate-stderr krun_run
	assert_status 0
	assert_output "echo: over-vsock"
}

@test "TSI: a guest user's AF_UNIX connect reaches the host socket as that user (SO_PEERCRED)" {
	local dir=$BATS_TEST_TMPDIR/sockdir
	mkdir -p "$dir"
	host srv unix-peercred-server "$dir/peer.sock"
	tsi_bundle --jq ".process.user = {uid: 1000, gid: 1000}" \
		--jq ".mounts = [{destination: \"/hostsock\", type: \"bind\", source: \"$dir\", options: [\"rbind\"]}]" \
		-- krun-testprog unix-talk /hostsock/peer.sock who
	run --separate-stderr krun_run
	assert_status 0
	assert_output "peer uid=1000 gid=1000"
	grep -qx "peer uid=1000 gid=1000" "$BATS_TEST_TMPDIR/srv"
}

@test "TSI: podman run -p publishes a server in the guest" {
	PODMAN_TEST=$BATS_TEST_NAME
	clients_setup_file podman conmon
	podman_setup
	run --separate-stderr podman_run -d --name tsi-web --network bridge -p 18095:8080 \
		"$CLIENTS_IMAGE" krun-testprog tcp-echo-server 0.0.0.0 8080
	assert_success
	wait_until 120 "$KRUN_TESTPROG" tcp-talk 127.0.0.1 18095 ping
	run "$KRUN_TESTPROG" tcp-talk 127.0.0.1 18095 through-podman
	assert_success
	assert_output "through-podman"
}
