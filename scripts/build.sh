#!/bin/bash
# Configures and builds Switchyard into build/ (and, with --asan, the
# AddressSanitizer + UndefinedBehaviorSanitizer debug build into build-asan/;
# with --asan-only, that one alone: scripts/test.sh builds it beside the
# release tree's tests).
set -euo pipefail
cd "$(dirname "$0")/.."

setup() { # dir, extra meson options...
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" -Drequire_all=true "$@" >/dev/null
	else
		meson setup "$dir" -Drequire_all=true "$@" >/dev/null
	fi
	ninja -C "$dir"
}

[ "${1:-}" = "--asan-only" ] || setup build
if [ "${1:-}" = "--asan" ] || [ "${1:-}" = "--asan-only" ]; then
	setup build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
fi
