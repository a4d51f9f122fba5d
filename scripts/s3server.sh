#!/usr/bin/env bash
# Installs the S3-compatible server that pkg/bucket's tests and the
# integration tests start on loopback (internal/s3test): versitygw
# (github.com/versity/versitygw) with its posix backend. Idempotent: does
# nothing when the pinned version is installed.
# The binary goes to $(go env GOPATH)/bin (override with GOBIN), where the
# tests look for it when it is not on PATH.
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
bindir="${GOBIN:-$(go env GOPATH)/bin}"
bin="$bindir/versitygw"
stamp="$bindir/.versitygw.version"

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$VERSITYGW_VERSION" ]; then
	echo "versitygw $VERSITYGW_VERSION already installed: $bin"
	exit 0
fi

echo "installing versitygw $VERSITYGW_VERSION into $bindir (takes a few minutes the first time)"
mkdir -p "$bindir"
# Outside the weft module, so that weft's go.mod is neither read nor changed.
cd "$(mktemp -d)"
GOBIN="$bindir" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
echo "$VERSITYGW_VERSION" >"$stamp"
echo "installed $bin"
