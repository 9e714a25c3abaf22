#!/usr/bin/env bats
# The OCI lifecycle driven through the CLI, as conmon, containerd's shim and buildah drive
# it: create, state, start, kill, delete, the pid file, the console socket, hooks, cgroups,
# namespaces, bind mounts, and every error path leaving nothing behind.

load helpers

setup() {
	ROOT=$BATS_TEST_TMPDIR/state
	ID=lc-$BATS_TEST_NUMBER-$$
	OUT=$BATS_TEST_TMPDIR/out
}

teardown() {
	"$KRUN_BIN" --root "$ROOT" delete --force "$ID" 2> /dev/null || true
}

krun() {
	"$KRUN_BIN" --root "$ROOT" "$@"
}

state_field() {
	krun state "$ID" | jq -r ".$1"
}

status_is() {
	[ "$(state_field status)" = "$1" ]
}

# A workload that says it is up and runs until told otherwise.
LONG_RUNNING=(sh -c 'trap "echo got-term; exit 3" TERM; echo up; while :; do sleep 1; done')

@test "create, state, start, kill, delete: the status follows, and nothing is left" {
	make_bundle -- "${LONG_RUNNING[@]}"
	krun create --bundle "$BUNDLE" --pid-file "$BATS_TEST_TMPDIR/pid" "$ID" > "$OUT" 2>&1
	run krun state "$ID"
	assert_success
	assert_equal "$(jq -r .status <<< "$output")" created
	assert_equal "$(jq -r .id <<< "$output")" "$ID"
	assert_equal "$(jq -r .bundle <<< "$output")" "$BUNDLE"
	assert_equal "$(jq -r .ociVersion <<< "$output")" 1.0.0
	local pid
	pid=$(jq -r .pid <<< "$output")
	assert_equal "$pid" "$(cat "$BATS_TEST_TMPDIR/pid")"
	kill -0 "$pid"
	! output_has up || fail "the workload ran before start"

	krun start "$ID"
	wait_for output_has up
	assert_equal "$(state_field status)" running

	krun kill "$ID" KILL
	wait_for status_is stopped
	assert_equal "$(state_field pid)" 0

	krun delete "$ID"
	run krun state "$ID"
	assert_failure
	assert_output --partial "does not exist"
	[ -z "$(ls -A "$ROOT")" ] || fail "left in the state root: $(ls -A "$ROOT")"
	! kill -0 "$pid" 2> /dev/null || fail "the container process survived"
}

@test "kill delivers SIGTERM to the workload, which can exit cleanly" {
	make_bundle -- "${LONG_RUNNING[@]}"
	krun run --detach --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has up
	krun kill "$ID" TERM
	wait_for output_has got-term
	wait_for status_is stopped
}

@test "kill takes signal names and numbers, and rejects unknown ones" {
	make_bundle -- sh -c 'trap "echo got-usr1" USR1; echo up; while :; do sleep 1; done'
	krun run --detach --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has up
	krun kill "$ID" SIGUSR1
	wait_for output_has got-usr1
	krun kill "$ID" 10
	wait_for eval '[ "$(grep -c got-usr1 "$OUT")" -ge 2 ]'
	run krun kill "$ID" SIGNOPE
	assert_failure
	assert_output --partial "unknown signal"
	assert_equal "$(state_field status)" running
}

@test "start twice fails, and so does start of an unknown container" {
	make_bundle -- "${LONG_RUNNING[@]}"
	krun create --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	krun start "$ID"
	run krun start "$ID"
	assert_failure
	assert_output --partial "cannot start"
	run krun start no-such-container
	assert_failure
	assert_output --partial "does not exist"
}

@test "delete refuses a running container without --force, and --force kills it" {
	make_bundle -- "${LONG_RUNNING[@]}"
	krun run -d --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has up
	local pid
	pid=$(state_field pid)
	run krun delete "$ID"
	assert_failure
	assert_output --partial "is running"
	assert_equal "$(state_field status)" running
	krun delete --force "$ID"
	! kill -0 "$pid" 2> /dev/null || fail "still alive"
	run krun state "$ID"
	assert_failure
	run krun delete --force "$ID"
	assert_success
}

@test "a created container can be deleted without starting it" {
	make_bundle -- "${LONG_RUNNING[@]}"
	krun create --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	local pid
	pid=$(state_field pid)
	krun delete "$ID"
	! kill -0 "$pid" 2> /dev/null || fail "still alive"
	[ -z "$(ls -A "$ROOT")" ]
}

