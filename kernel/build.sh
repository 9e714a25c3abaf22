#!/bin/bash
# Builds the guest kernel (vmlinux) from Debian's linux-source-6.1 with our config
# fragment and patches, caching the result outside the source tree by a hash of its
# inputs so that CI and later builds reuse it.
#
#   kernel/build.sh OUTPUT      build (or reuse) and copy vmlinux to OUTPUT
#   kernel/build.sh --key       print the cache key and exit
#
# KRUN_CACHE_DIR overrides the cache root (default /var/cache/krun).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tarball=/usr/src/linux-source-6.1.tar.xz
cache_root=${KRUN_CACHE_DIR:-/var/cache/krun}/kernel
# Bump when a change to this script changes the vmlinux it produces: it is part of the
# cache key, the rest of the script is not.
recipe=1

die() { echo "kernel/build.sh: $*" >&2; exit 1; }

[ -r "$tarball" ] || die "$tarball not found: install the Debian package linux-source-6.1"

patches() {
	[ -d "$here/patches" ] || return 0
	find "$here/patches" -name '*.patch' | sort
}

cache_key() {
	{
		dpkg-query -W -f='${Version}\n' linux-source-6.1 2>/dev/null || stat -c '%s %Y' "$tarball"
		echo "recipe $recipe"
		cat "$here/config-x86_64"
		patches | xargs -r cat
	} | sha256sum | cut -c1-16
}

key=$(cache_key)
if [ "${1:-}" = "--key" ]; then echo "$key"; exit 0; fi
[ $# -eq 1 ] || die "usage: build.sh OUTPUT | --key"
out=$1
cached=$cache_root/$key/vmlinux

check_config() {
	local cfg=$1 missing=""
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=y) grep -qx "$line" "$cfg" || missing="$missing ${line%=y}" ;;
		CONFIG_*=n) grep -q "^${line%=n}=y" "$cfg" && missing="$missing ${line%=n}(not off)" ;;
		esac
	done < "$here/config-x86_64"
	[ -z "$missing" ] || die "config options did not take effect:$missing"
}

build() {
	local work=$cache_root/build-$key
	rm -rf "$work"
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work"
	echo "kernel: unpacking $tarball" >&2
	tar -xf "$tarball" -C "$work" --strip-components=1
	local p
	for p in $(patches); do
		echo "kernel: applying $(basename "$p")" >&2
		patch -d "$work" -p1 --quiet --forward < "$p"
	done
	# allnoconfig with our fragment as the forced values, then fill defaults.
	sed 's/^\(CONFIG_[A-Z0-9_]*\)=n$/# \1 is not set/' "$here/config-x86_64" > "$work/krun.config"
	make -C "$work" -s KCONFIG_ALLCONFIG=krun.config allnoconfig
	make -C "$work" -s olddefconfig
	check_config "$work/.config"
	echo "kernel: building vmlinux (about 9 minutes on 2 cores)" >&2
	KBUILD_BUILD_TIMESTAMP=@0 KBUILD_BUILD_USER=krun KBUILD_BUILD_HOST=krun \
		make -C "$work" -s -j"$(($(nproc) + 1))" vmlinux
	mkdir -p "$cache_root/$key"
	strip --strip-all -o "$cache_root/$key/vmlinux.tmp" "$work/vmlinux"
	cp "$work/.config" "$cache_root/$key/config"
	mv "$cache_root/$key/vmlinux.tmp" "$cached"
	rm -rf "$work"
	trap - EXIT
}

mkdir -p "$cache_root"
exec 9> "$cache_root/.lock"
flock 9
if [ -s "$cached" ]; then
	echo "kernel: reusing cached $cached" >&2
else
	build
fi
cp "$cached" "$out.tmp"
mv "$out.tmp" "$out"
