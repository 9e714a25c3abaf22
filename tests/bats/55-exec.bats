#!/usr/bin/env bats
# krun exec through the CLI, as conmon and containerd's shim drive it: a process entered
# into a running container's VM, its stdio, terminal, status, signals, and the callers'
# --detach/--pid-file contract (docs/exec.md).

load helpers

setup() {
	ROOT=$BATS_TEST_TMPDIR/state
	ID=ex-$BATS_TEST_NUMBER-$$
	OUT=$BATS_TEST_TMPDIR/out
}

teardown() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -s "$OUT" ]; then
		echo "# the container's output ends with:"
		tail -n 30 "$OUT"
		echo "# its state: $("$KRUN_BIN" --root "$ROOT" state "$ID" 2>&1 | tr -d '\n ')"
		echo "# the kernel's last words: $(dmesg 2>&1 | tail -n 5)"
	fi
	"$KRUN_BIN" --root "$ROOT" delete --force "$ID" 2> /dev/null || true
}

krun() {
	"$KRUN_BIN" --root "$ROOT" "$@"
}

# A running container whose workload waits; its output in $OUT.
start_container() {
	make_bundle "$@" -- sh -c 'echo up; while :; do sleep 1; done'
	krun create --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	krun start "$ID"
	wait_for output_has up
}

@test "exec: output, separate stderr and the exit status" {
	start_container
	run --separate-stderr krun exec "$ID" sh -c 'echo out; echo err >&2; exit 3'
	assert_equal "$status" 3
	assert_equal "$output" out
	assert_equal "$stderr" err
}

@test "exec right after start waits for the guest's agent, as the guest boots" {
	make_bundle -- sh -c 'while :; do sleep 1; done'
	krun create --bundle "$BUNDLE" "$ID"
	krun start "$ID"
	run --separate-stderr krun exec "$ID" echo early
	assert_success
	assert_output early
}

@test "exec: exit statuses 0, 127, 126 and 128+9" {
	start_container
	run krun exec "$ID" true
	assert_success
	run -127 krun exec "$ID" /no/such/program
	assert_output --partial /no/such/program
	run krun exec "$ID" /etc
	assert_equal "$status" 126
	run krun exec "$ID" sh -c 'kill -9 $$'
	assert_equal "$status" 137
}

@test "exec: stdin is relayed and its end reaches the process" {
	start_container
	run krun exec "$ID" sh -c 'cat; echo after-eof' <<< "line one"
	assert_success
	assert_output $'line one\nafter-eof'
}

@test "exec: 1 MiB on stdout and on stderr, apart and whole" {
	start_container
	krun exec "$ID" sh -c 'head -c 1048576 /dev/zero | tr "\0" a; head -c 1048576 /dev/zero | tr "\0" b >&2' \
		> "$BATS_TEST_TMPDIR/o" 2> "$BATS_TEST_TMPDIR/e"
	assert_equal "$(tr -d a < "$BATS_TEST_TMPDIR/o" | wc -c)" 0
	assert_equal "$(wc -c < "$BATS_TEST_TMPDIR/o")" 1048576
	assert_equal "$(tr -d b < "$BATS_TEST_TMPDIR/e" | wc -c)" 0
	assert_equal "$(wc -c < "$BATS_TEST_TMPDIR/e")" 1048576
}

@test "exec: --env, --cwd and --user apply over the container's process" {
	start_container --env KEEP=kept
	run krun exec --env NEW=new --cwd /tmp --user 65534:65534 "$ID" \
		sh -c 'echo "$KEEP $NEW $(pwd) $(id -u):$(id -g)"'
	assert_success
	assert_output "kept new /tmp 65534:65534"
}

@test "exec: --process JSON as podman writes it" {
	start_container
	jq -n '{terminal: false, user: {uid: 0, gid: 0}, args: ["sh", "-c", "echo from-json; exit 5"],
		env: ["PATH=/usr/bin:/bin"], cwd: "/"}' > "$BATS_TEST_TMPDIR/process.json"
	run krun exec --process "$BATS_TEST_TMPDIR/process.json" "$ID"
	assert_equal "$status" 5
	assert_output from-json
}

@test "exec: --detach --pid-file: the pid stands for the guest process and ends with it" {
	start_container
	local pidfile=$BATS_TEST_TMPDIR/exec.pid
	krun exec --detach --pid-file "$pidfile" "$ID" sh -c 'sleep 3; exit 7'
	local pid
	pid=$(cat "$pidfile")
	kill -0 "$pid"
	wait_for sh -c "! kill -0 $pid 2> /dev/null"
}