@test "pause freezes the VM and resume thaws it" {
	make_bundle -- sh -c 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'
	krun run -d --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has "tick 2"
	krun pause "$ID"
	assert_equal "$(state_field status)" paused
	local before after
	before=$(wc -l < "$OUT")
	sleep 2
	after=$(wc -l < "$OUT")
	assert_equal "$after" "$before"
	run krun pause "$ID"
	assert_failure
	krun resume "$ID"
	assert_equal "$(state_field status)" running
	wait_for eval "[ \$(wc -l < '$OUT') -gt $after ]"
}

@test "list and ps show the container" {
	make_bundle -- "${LONG_RUNNING[@]}"
	krun run -d --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has up
	local pid
	pid=$(state_field pid)
	run krun list
	assert_success
	assert_line --index 0 --regexp '^NAME +PID +STATUS +BUNDLE'
	assert_line --regexp "^$ID +$pid +running +$BUNDLE"
	assert_equal "$(krun list -q)" "$ID"
	assert_equal "$(krun list --format json | jq -r '.[0].status')" running
	run krun ps --format json "$ID"
	assert_success
	jq -e --argjson pid "$pid" 'index($pid) != null' <<< "$output"
	run krun ps "$ID"
	assert_line --index 0 PID
	assert_line "$pid"
}

@test "the console socket receives the pty: the guest's terminal works through it" {
	make_bundle --terminal -- sh -c 'tty; stty size; read line; echo "typed:$line"'
	local sock=$BATS_TEST_TMPDIR/console.sock
	"$KRUN_CONSOLE_RECV" "$sock" "$OUT" 30x100 $'hello-tty\n' &
	local recv=$!
	wait_for test -S "$sock"
	krun create --bundle "$BUNDLE" --console-socket "$sock" "$ID"
	krun start "$ID"
	wait_for output_has "typed:hello-tty"
	wait "$recv"
	output_has /dev/hvc0 || output_has /dev/console || fail "tty: $(cat "$OUT")"
	output_has "30 100" || fail "size: $(cat "$OUT")"
}

@test "process.terminal without --console-socket fails and leaves nothing" {
	make_bundle --terminal -- true
	run krun create --bundle "$BUNDLE" "$ID" < /dev/null
	assert_failure
	assert_output --partial "console-socket"
	[ ! -e "$ROOT/$ID" ]
}

@test "create errors exit non-zero with a message and leave no state" {
	make_bundle -- true
	run krun create --bundle "$BATS_TEST_TMPDIR/no-bundle" "$ID"
	assert_failure
	assert_output --partial "no-bundle"
	run krun create --bundle "$BUNDLE" "bad/id"
	assert_failure
	assert_output --partial "invalid character"
	jq '.linux.namespaces += [{type: "network", path: "/no/such/netns"}]' \
		"$BUNDLE/config.json" > "$BUNDLE/c" && mv "$BUNDLE/c" "$BUNDLE/config.json"
	run krun create --bundle "$BUNDLE" "$ID"
	assert_failure
	assert_output --partial "/no/such/netns"
	[ ! -e "$ROOT/$ID" ]
}

@test "an id that exists already is refused and the first container is untouched" {
	make_bundle -- "${LONG_RUNNING[@]}"
	krun create --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	run krun create --bundle "$BUNDLE" "$ID"
	assert_failure
	assert_output --partial "already exists"
	assert_equal "$(state_field status)" created
}

@test "hooks run in order with the state on stdin, on the host" {
	local log=$BATS_TEST_TMPDIR/hooks.log hook=$BATS_TEST_TMPDIR/hook.sh
	printf '#!/bin/sh\nprintf "%%s %%s\\n" "$1" "$(cat)" >> %s\n' "$log" > "$hook"
	chmod +x "$hook"
	local hooks phase
	hooks='{}'
	for phase in prestart createRuntime createContainer startContainer poststart poststop; do
		hooks=$(jq -c --arg p "$phase" --arg h "$hook" '. + {($p): [{path: $h, args: [$h, $p]}]}' <<< "$hooks")
	done
	make_bundle --jq ".hooks = $hooks" -- sh -c 'echo ran'
	run krun run --bundle "$BUNDLE" "$ID"
	assert_success
	assert_output ran
	assert_equal "$(cut -d' ' -f1 "$log" | tr '\n' ' ')" \
		"prestart createRuntime createContainer startContainer poststart poststop "
	assert_equal "$(grep ^prestart "$log" | cut -d' ' -f2- | jq -r .id)" "$ID"
	assert_equal "$(grep ^prestart "$log" | cut -d' ' -f2- | jq -r .status)" created
	assert_equal "$(grep ^poststop "$log" | cut -d' ' -f2- | jq -r .status)" stopped
}

