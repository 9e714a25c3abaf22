# Helpers for the tests that drive krun through real clients: podman (with conmon),
# containerd (ctr, containerd-shim-runc-v2) and docker. Every client keeps its storage,
# state and sockets in a directory of its own, made by clients_setup_file, so nothing of
# this machine's own engines is read or changed. Load after helpers:
#   load helpers
#   load clients
# The runtime is always $KRUN_BIN. KRUN_KERNEL and KRUN_INIT reach it through the
# environment: podman hands them to conmon through containers.conf's conmon_env_vars, and
# the shims inherit the environment of the containerd started here.

CLIENTS_IMAGE=localhost/krun-bb:latest
# The Debian CLI, which matches dockerd 20.10 (another docker CLI may come first in PATH).
CLIENTS_DOCKER_CLI=/usr/bin/docker

# clients_setup_file PROGRAM...: fails unless every PROGRAM is installed, then makes
# $CLIENTS_DIR. Unix socket paths are short (108 bytes), so it is not under
# $BATS_FILE_TMPDIR, whose path can be long; clients_teardown_file removes it.
clients_setup_file() {
	CLIENTS_DIR=$(mktemp -d /tmp/krun-clients.XXXXXX)
	export CLIENTS_DIR
	local bin
	for bin in "$@"; do
		command -v "$bin" > /dev/null || { echo "$bin is not installed (tools/install-deps)" >&2; return 1; }
	done
}

clients_teardown_file() {
	[ -n "${CLIENTS_DIR-}" ] || return 0
	dockerd_stop
	containerd_stop
	podman_cleanup
	# Overlay mounts left by a daemon that died would keep the files busy.
	grep -o " ${CLIENTS_DIR}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2> /dev/null || true
	rm -rf "$CLIENTS_DIR"
}

# Runs a command (a shell function too) until it succeeds, at most TIMEOUT seconds; its
# last output is printed on failure.
wait_until() { # timeout command...
	local deadline=$((SECONDS + $1)) out
	shift
	until out=$("$@" 2>&1); do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "wait_until: gave up after waiting for: $* ($out)" >&2
			return 1
		fi
		sleep 0.5
	done
}

# The test image: helpers.bash's busybox root with krun-testprog, as a tarball.
clients_rootfs_tar() {
	local tar=$CLIENTS_DIR/rootfs.tar
	[ -f "$tar" ] || tar -C "$(rootfs_template)" -cf "$tar" .
	echo "$tar"
}

# ---- podman -----------------------------------------------------------------------

# podman with its own containers.conf and storage.conf under $CLIENTS_DIR/podman. The
# ulimits: as root podman asks for RLIMIT_NOFILE 1048576, more than a host without
# CAP_SYS_RESOURCE or with a lower hard limit can give. cgroupfs and a file for events,
# because there may be no systemd and no journald. No network by default: the CNI bridge
# works, but its plugins add about 11 s to every run under TCG; a test that wants it says
# --network bridge. File locks, not the shared-memory ones other podmans on the host use.
podman_setup() {
	local d=$CLIENTS_DIR/podman
	mkdir -p "$d/root" "$d/runroot" "$d/tmp" "$d/cni" "$d/volumes"
	# conmon, and so the runtime, get only these variables (and LC_*, HOME, CONTAINERS_CONF
	# and XDG_RUNTIME_DIR), not podman's whole environment.
	local conmon_env='"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' name
	for name in KRUN_KERNEL KRUN_INIT; do
		[ -z "${!name-}" ] || conmon_env+=", \"$name=${!name}\""
	done
	cat > "$d/containers.conf" <<- EOF
		[containers]
		default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
		netns = "none"
		[network]
		network_config_dir = "$d/cni"
		[engine]
		cgroup_manager = "cgroupfs"
		conmon_env_vars = [$conmon_env]
		events_logger = "file"
		events_logfile_path = "$d/events.log"
		tmp_dir = "$d/tmp"
		static_dir = "$d/root/libpod"
		volume_path = "$d/volumes"
		lock_type = "file"
		runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun"]
	EOF
	cat > "$d/storage.conf" <<- EOF
		[storage]
		driver = "overlay"
		graphroot = "$d/root"
		runroot = "$d/runroot"
	EOF
	export CONTAINERS_CONF=$d/containers.conf
	export CONTAINERS_STORAGE_CONF=$d/storage.conf
	podman_import_image
}

