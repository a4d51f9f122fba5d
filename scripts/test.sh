#!/usr/bin/env bash
# Runs weft's whole test suite on a fresh Debian machine: installs what the
# tests use for real (Prometheus as remote-write client and PromQL
# reference, etcd as the alternative ring store, memcached for the block
# cache, versitygw as the S3 server, amtool against the Alertmanager API),
# fetches Go modules, vets, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v memcached >/dev/null 2>&1 || need+=(memcached)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
if ((${#need[@]})); then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	echo "installing: ${need[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# S3-compatible server (versitygw) that pkg/bucket's tests start on loopback.
./scripts/s3server.sh
go mod download
go vet ./...
go test -count=1 -timeout 30m ./... "$@"