@test "a failing prestart hook fails create cleanly" {
	make_bundle --jq '.hooks.prestart = [{path: "/bin/sh", args: ["sh", "-c", "exit 3"]}]' -- true
	run krun create --bundle "$BUNDLE" "$ID"
	assert_failure
	assert_output --partial "prestart hook"
	assert_output --partial "status 3"
	[ ! -e "$ROOT/$ID" ]
}

@test "bind mounts are visible in the guest, read and written" {
	local vol=$BATS_TEST_TMPDIR/vol
	mkdir -p "$vol"
	echo from-host > "$vol/in"
	make_bundle --jq ".mounts = [{destination: \"/data/vol\", type: \"bind\", source: \"$vol\", options: [\"rbind\", \"rw\"]},
		{destination: \"/etc/ro-file\", type: \"bind\", source: \"$vol/in\", options: [\"bind\", \"ro\"]}]" \
		-- sh -c 'cat /data/vol/in; echo from-guest > /data/vol/out; cat /etc/ro-file; echo x > /etc/ro-file || echo ro-refused'
	run krun run --bundle "$BUNDLE" "$ID"
	assert_success
	assert_line --index 0 from-host
	assert_line --index 1 from-host
	assert_line ro-refused
	assert_equal "$(cat "$vol/out")" from-guest
	# Nothing of the container's mounts reached the host.
	! grep -q "$BUNDLE/rootfs/data/vol" /proc/self/mountinfo
}

@test "the container root and its bind mounts are nodev in the VMM's mount namespace" {
	local vol=$BATS_TEST_TMPDIR/vol
	mkdir -p "$vol"
	make_bundle --jq ".mounts = [{destination: \"/data/vol\", type: \"bind\", source: \"$vol\", options: [\"rbind\", \"rw\", \"dev\"]}]" \
		-- true
	krun create --bundle "$BUNDLE" "$ID"
	local pid mounts
	pid=$(state_field pid)
	# mountinfo field 5 is the mount point, field 6 its per-mount options.
	mounts=$(awk -v root="$BUNDLE/rootfs" '$5 == root || $5 == root "/data/vol" { print $5, $6 }' \
		"/proc/$pid/mountinfo")
	echo "$mounts"
	assert_equal "$(wc -l <<< "$mounts")" 2
	! grep -v nodev <<< "$mounts"
}

@test "a read-only root stays read-only in the guest" {
	make_bundle --jq '.root.readonly = true' -- sh -c 'touch /x 2>&1 || echo refused'
	run krun run --bundle "$BUNDLE" "$ID"
	assert_output --partial refused
	[ ! -e "$BUNDLE/rootfs/x" ]
}

@test "cgroup: the VMM gets the memory and pids limits, update changes them, delete removes it" {
	make_bundle --memory 268435456 --jq '.linux.resources.pids = {limit: 100} | .linux.cgroupsPath = "/krun-test/'"$ID"'"' \
		-- "${LONG_RUNNING[@]}"
	krun run -d --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has up
	local pid cg
	pid=$(state_field pid)
	cg=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
	assert_equal "$cg" "/krun-test/$ID"
	assert_equal "$(cat "/sys/fs/cgroup$cg/memory.max")" 268435456
	assert_equal "$(cat "/sys/fs/cgroup$cg/pids.max")" 100
	echo '{"pids": {"limit": 50}}' | krun update --resources - "$ID"
	assert_equal "$(cat "/sys/fs/cgroup$cg/pids.max")" 50
	krun update --pids-limit 60 "$ID"
	assert_equal "$(cat "/sys/fs/cgroup$cg/pids.max")" 60
	krun delete --force "$ID"
	[ ! -e "/sys/fs/cgroup$cg" ]
}

@test "namespaces: created ones are the VMM's, a network namespace is joined by path" {
	ip netns add "krun-$ID"
	make_bundle --jq '.linux.namespaces = [{type: "mount"}, {type: "pid"}, {type: "uts"}, {type: "ipc"},
		{type: "network", path: "/run/netns/krun-'"$ID"'"}]' -- "${LONG_RUNNING[@]}"
	krun run -d --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has up
	local pid
	pid=$(state_field pid)
	assert_equal "$(stat -L -c %i "/proc/$pid/ns/net")" "$(stat -L -c %i "/run/netns/krun-$ID")"
	[ "$(stat -L -c %i "/proc/$pid/ns/pid")" != "$(stat -L -c %i /proc/self/ns/pid)" ]
	[ "$(stat -L -c %i "/proc/$pid/ns/uts")" != "$(stat -L -c %i /proc/self/ns/uts)" ]
	# In its own pid namespace the VMM is pid 1, which the kernel spares unhandled
	# signals: SIGTERM still reaches the workload.
	krun kill "$ID" TERM
	wait_for output_has got-term
	wait_for status_is stopped
	krun delete "$ID"
	ip netns delete "krun-$ID"
}

