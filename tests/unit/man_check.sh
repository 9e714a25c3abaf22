#!/bin/bash
# Checks that krun(1) keeps up with the code: every verb of src/main.c's table is a
# subsection of COMMANDS, every setting of the VM key table (declared in
# src/annotations/vm_keys.h, defined in vm_config.c) a subsection of VM SETTINGS named
# "annotation, json_key" (or "json_key" alone), and every global option of src/oci/cli.c is
# under GLOBAL OPTIONS. Given the built page, also that it was rendered and substituted.
# Prints TAP.
#   man_check.sh [SRCDIR [BUILT_PAGE]]
set -uo pipefail

srcdir=${1:-$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)}
built=${2:-}
page=$srcdir/man/krun.1.md
n=0 failed=0

check() { # check NAME COMMAND...
	local name=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name"
	fi
}

# The lines of the page's "# TITLE" section.
section() {
	awk -v title="# $1" '$0 == title { on = 1; next } /^# / { on = 0 } on' "$page"
}

has_line() { # has_line TEXT LINE: LINE is one of TEXT's lines
	grep -qxF -- "$2" <<< "$1"
}

has_text() { # has_text TEXT WORD
	grep -qF -- "$2" <<< "$1"
}

# The names of the verb table: `{ "name", "summary", krun_cmd_name },` entries.
verbs() {
	awk '/cli_verb verbs\[\] = \{/ { on = 1; next } on && /^\};/ { on = 0 } on' \
		"$srcdir/src/main.c" | sed -n 's/^[[:space:]]*{[[:space:]]*"\([^"]*\)".*/\1/p'
}

# "annotation|json_key" per entry of the VM key table (annotation empty when NULL).
vm_keys() {
	awk '/vm_keys\[VM_N_FIELDS\] = \{/ { on = 1; next } on && /^\};/ { on = 0 } on' \
		"$srcdir/src/annotations/vm_config.c" |
		sed -nE 's/^[[:space:]]*\[VM_[A-Z_]+\][[:space:]]*=[[:space:]]*\{[[:space:]]*(NULL|"([^"]*)"),[[:space:]]*"([^"]*)".*/\2|\3/p'
}

vm_field_count() {
	awk '/^enum vm_field \{/ { on = 1; next } on && /VM_N_FIELDS/ { on = 0 } on' \
		"$srcdir/src/annotations/vm_config.h" | grep -cE '^[[:space:]]*VM_[A-Z_]+,'
}

global_options() {
	awk '/global_options\[\] = \{/ { on = 1; next } on && /^\};/ { on = 0 } on' \
		"$srcdir/src/oci/cli.c" | sed -n 's/^[[:space:]]*{[[:space:]]*"\([^"]*\)".*/\1/p'
}

check "the page exists: $page" test -s "$page"
commands=$(section COMMANDS)
settings=$(section "VM SETTINGS")
globals=$(section "GLOBAL OPTIONS")

mapfile -t verb_list < <(verbs)
check "src/main.c's verb table has verbs (${#verb_list[@]})" test "${#verb_list[@]}" -gt 0
for v in "${verb_list[@]}"; do
	check "COMMANDS documents \`$v\`" has_line "$commands" "### $v"
done

mapfile -t key_list < <(vm_keys)
check "the VM key table was read whole (${#key_list[@]} of $(vm_field_count) fields)" \
	test "${#key_list[@]}" -gt 0 -a "${#key_list[@]}" -eq "$(vm_field_count)"
for k in "${key_list[@]}"; do
	ann=${k%%|*} json=${k#*|}
	heading="### ${ann:+$ann, }$json"
	check "VM SETTINGS documents ${ann:+$ann and }.krun_vm.json \`$json\`" \
		has_line "$settings" "$heading"
done

mapfile -t option_list < <(global_options)
check "src/oci/cli.c has global options (${#option_list[@]})" test "${#option_list[@]}" -gt 0
for o in "${option_list[@]}"; do
	check "GLOBAL OPTIONS documents --$o" has_text "$globals" "**--$o**"
done

if [ -n "$built" ]; then
	check "the built page $built exists" test -s "$built"
	check "the built page has its title" grep -q '^\.TH KRUN 1' "$built"
	check "the built page has no %%PLACEHOLDER%% left" \
		bash -c '! grep -qE "%%[A-Z]+%%" "$1"' _ "$built"
	for v in "${verb_list[@]}"; do
		check "the built page has a subsection for \`$v\`" grep -qx "\.SS $v" "$built"
	done
fi

echo "1..$n"
[ "$failed" -eq 0 ]
