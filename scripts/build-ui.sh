#!/usr/bin/env bash
# Rebuilds weft's web UI (web/ui) from its lock file into pkg/ui/dist, which
# is committed and embedded in the binary (go:embed), so building weft needs
# no npm. With --check, builds into a temporary directory instead and fails,
# showing the difference, when the committed bundle is not what the sources
# build to. Both type-check the sources (tsc) and run their unit tests
# (web/ui/test) first.
set -euo pipefail
cd "$(dirname "$0")/.."

(cd web/ui && npm ci --no-audit --no-fund --loglevel=error && npx --no-install tsc --noEmit -p . && node test.mjs)
if [ "${1:-}" = "--check" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd web/ui && node build.mjs "$tmp/dist")
	if ! diff -r "$tmp/dist" pkg/ui/dist >"$tmp/diff"; then
		head -c 4000 "$tmp/diff"
		echo
		echo "pkg/ui/dist differs from a fresh build of web/ui: run scripts/build-ui.sh and commit pkg/ui/dist" >&2
		exit 1
	fi
	echo "pkg/ui/dist matches a fresh build of web/ui"
	exit 0
fi
(cd web/ui && node build.mjs ../../pkg/ui/dist)