podman_import_image() {
	podman import -q "$(clients_rootfs_tar)" "$CLIENTS_IMAGE" > /dev/null
}

# podman run with krun; further arguments are podman run's.
podman_run() {
	podman run --runtime "$KRUN_BIN" "$@"
}

podman_cleanup() {
	[ -n "${CONTAINERS_CONF-}" ] || return 0
	podman rm -a -f -t 0 > /dev/null 2>&1 || true
}

# The image as a docker-archive, for ctr image import and docker load.
clients_docker_archive() {
	local archive=$CLIENTS_DIR/image-docker.tar
	if [ ! -f "$archive" ]; then
		podman save -q --format docker-archive -o "$archive" "$CLIENTS_IMAGE" > /dev/null
	fi
	echo "$archive"
}

# ---- containerd ---------------------------------------------------------------------

CLIENTS_CTR_NS=krun-tests

containerd_start() {
	local d=$CLIENTS_DIR/containerd
	mkdir -p "$d/root" "$d/state"
	cat > "$d/config.toml" <<- EOF
		version = 2
		root = "$d/root"
		state = "$d/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
		  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.snapshotter.v1.devmapper"]
		[grpc]
		  address = "$d/containerd.sock"
		[ttrpc]
		  address = "$d/containerd.sock.ttrpc"
		[debug]
		  address = "$d/debug.sock"
	EOF
	CLIENTS_CONTAINERD_SOCK=$d/containerd.sock
	export CLIENTS_CONTAINERD_SOCK
	containerd --config "$d/config.toml" > "$d/containerd.log" 2>&1 &
	echo $! > "$d/pid"
	wait_until 120 ctr -a "$CLIENTS_CONTAINERD_SOCK" version ||
		{ tail -n 20 "$d/containerd.log" >&2; return 1; }
}

containerd_stop() {
	local pidfile=$CLIENTS_DIR/containerd/pid
	[ -f "$pidfile" ] || return 0
	# A shim outlives containerd: end every task here so that no shim nor VM is left.
	local id
	for id in $(ctr_ task ls -q 2> /dev/null); do
		ctr_ task delete --force "$id" > /dev/null 2>&1 || true
	done
	for id in $(ctr_ container ls -q 2> /dev/null); do
		ctr_ container delete "$id" > /dev/null 2>&1 || true
	done
	stop_pid "$(cat "$pidfile")"
	rm -f "$pidfile"
}

ctr_() {
	ctr -a "$CLIENTS_CONTAINERD_SOCK" -n "$CLIENTS_CTR_NS" "$@"
}

# ctr run with krun as the runc binary of the runc shim.
ctr_run() {
	ctr_ run --runc-binary "$KRUN_BIN" "$@"
}

# ---- docker -------------------------------------------------------------------------

# dockerd on our containerd, without networking of its own (no iptables, no bridge).
dockerd_start() {
	local d=$CLIENTS_DIR/docker
	mkdir -p "$d/data" "$d/exec"
	echo '{}' > "$d/daemon.json"
	CLIENTS_DOCKER_HOST=unix://$d/docker.sock
	export CLIENTS_DOCKER_HOST
	dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
		--pidfile "$d/docker.pid" -H "$CLIENTS_DOCKER_HOST" \
		--containerd "$CLIENTS_CONTAINERD_SOCK" --containerd-namespace krun-docker \
		--containerd-plugins-namespace krun-docker-plugins \
		--iptables=false --ip-masq=false --bridge=none --exec-opt native.cgroupdriver=cgroupfs \
		--storage-driver overlay2 --add-runtime "krun=$KRUN_BIN" > "$d/dockerd.log" 2>&1 &
	echo $! > "$d/pid"
	wait_until 120 docker_ version ||
		{ tail -n 20 "$d/dockerd.log" >&2; return 1; }
}

