#!/usr/bin/env bash
# Regenerates the screenshots of weft's web UI in docs/ui/: builds weft and
# weft-load, starts an all-in-one weft on loopback, loads 30 minutes of
# node-exporter-like series for tenant-0 (plus, when Prometheus is installed,
# weft's own metrics with their metadata, scraped and remote-written by a
# Prometheus for 20 seconds), and photographs every page with
# Debian's chromium (playwright-core from web/ui). Pages that cannot be
# shown (an API missing) are reported and not saved.
#   WEFT_UI_PORT  HTTP port of the temporary weft (default 19290)
set -euo pipefail
cd "$(dirname "$0")/.."

port=${WEFT_UI_PORT:-19290}
tmp=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

[ -d web/ui/node_modules/playwright-core ] || (cd web/ui && npm ci --no-audit --no-fund --loglevel=error)
go build -o "$tmp/weft" ./cmd/weft
go build -o "$tmp/weft-load" ./cmd/weft-load
"$tmp/weft" -http.listen-address "127.0.0.1:$port" -grpc.listen-address "127.0.0.1:$((port + 1))" \
	-data.dir "$tmp/data" -bucket.filesystem.dir "$tmp/bucket" >"$tmp/weft.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { tail -20 "$tmp/weft.log"; exit 1; }
"$tmp/weft-load" write -url "http://127.0.0.1:$port/api/v1/push" -series 400 -tenants 1 \
	-rounds 120 -interval 15s -report-interval 0 >/dev/null
if command -v prometheus >/dev/null 2>&1; then
	cat >"$tmp/prometheus.yml" <<YAML
global: {scrape_interval: 2s}
scrape_configs: [{job_name: weft, static_configs: [{targets: ["127.0.0.1:$port"]}]}]
remote_write:
- url: http://127.0.0.1:$port/api/v1/push
  headers: {X-Scope-OrgID: tenant-0}
  metadata_config: {send_interval: 2s}
YAML
	prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
		--web.listen-address="127.0.0.1:$((port + 2))" >"$tmp/prometheus.log" 2>&1 &
	prom=$!
	sleep 20
	kill "$prom" && wait "$prom" 2>/dev/null || true
fi
(cd web/ui && WEFT_URL="http://127.0.0.1:$port" WEFT_TENANT=tenant-0 OUT=../../docs/ui node e2e/screenshots.mjs)
