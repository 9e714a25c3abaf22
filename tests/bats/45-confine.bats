#!/usr/bin/env bats
# The VMM is confined (docs/confinement.md): a seccomp allow-list, no_new_privs, only the
# capabilities its devices use that the container's bounding set grants, and a root of its
# own with /proc and /dev/null alone. Workloads run as before, through krun and podman.

load helpers
load clients

setup() {
	ROOT=$BATS_TEST_TMPDIR/state
	ID=cf-$BATS_TEST_NUMBER-$$
	OUT=$BATS_TEST_TMPDIR/out
	HOST_PIDS=()
}

teardown() {
	local pid
	"$KRUN_BIN" --root "$ROOT" delete --force "$ID" 2> /dev/null || true
	for pid in "${HOST_PIDS[@]}"; do
		kill -KILL "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true
	done
	if [ -n "${CLIENTS_DIR-}" ]; then
		podman_cleanup
		clients_teardown_file
	fi
}

krun() {
	"$KRUN_BIN" --root "$ROOT" "$@"
}

# What the VMM keeps (docs/confinement.md): CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER,
# FSETID, SETGID, SETUID, NET_BIND_SERVICE, SYS_ADMIN, MKNOD, SETFCAP, of what the
# container's bounding set has.
KEPT_ALL=00000000882004df
KEPT_NO_ADMIN=00000000880004df
KEPT_NO_IDS=000000008820041f

# Every capability but those named, as config.json's bounding set.
bounding_without() {
	local all=(CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL
		CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT
		CAP_SYS_ADMIN CAP_MKNOD CAP_AUDIT_WRITE CAP_SETFCAP CAP_SYS_PTRACE) c out=()
	for c in "${all[@]}"; do
		[[ " $* " == *" $c "* ]] || out+=("$c")
	done
	printf '%s\n' "${out[@]}" | jq -R . | jq -cs .
}

status_field() { # pid key
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# Runs $BUNDLE detached until its workload says `up`; the VMM's pid in $PID.
start_detached() {
	krun run -d --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has up
	PID=$(krun state "$ID" | jq -r .pid)
}

assert_confined() { # pid capabilities
	assert_equal "$(status_field "$1" Seccomp)" 2
	assert_equal "$(status_field "$1" NoNewPrivs)" 1
	assert_equal "$(status_field "$1" CapEff)" "$2"
	assert_equal "$(status_field "$1" CapPrm)" "$2"
	assert_equal "$(status_field "$1" CapBnd)" "$2"
	assert_equal "$(status_field "$1" CapInh)" 0000000000000000
	assert_equal "$(status_field "$1" CapAmb)" 0000000000000000
}

XATTR_THEN_UP='touch /x; if krun-testprog xattr-set /x trusted.a b; then echo trusted-set; else echo trusted-refused; fi; echo up; exec sleep 1000'

@test "the VMM runs with its seccomp filter, no_new_privs and the documented capabilities" {
	make_bundle -- sh -c "$XATTR_THEN_UP"
	start_detached
	assert_confined "$PID" "$KEPT_ALL"
	# With SYS_ADMIN in the bounding set, the guest's root sets trusted.* xattrs.
	output_has trusted-set
}

@test "the VMM's root is not the host's: /dev and /proc alone, read-only" {
	make_bundle -- sh -c 'echo up; exec sleep 1000'
	start_detached
	run ls -A "/proc/$PID/root/"
	assert_output $'dev\nproc'
	run ls -A "/proc/$PID/root/dev"
	assert_output null
	[ ! -e "/proc/$PID/root/etc/passwd" ]
	[ "$(stat -L -c %d:%i "/proc/$PID/root")" != "$(stat -L -c %d:%i /)" ]
}

@test "a bounding set without SYS_ADMIN: the VMM drops it, and trusted.* xattrs fail in the guest" {
	make_bundle --jq ".process.capabilities = {bounding: $(bounding_without CAP_SYS_ADMIN)}" \
		-- sh -c "$XATTR_THEN_UP"
	start_detached
	assert_confined "$PID" "$KEPT_NO_ADMIN"
	output_has trusted-refused
}

@test "a bounding set without SETUID/SETGID: a guest user still writes files, as the container's root" {
	make_bundle --jq ".process.capabilities = {bounding: $(bounding_without CAP_SETUID CAP_SETGID)}
		| .process.user = {uid: 1000, gid: 1000}" \
		-- sh -c 'echo up; echo written > /tmp/by-user; cat /tmp/by-user; stat -c %u /tmp/by-user; exec sleep 1000'
	start_detached
	assert_confined "$PID" "$KEPT_NO_IDS"
	wait_for output_has written
	assert_equal "$(stat -c %u "$BUNDLE/rootfs/tmp/by-user")" 0
}

@test "a user namespace: the VMM keeps the same set, of the namespace" {
	make_bundle --jq '.linux.namespaces = [{type: "mount"}, {type: "pid"}, {type: "user"}]
		| .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
		| .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]' \
		-- sh -c 'echo data > /made-in-guest; cat /made-in-guest; echo up; exec sleep 1000'
	chown -R 100000:100000 "$BUNDLE/rootfs"
	start_detached
	assert_confined "$PID" "$KEPT_ALL"
	assert_equal "$(status_field "$PID" Uid)" 100000
	output_has data
}

# tcp_echo PORT: a krun-testprog echo server on the host's 127.0.0.1.
tcp_echo() {
	"$KRUN_TESTPROG" tcp-echo-server 127.0.0.1 "$1" > "$BATS_TEST_TMPDIR/echo" 2>&1 3>&- &
	HOST_PIDS+=($!)
	wait_for grep -qE '^(ready|listening)$' "$BATS_TEST_TMPDIR/echo"
}

@test "podman run --cap-drop ALL: files and a TSI connection work, the VMM keeps no capability" {
	clients_setup_file podman conmon
	podman_setup
	tcp_echo 18451
	run --separate-stderr podman_run -d --name nocaps --cap-drop ALL --network host "$CLIENTS_IMAGE" \
		sh -c 'echo data > /tmp/f && cat /tmp/f && krun-testprog tcp-talk 127.0.0.1 18451 over-tsi && echo ready && exec sleep 600'
	assert_status 0
	wait_until 120 eval 'podman logs nocaps | grep -qx ready'
	run --separate-stderr podman logs nocaps
	assert_line data
	assert_line over-tsi
	assert_confined "$(podman inspect --format '{{.State.Pid}}' nocaps)" 0000000000000000
}