dockerd_stop() {
	local pidfile=$CLIENTS_DIR/docker/pid
	[ -f "$pidfile" ] || return 0
	local id
	for id in $(docker_ ps -aq 2> /dev/null); do
		docker_ rm -f "$id" > /dev/null 2>&1 || true
	done
	stop_pid "$(cat "$pidfile")"
	rm -f "$pidfile"
}

docker_() {
	"$CLIENTS_DOCKER_CLI" -H "$CLIENTS_DOCKER_HOST" "$@"
}

docker_run() {
	docker_ run --runtime krun --network none "$@"
}

pid_gone() { # pid
	! kill -0 "$1" 2> /dev/null
}

# SIGTERM, then SIGKILL after 20 s; waits for the process to be gone.
stop_pid() { # pid
	local pid=$1 deadline=$((SECONDS + 20))
	kill "$pid" 2> /dev/null || return 0
	while [ "$SECONDS" -lt "$deadline" ]; do
		kill -0 "$pid" 2> /dev/null || return 0
		sleep 0.5
	done
	kill -9 "$pid" 2> /dev/null || true
	wait_until 10 pid_gone "$pid"
}

# ---- terminals (tmux) ---------------------------------------------------------------

# A detached tmux session of COLSxROWS running the command (a shell command line). Its
# exit status goes to a file: tmux's own #{pane_dead_status} is sometimes left empty
# when the pane's terminal closes before tmux reaps the process.
tmux_() {
	tmux -S "$CLIENTS_DIR/tmux.sock" "$@"
}

tmux_start() { # cols rows command
	rm -f "$CLIENTS_DIR/tmux.status"
	# The screen stays after the command exits, for the failure messages.
	echo 'set-option -g remain-on-exit on' > "$CLIENTS_DIR/tmux.conf"
	tmux_ -f "$CLIENTS_DIR/tmux.conf" new-session -d -s krun -x "$1" -y "$2" \
		"$3; echo \$? > $CLIENTS_DIR/tmux.status"
}

tmux_screen() {
	tmux_ capture-pane -p -t krun
}

tmux_screen_has() { # regexp
	tmux_screen | grep -Eq -- "$1"
}

# Waits until the screen shows a line matching the extended regexp.
tmux_wait_for() { # regexp [timeout]
	wait_until "${2:-60}" tmux_screen_has "$1" || { tmux_screen >&2; return 1; }
}

# Waits for the command to end and prints its exit status.
tmux_exit_status() {
	wait_until 60 test -s "$CLIENTS_DIR/tmux.status" || { tmux_screen >&2; return 1; }
	cat "$CLIENTS_DIR/tmux.status"
}

tmux_stop() {
	tmux_ kill-server 2> /dev/null || true
}

# ---- checks -------------------------------------------------------------------------

# Like assert_success / assert_failure N after `run --separate-stderr`, but the failure
# message shows the client's stderr, where its error is.
assert_status() { # expected
	[ "$status" -eq "$1" ] ||
		fail "exit status $status, expected $1"$'\n'"stdout: $output"$'\n'"stderr: ${stderr-}"
}

# A workload that says it is ready, traps SIGTERM and exits 3 at once (the sleep runs in
# the background so that the trap does not wait for it to end).
TRAP_TERM='trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 1 & wait $!; done'

# Fails unless RELEASE (uname -r in a container) is krun's guest kernel, not the host's:
# the container ran in the microVM.
assert_guest_kernel() { # release
	[[ $1 =~ ^6\.1\.[0-9]+-krun$ ]] || fail "uname -r is '$1', not krun's guest kernel"
}