@test "user namespace: the VMM is root of it, mapped; joined namespaces stay joined" {
	ip netns add "krun-$ID"
	local vol=$BATS_TEST_TMPDIR/vol
	mkdir -p "$vol"
	make_bundle --jq '.linux.namespaces = [{type: "mount"}, {type: "pid"}, {type: "uts"}, {type: "ipc"},
		{type: "user"}, {type: "network", path: "/run/netns/krun-'"$ID"'"}]
		| .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
		| .linux.gidMappings = [{containerID: 0, hostID: 200000, size: 65536}]
		| .mounts = [{destination: "/data", type: "bind", source: "'"$vol"'", options: ["rbind", "rw"]}]' \
		-- sh -c 'touch /made-in-guest /data/out; echo up; while :; do sleep 1; done'
	# As podman --uidmap does, the root filesystem belongs to the mapped ids.
	chown -R 100000:200000 "$BUNDLE/rootfs" "$vol"
	krun run -d --bundle "$BUNDLE" "$ID" > "$OUT" 2>&1
	wait_for output_has up
	local pid
	pid=$(state_field pid)
	assert_equal "$(awk '{print $1, $2, $3}' "/proc/$pid/uid_map")" "0 100000 65536"
	assert_equal "$(awk '{print $1, $2, $3}' "/proc/$pid/gid_map")" "0 200000 65536"
	assert_equal "$(awk '$1 == "Uid:" {print $2}' "/proc/$pid/status")" 100000
	[ "$(stat -L -c %i "/proc/$pid/ns/user")" != "$(stat -L -c %i /proc/self/ns/user)" ]
	assert_equal "$(stat -L -c %i "/proc/$pid/ns/net")" "$(stat -L -c %i "/run/netns/krun-$ID")"
	# Files the guest makes belong to the mapped root on the host.
	assert_equal "$(stat -c %u:%g "$BUNDLE/rootfs/made-in-guest")" 100000:200000
	assert_equal "$(stat -c %u:%g "$vol/out")" 100000:200000
	krun delete --force "$ID"
	[ ! -e "$ROOT/$ID" ]
	ip netns delete "krun-$ID"
}

@test "user namespace: without id mappings, create fails clearly and leaves nothing" {
	make_bundle --jq '.linux.namespaces += [{type: "user"}]' -- true
	run krun create --bundle "$BUNDLE" "$ID"
	assert_failure
	assert_output --partial "needs linux.uidMappings and linux.gidMappings"
	[ ! -e "$ROOT/$ID" ]
}

@test "run in the foreground returns the status and removes the container; --keep keeps it" {
	make_bundle -- sh -c 'exit 42'
	run krun run --bundle "$BUNDLE" "$ID"
	assert_equal "$status" 42
	[ ! -e "$ROOT/$ID" ]
	run krun run --keep --bundle "$BUNDLE" "$ID"
	assert_equal "$status" 42
	assert_equal "$(state_field status)" stopped
	krun delete "$ID"
}

@test "a Kubernetes sandbox container holds its namespaces without a VM" {
	make_bundle --annotation io.kubernetes.cri.container-type=sandbox \
		--jq '.linux.namespaces += [{type: "pid"}, {type: "network"}]' -- /pause
	krun run -d --bundle "$BUNDLE" "$ID"
	local pid
	pid=$(state_field pid)
	assert_equal "$(state_field status)" running
	# One thread: no vCPUs, no event loop.
	assert_equal "$(ls "/proc/$pid/task" | wc -l)" 1
	krun kill "$ID" TERM
	wait_for status_is stopped
}

