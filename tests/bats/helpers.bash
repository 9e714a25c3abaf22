# Shared helpers for the system tests. They run the real krun binary on bundles built
# here from busybox-static, so no registry and no network is needed.
#   KRUN_BIN, KRUN_KERNEL, KRUN_INIT, KRUN_TESTPROG   set by tests/run-all

: "${KRUN_BIN:?run through tests/run-all}"
export KRUN_KERNEL KRUN_INIT

bats_require_minimum_version 1.5.0

bats_load_library bats-support
bats_load_library bats-assert

# A busybox root filesystem with our test helper, built once per test file.
rootfs_template() {
	local t=$BATS_FILE_TMPDIR/rootfs-template
	if [ ! -d "$t" ]; then
		mkdir -p "$t"/{bin,etc,tmp,root,proc,sys,dev,home/user,work}
		cp /bin/busybox "$t/bin/busybox"
		local applet
		for applet in $(/bin/busybox --list); do
			[ "$applet" = busybox ] || ln -s busybox "$t/bin/$applet"
		done
		cp "$KRUN_TESTPROG" "$t/bin/krun-testprog"
		printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' > "$t/etc/passwd"
		printf 'root:x:0:\nuser:x:1000:\n' > "$t/etc/group"
		chmod 1777 "$t/tmp"
		chown 1000:1000 "$t/home/user"
	fi
	echo "$t"
}

# make_bundle [--cwd DIR] [--env K=V]... [--annotation K=V]... [--memory BYTES]
#             [--terminal] [--jq FILTER]... -- ARGS...
# Each --jq FILTER edits the finished config.json (for hooks, mounts, namespaces...).
# Creates $BUNDLE with a fresh copy of the rootfs and a config.json running ARGS.
make_bundle() {
	local cwd=/ terminal=false memory=null
	local env=('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
	local annotations='{}' filters=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--cwd) cwd=$2; shift 2 ;;
		--env) env+=("$2"); shift 2 ;;
		--annotation)
			annotations=$(jq -c --arg k "${2%%=*}" --arg v "${2#*=}" '. + {($k): $v}' <<< "$annotations")
			shift 2 ;;
		--memory) memory=$2; shift 2 ;;
		--terminal) terminal=true; shift ;;
		--jq) filters+=("$2"); shift 2 ;;
		--) shift; break ;;
		*) echo "make_bundle: unknown option $1" >&2; return 2 ;;
		esac
	done
	BUNDLE=$BATS_TEST_TMPDIR/bundle
	rm -rf "$BUNDLE"
	mkdir -p "$BUNDLE"
	cp -a "$(rootfs_template)" "$BUNDLE/rootfs"
	# Each argument goes through --arg so that none is taken for one of jq's options.
	local args='[]' a
	for a in "$@"; do
		args=$(jq -c --arg a "$a" '. + [$a]' <<< "$args")
	done
	jq -n --arg cwd "$cwd" --argjson terminal "$terminal" --argjson args "$args" \
		--argjson env "$(printf '%s\n' "${env[@]}" | jq -R . | jq -cs .)" \
		--argjson annotations "$annotations" --argjson memory "$memory" '
		{
			ociVersion: "1.0.2",
			process: { terminal: $terminal, user: { uid: 0, gid: 0 }, args: $args,
				   env: $env, cwd: $cwd },
			root: { path: "rootfs" },
			hostname: "krun-test",
			annotations: $annotations,
			linux: ({ namespaces: [ { type: "mount" } ] }
				+ (if $memory == null then {} else { resources: { memory: { limit: $memory } } } end))
		}' > "$BUNDLE/config.json"
	local f
	for f in "${filters[@]}"; do
		jq "$f" "$BUNDLE/config.json" > "$BUNDLE/config.json.new"
		mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
	done
}

# Runs krun on $BUNDLE; extra arguments go before the container id.
krun_run() {
	"$KRUN_BIN" run --bundle "$BUNDLE" "$@" "test-$BATS_TEST_NUMBER-$$"
}

# wait_for COMMAND...: retries for up to 60 s (the test host is slow).
wait_for() {
	local i
	for i in $(seq 600); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# output_has TEXT: whether the file $OUT holds TEXT.
output_has() {
	grep -q -- "$1" "$OUT"
}