@test "exec: a signal to the stand-in reaches the guest process" {
	start_container
	# krun itself, not a subshell running the krun function: $! is the stand-in's pid.
	"$KRUN_BIN" --root "$ROOT" exec "$ID" \
		sh -c 'trap "echo got-usr1; exit 9" USR1; echo ready; while :; do sleep 0.1; done' \
		> "$BATS_TEST_TMPDIR/o" &
	local proxy=$!
	wait_for grep -q ready "$BATS_TEST_TMPDIR/o"
	kill -USR1 "$proxy"
	local status=0
	wait "$proxy" || status=$? # here, not in run's subshell: the stand-in is our child
	assert_equal "$status" 9
	grep -q got-usr1 "$BATS_TEST_TMPDIR/o"
}

@test "exec: the stand-in is the container's: ps lists it, kill --all reaches its guest process, delete --force ends it" {
	# The workload ignores SIGTERM, so that kill --all leaves the VM up.
	make_bundle -- sh -c 'trap "" TERM; echo up; while :; do sleep 1; done'
	krun create --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	krun start "$ID"
	wait_for output_has up
	"$KRUN_BIN" --root "$ROOT" exec "$ID" \
		sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done' \
		> "$BATS_TEST_TMPDIR/o" &
	local proxy=$! status=0
	wait_for grep -q ready "$BATS_TEST_TMPDIR/o"
	run krun ps --format json "$ID"
	assert_success
	jq -e --argjson p "$proxy" 'index($p) != null' <<< "$output"
	krun kill --all "$ID" TERM
	wait "$proxy" || status=$?
	assert_equal "$status" 7
	grep -q got-term "$BATS_TEST_TMPDIR/o"

	"$KRUN_BIN" --root "$ROOT" exec "$ID" sleep 1000 &
	proxy=$! status=0
	wait_for eval "krun ps --format json $ID | jq -e --argjson p $proxy 'index(\$p) != null'"
	krun delete --force "$ID"
	wait "$proxy" || status=$?
	assert_equal "$status" 137
}

@test "exec: a terminal through --console-socket, with its size" {
	start_container
	local sock=$BATS_TEST_TMPDIR/console.sock
	"$KRUN_CONSOLE_RECV" "$sock" "$BATS_TEST_TMPDIR/tty" 30x100 $'typed\n' &
	local recv=$!
	wait_for test -S "$sock"
	run krun exec --tty --console-socket "$sock" "$ID" sh -c 'read x; stty size; tty; echo "got:$x"'
	assert_success
	wait "$recv"
	grep -q "30 100" "$BATS_TEST_TMPDIR/tty" || fail "size: $(cat "$BATS_TEST_TMPDIR/tty")"
	grep -q "/dev/pts/" "$BATS_TEST_TMPDIR/tty" || fail "tty: $(cat "$BATS_TEST_TMPDIR/tty")"
	grep -q "got:typed" "$BATS_TEST_TMPDIR/tty"
}

@test "exec: 20 at once each get their own output and status" {
	start_container
	local i
	for i in $(seq 20); do
		krun exec "$ID" sh -c "echo n$i; exit $i" > "$BATS_TEST_TMPDIR/o$i" &
		eval "p$i=$!"
	done
	for i in $(seq 20); do
		local var=p$i status=0
		wait "${!var}" || status=$?
		assert_equal "$status" "$i"
		assert_equal "$(cat "$BATS_TEST_TMPDIR/o$i")" "n$i"
	done
}

@test "exec: still running when the workload exits: killed, the stand-in returns 137" {
	make_bundle -- sh -c 'echo up; sleep 3'
	krun create --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	krun start "$ID"
	wait_for output_has up
	run krun exec "$ID" sleep 100
	assert_equal "$status" 137
}

@test "exec into a paused, a stopped or an unknown container fails clearly" {
	start_container
	krun pause "$ID"
	run krun exec "$ID" true
	assert_failure
	assert_output --partial paused
	krun resume "$ID"
	krun kill "$ID" KILL
	wait_for sh -c "$KRUN_BIN --root $ROOT state $ID | grep -q stopped"
	run krun exec "$ID" true
	assert_failure
	assert_output --partial "not running"
	run krun exec nope-$$ true
	assert_failure
	assert_output --partial "does not exist"
}

@test "exec: --preserve-fds is refused clearly" {
	start_container
	run krun exec --preserve-fds 2 "$ID" true
	assert_failure
	assert_output --partial "cannot be passed into a VM"
}