@test "without krun.cpus the guest gets the CPUs of the container's cpuset" {
	make_bundle --jq '.linux.resources.cpu = {cpus: "0"}' -- nproc
	run krun run --bundle "$BUNDLE" "$ID"
	assert_success
	assert_output 1
}

# A root process that a planted state names: the reproduction of issue 10.
start_victim() {
	sleep 300 > /dev/null 2>&1 3>&- &
	VICTIM=$!
}

@test "real root ignores a state planted in XDG_RUNTIME_DIR: list does not show it, kill does not reach it" {
	local xdg=$BATS_TEST_TMPDIR/xdg start
	start_victim
	start=$(sed 's/.*) //' "/proc/$VICTIM/stat" | cut -d' ' -f20)
	mkdir -p "$xdg/krun/evil"
	cat > "$xdg/krun/evil/status" <<- EOF
		{"pid":$VICTIM,"process-start-time":$start,"bundle":"/","rootfs":"/",
		 "created":"2026-01-01T00:00:00Z","owner":"nobody","cgroup-manager":0,
		 "cgroup-path":null,"detached":true}
	EOF
	chown -R 65534:65534 "$xdg"
	local list_out kill_status kill_out state alive=no
	list_out=$(XDG_RUNTIME_DIR="$xdg" "$KRUN_BIN" list 2>&1) || fail "list failed: $list_out"
	kill_status=0
	kill_out=$(XDG_RUNTIME_DIR="$xdg" "$KRUN_BIN" kill evil KILL 2>&1) || kill_status=$?
	# Killed, our child is a zombie (which kill -0 still finds) or already reaped.
	state=$(sed 's/.*) //' "/proc/$VICTIM/stat" 2> /dev/null | cut -d' ' -f1)
	[ -z "$state" ] || [ "$state" = Z ] || alive=yes
	kill "$VICTIM" 2> /dev/null || true
	[[ $list_out != *evil* ]] || fail "list shows the planted container: $list_out"
	[ "$kill_status" -ne 0 ] || fail "krun kill evil succeeded"
	[[ $kill_out == *"does not exist"* ]] || fail "unexpected: $kill_out"
	assert_equal "$alive" yes
}

@test "a state root owned by another user, or writable by others, is refused" {
	mkdir -p "$ROOT"
	chown 65534 "$ROOT"
	run krun list
	assert_failure
	assert_output --partial "the state root \`$ROOT\` is owned by uid 65534"
	make_bundle -- true
	run krun create --bundle "$BUNDLE" "$ID"
	assert_failure
	assert_output --partial "is owned by uid 65534"
	chown 0 "$ROOT"
	chmod 0777 "$ROOT"
	run krun list
	assert_failure
	assert_output --partial "is writable by others (mode 0777)"
	[ -z "$(ls -A "$ROOT")" ] || fail "create left $(ls -A "$ROOT")"
	chmod 0700 "$ROOT"
}

@test "--pid-file through a planted symlink replaces the symlink and leaves its target untouched" {
	local precious=$BATS_TEST_TMPDIR/precious pidfile=$BATS_TEST_TMPDIR/pidfile
	echo precious > "$precious"
	ln -s "$precious" "$pidfile"
	make_bundle -- "${LONG_RUNNING[@]}"
	krun create --bundle "$BUNDLE" --pid-file "$pidfile" "$ID" > "$OUT" 2>&1
	[ ! -L "$pidfile" ] || fail "the pid file is still a symlink"
	assert_equal "$(cat "$pidfile")" "$(state_field pid)"
	assert_equal "$(cat "$precious")" precious
}

@test "an image's own kernel, truncated by the workload while it runs, does not crash the VMM" {
	make_bundle -- sh -c 'truncate -s 0 /boot/vmlinux && ls -l /boot && echo survived'
	mkdir -p "$BUNDLE/rootfs/boot"
	cp "$KRUN_KERNEL" "$BUNDLE/rootfs/boot/vmlinux"
	echo '{"kernel_path": "/boot/vmlinux", "kernel_format": 1}' > "$BUNDLE/rootfs/.krun_vm.json"
	run krun run --bundle "$BUNDLE" "$ID"
	assert_success
	assert_output --partial survived
	[ ! -s "$BUNDLE/rootfs/boot/vmlinux" ] || fail "the workload did not truncate the kernel"
}
