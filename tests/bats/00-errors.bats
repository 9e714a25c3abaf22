#!/usr/bin/env bats
# Unusable bundles and command lines: a clear error and a non-zero status, never a
# crash or a hang.

load helpers

@test "missing config.json" {
	make_bundle -- true
	rm "$BUNDLE/config.json"
	run --separate-stderr krun_run
	assert_failure
	[[ "$stderr" == "krun: "*config.json* ]] || fail "stderr: $stderr"
	[ "$status" -lt 126 ] || fail "status $status"
}

@test "malformed config.json" {
	make_bundle -- true
	echo '{"ociVersion": "1.0.2", "process": {' > "$BUNDLE/config.json"
	run --separate-stderr krun_run
	assert_failure
	[[ "$stderr" == "krun: "*config.json* ]] || fail "stderr: $stderr"
	[ "$status" -lt 126 ] || fail "status $status"
}

@test "process.args of the wrong type" {
	make_bundle -- true
	jq '.process.args = "true"' "$BUNDLE/config.json" > "$BUNDLE/c" && mv "$BUNDLE/c" "$BUNDLE/config.json"
	run --separate-stderr krun_run
	assert_failure
	[[ "$stderr" == *"process.args"* ]] || fail "stderr: $stderr"
}

@test "missing rootfs" {
	make_bundle -- true
	rm -rf "$BUNDLE/rootfs"
	run --separate-stderr krun_run
	assert_failure
	[[ "$stderr" == *rootfs* ]] || fail "stderr: $stderr"
}

@test "a bad annotation names the key and the value" {
	make_bundle --annotation krun.cpus=lots -- true
	run --separate-stderr krun_run
	assert_failure
	[[ "$stderr" == *krun.cpus*lots* ]] || fail "stderr: $stderr"
}

@test "an unknown command is a usage error" {
	run --separate-stderr "$KRUN_BIN" frobnicate x
	assert_equal "$status" 64
	[[ "$stderr" == "krun: "* ]] || fail "stderr: $stderr"
}

@test "an unknown global option is a usage error" {
	run --separate-stderr "$KRUN_BIN" --no-such-option run x
	assert_equal "$status" 64
}

@test "a missing kernel is named" {
	make_bundle -- true
	KRUN_KERNEL=/nonexistent/vmlinux run --separate-stderr krun_run
	assert_failure
	[[ "$stderr" == *"/nonexistent/vmlinux"* ]] || fail "stderr: $stderr"
}
