#!/usr/bin/env bash
# Ingest benchmark: the same remote-write load (weft-load, node-exporter-like
# series with 10 labels, 2,000 samples per request, 4 senders, as fast as
# possible) into weft (all-in-one) and into Prometheus
# (--web.enable-remote-write-receiver), one after the other in one run, on
# loopback. Prints one line per system and the ratios weft/Prometheus.
#
#   scripts/bench-ingest.sh SERIES ROUNDS
#
# Measures: accepted samples/s; server CPU seconds per million samples
# (utime+stime from /proc); resident memory per active series after the
# load (VmRSS); bytes per sample of the blocks written from the same data
# (weft: blocks shipped to the bucket on shutdown with
# -ingester.flush-on-shutdown; Prometheus: a snapshot with its head).
#
# WEFT_FLAGS adds flags to weft's command line, as in
# WEFT_FLAGS=-ingester.wal-sync-before-ack scripts/bench-ingest.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-100000}
ROUNDS=${2:-20}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
go build -o "$WORK/weft" ./cmd/weft
go build -o "$WORK/weft-load" ./cmd/weft-load
TICK=$(getconf CLK_TCK)

cpu_s() { awk -v t="$TICK" '{print ($14+$15)/t}' "/proc/$1/stat"; }
rss_b() { awk '/VmRSS/ {print $2*1024}' "/proc/$1/status"; }
wait_ready() { for _ in $(seq 1 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; return 1; }
dir_bytes() { find "$1" -type f \( -path '*/chunks/*' -o -name index \) -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }

run_load() { # url -> json report
	"$WORK/weft-load" write -url "$1" -series "$SERIES" -rounds "$ROUNDS" -tenant-header-off -report-interval 0 -json
}

# One sample per series per round.
TOTAL=$((SERIES * ROUNDS))

# --- weft ---
mkdir -p "$WORK/weft-data"
"$WORK/weft" -auth.multitenancy-enabled=false -http.listen-address=127.0.0.1:19009 -grpc.listen-address=127.0.0.1:19095 \
	-data.dir="$WORK/weft-data" -bucket.filesystem.dir="$WORK/weft-data/bucket" -ingester.flush-on-shutdown \
	-ingester.max-series-per-tenant=0 -distributor.ingestion-rate-limit=0 -log.level=warn ${WEFT_FLAGS:-} 2>"$WORK/weft.log" &
WPID=$!
wait_ready http://127.0.0.1:19009/ready
c0=$(cpu_s $WPID)
run_load http://127.0.0.1:19009/api/v1/push >"$WORK/weft.json"
c1=$(cpu_s $WPID)
sleep 2
WRSS=$(rss_b $WPID)
kill -TERM $WPID; wait $WPID
WBYTES=$(dir_bytes "$WORK/weft-data/bucket")

# --- Prometheus ---
mkdir -p "$WORK/prom"
printf 'global:\n  scrape_interval: 1h\n' >"$WORK/prom/prometheus.yml"
prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
	--web.listen-address=127.0.0.1:19090 --web.enable-remote-write-receiver --web.enable-admin-api \
	--log.level=warn 2>"$WORK/prom.log" &
PPID_=$!
wait_ready http://127.0.0.1:19090/-/ready
p0=$(cpu_s $PPID_)
run_load http://127.0.0.1:19090/api/v1/write >"$WORK/prom.json"
p1=$(cpu_s $PPID_)
sleep 2
PRSS=$(rss_b $PPID_)
curl -fs -XPOST http://127.0.0.1:19090/api/v1/admin/tsdb/snapshot >/dev/null
PBYTES=$(dir_bytes "$WORK/prom/data/snapshots")
kill -TERM $PPID_; wait $PPID_ || true

python3 - "$WORK" "$SERIES" "$TOTAL" "$c0" "$c1" "$WRSS" "$WBYTES" "$p0" "$p1" "$PRSS" "$PBYTES" <<'PY'
import json, sys
work, series, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c0, c1, wrss, wbytes, p0, p1, prss, pbytes = map(float, sys.argv[4:])
def rep(name):
    r = json.load(open(f"{work}/{name}.json"))
    return r
w, p = rep("weft"), rep("prom")
def row(name, r, cpu, rss, nbytes):
    acc = r.get("samples_accepted", 0)
    rate = r.get("accepted_samples_per_second", 0)
    return dict(name=name, accepted=acc, rate=rate, cpu_per_m=cpu / max(acc, 1) * 1e6,
                rss_per_series=rss / series, bytes_per_sample=nbytes / max(acc, 1),
                failed=r.get("requests_failed", 0))
W = row("weft", w, c1 - c0, wrss, wbytes)
P = row("prometheus", p, p1 - p0, prss, pbytes)
print(f"series={series} samples={total}")
print(f"{'system':<11} {'accepted':>10} {'samples/s':>11} {'CPU s/1M':>9} {'RSS B/series':>13} {'disk B/sample':>14} {'failed':>7}")
for r in (W, P):
    print(f"{r['name']:<11} {r['accepted']:>10} {r['rate']:>11.0f} {r['cpu_per_m']:>9.2f} {r['rss_per_series']:>13.0f} {r['bytes_per_sample']:>14.2f} {r['failed']:>7}")
print(f"weft/prometheus: samples/s {W['rate']/max(P['rate'],1):.2f}x, CPU per sample {W['cpu_per_m']/max(P['cpu_per_m'],1e-9):.2f}x, "
      f"RSS per series {W['rss_per_series']/max(P['rss_per_series'],1):.2f}x, bytes per sample {W['bytes_per_sample']/max(P['bytes_per_sample'],1e-9):.2f}x")
PY
