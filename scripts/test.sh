#!/usr/bin/env bash
# Runs weft's whole test suite on a fresh Debian machine: installs what the
# tests use for real (Debian's Prometheus as remote-write client and PromQL
# reference, and Prometheus 3.16 built from source; promtool for
# operations/'s rules, etcd as the alternative ring store, memcached for the
# block cache, versitygw as the S3 server, amtool against the Alertmanager
# API), fetches Go modules, vets, and runs every test. The web UI's
# end-to-end test drives Debian's chromium with playwright-core (from npm,
# web/ui), and the committed UI bundle must equal a fresh build of web/ui.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# Debian's prometheus package also brings promtool (operations/ checks its rules with it).
# (By path: a Prometheus built with go install sits earlier in PATH.)
{ [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || need+=(prometheus)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v memcached >/dev/null 2>&1 || need+=(memcached)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# playwright-core and marked need Node.js >= 20 (Debian trixie's nodejs, or NodeSource on bookworm).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# ip(8) builds the network namespaces of integration/partition_test.go (which needs root, as CI runs).
{ command -v ip || [ -x /usr/sbin/ip ]; } >/dev/null 2>&1 || need+=(iproute2)
if ((${#need[@]})); then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	echo "installing: ${need[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# S3-compatible server (versitygw) that pkg/bucket's tests and integration/outage_test.go start on loopback (internal/s3test).
./scripts/s3server.sh
# npm ci (playwright-core for integration/ui_test.go), then the bundle check.
./scripts/build-ui.sh --check
go mod download
# Prometheus 3.16 (v0.316.0, the version weft embeds), whose query stats
# integration/querystats_test.go compares weft's with: built once, without
# service discovery, which the test does not use (a minute, not ten).
export WEFT_PROMETHEUS3="${WEFT_PROMETHEUS3:-$HOME/.cache/weft/prometheus-v0.316.0/prometheus}"
if [ ! -x "$WEFT_PROMETHEUS3" ]; then
	echo "building Prometheus v0.316.0 into $WEFT_PROMETHEUS3"
	GOBIN="$(dirname "$WEFT_PROMETHEUS3")" go install -tags remove_all_sd github.com/prometheus/prometheus/cmd/prometheus@v0.316.0
fi
go vet ./...
go test -count=1 -timeout 30m ./... "$@"
