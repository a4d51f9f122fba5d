#!/usr/bin/env bash
# History benchmark: DAYS days of SERIES node-exporter-like series at one
# sample per STEP are backfilled (remote write, old timestamps) into an
# all-in-one weft and into Prometheus, one after the other in one run. Then:
#   - bytes per sample on disk: weft's bucket after the compactor merged the
#     shipped 2h blocks into its levels (2h, 12h, 24h, 7d); Prometheus' blocks after its
#     own compaction of the same data (a snapshot with its head);
#   - latency of dashboard-like range queries over the whole period
#     (weft-load query): the first pass after a restart (cold: weft's
#     store-gateway loads index headers from the bucket, its in-memory cache
#     of postings, series and chunks ranges is empty) and a second pass
#     (warm), both with Cache-Control: no-store so that weft's
#     query-frontend computes every query; then the same pass answered
#     from weft's results cache (cached).
# Prometheus is 3.16 (the version weft embeds; see bench-lib.sh).
# PROFILE_DIR: CPU profiles of both systems during their cold pass.
#
#   scripts/bench-history.sh SERIES DAYS STEP      e.g. 10000 7 5m
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-10000}
DAYS=${2:-7}
STEP=${3:-5m}
WORK=$(mktemp -d)
# On failure the logs' ends are printed and the work directory is kept.
trap 'rc=$?; kill $(jobs -p) 2>/dev/null || true; if [ $rc -ne 0 ]; then tail -n 20 "$WORK"/*.log >&2; echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT
. scripts/bench-lib.sh
bench_binaries
STEP_S=$(python3 -c "import re,sys; s='$STEP'; m={'s':1,'m':60,'h':3600}; print(int(s[:-1])*m[s[-1]])")
ROUNDS=$((DAYS * 86400 / STEP_S))
RANGE="$((DAYS * 24))h"
# (bench-lib.sh's wait_ready waits SECONDS: a restart replays a WAL, which
# takes minutes for Prometheus after a big backfill.)
# profile_start NAME URL: with PROFILE_DIR set, a CPU profile of the
# PROFILE_SECONDS (30) from now into PROFILE_DIR/NAME.pprof, taken during the
# cold pass; profile_wait waits for it.
profile_start() {
	PROF=""
	[ -n "${PROFILE_DIR:-}" ] || return 0
	mkdir -p "$PROFILE_DIR"
	curl -fs -o "$PROFILE_DIR/$1.pprof" "$2/debug/pprof/profile?seconds=${PROFILE_SECONDS:-30}" &
	PROF=$!
	sleep 0.5
}
profile_wait() { [ -z "$PROF" ] || wait "$PROF" || true; }
# Both systems get the same samples (one start time) and the same queries
# (one end time), so their answers must be equal.
START=$(( $(date +%s) - DAYS * 86400 ))
END=$(( START + DAYS * 86400 ))
load() { "$WORK/weft-load" write -url "$1" -series "$SERIES" -rounds "$ROUNDS" -interval "$STEP" -start-time "$START" -tenant-header-off -report-interval 0 -allow-errors -json; }
# queries URL [CACHE-CONTROL]: weft's query-frontend neither reads nor
# fills its results cache for "no-store", so each query is computed.
queries() { "$WORK/weft-load" query -url "$1" -series "$SERIES" -range "$RANGE" -end "$END" -queries 16 -concurrency 1 -tenant "" -allow-errors -json -cache-control "${2:-}"; }
blocks_bytes() { # sum of index+chunks of the block dirs given on stdin
	while read -r d; do find "$d" -type f \( -path '*/chunks/*' -o -name index \) -printf '%s\n'; done | awk '{s+=$1} END {print s+0}'
}

WEFT_FLAGS=(-auth.multitenancy-enabled=false -http.listen-address=127.0.0.1:19009 -grpc.listen-address=127.0.0.1:19095
	-data.dir="$WORK/wdata" -bucket.filesystem.dir="$WORK/wdata/bucket" -log.level=warn
	-ingester.max-series-per-tenant=0 -distributor.ingestion-rate-limit=0 -querier.max-samples=0
	-ingester.out-of-order-time-window="$((DAYS + 1))d" -ingester.flush-on-shutdown
	-compactor.consistency-delay=0s -compactor.compaction-interval=5s -compactor.cleanup-interval=5s -compactor.deletion-delay=30s
	-store-gateway.sync-interval=5s -store-gateway.ignore-deletion-marks-delay=15s
	-store-gateway.cache.backend=inmemory -store-gateway.cache.inmemory.max-size-bytes=2147483648)

# --- weft ---
"$WEFT" "${WEFT_FLAGS[@]}" 2>"$WORK/weft.log" &
W=$!
wait_ready http://127.0.0.1:19009/ready
load http://127.0.0.1:19009/api/v1/push >"$WORK/weft-load.json"
kill -TERM $W; wait $W # flush the head into blocks, ship them
"$WEFT" "${WEFT_FLAGS[@]}" 2>>"$WORK/weft.log" &
W=$!
wait_ready http://127.0.0.1:19009/ready 600
# Wait until the compactor has nothing left to do: the set of blocks in the
# bucket stays the same for 20s.
prev=""; stable=0
for _ in $(seq 1 300); do
	# The compactor deletes blocks while find walks: ignore what vanishes.
	cur=$( (find "$WORK/wdata/bucket" -name meta.json 2>/dev/null || true) | sort | md5sum)
	if [ "$cur" = "$prev" ]; then stable=$((stable + 1)); else stable=0; fi
	prev=$cur
	[ $stable -ge 20 ] && break
	sleep 1
done
# ... and until the blocks it replaced are deleted (the deletion delay).
for _ in $(seq 1 300); do
	[ -z "$( (find "$WORK/wdata/bucket" -name deletion-mark.json 2>/dev/null || true) | head -1)" ] && break
	sleep 1
done
WBLOCKS=$(find "$WORK/wdata/bucket" -name meta.json | wc -l)
WBYTES=$(find "$WORK/wdata/bucket" -name meta.json -printf '%h\n' | blocks_bytes)
kill -TERM $W; wait $W
"$WEFT" "${WEFT_FLAGS[@]}" 2>>"$WORK/weft.log" &
W=$!
wait_ready http://127.0.0.1:19009/ready 600
profile_start weft http://127.0.0.1:19009
queries http://127.0.0.1:19009/prometheus no-store >"$WORK/weft-cold.json"
profile_wait
queries http://127.0.0.1:19009/prometheus no-store >"$WORK/weft-warm.json"
# The same dashboard again, as Grafana sends it: from the results cache
# (filled by the first of these two passes).
queries http://127.0.0.1:19009/prometheus >/dev/null
queries http://127.0.0.1:19009/prometheus >"$WORK/weft-cached.json"
kill -TERM $W; wait $W

# --- Prometheus ---
mkdir -p "$WORK/prom"
printf 'global:\n  scrape_interval: 1h\nstorage:\n  tsdb:\n    out_of_order_time_window: %dd\n' "$((DAYS + 1))" >"$WORK/prom/prometheus.yml"
PFLAGS=(--config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" --web.listen-address=127.0.0.1:19090
	--web.enable-remote-write-receiver --web.enable-admin-api --storage.tsdb.retention.time=30d --log.level=warn)
"$PROMETHEUS" "${PFLAGS[@]}" 2>"$WORK/prom.log" &
P=$!
wait_ready http://127.0.0.1:19090/-/ready
load http://127.0.0.1:19090/api/v1/write >"$WORK/prom-load.json"
# Let Prometheus compact as long as weft's compactor had.
prev=""; stable=0
for _ in $(seq 1 300); do
	cur=$( (find "$WORK/prom/data" -maxdepth 2 -name meta.json 2>/dev/null || true) | sort | md5sum)
	if [ "$cur" = "$prev" ]; then stable=$((stable + 1)); else stable=0; fi
	prev=$cur
	[ $stable -ge 20 ] && break
	sleep 1
done
curl -fsS -XPOST http://127.0.0.1:19090/api/v1/admin/tsdb/snapshot >"$WORK/snapshot.json"
cat "$WORK/snapshot.json" >&2
PBLOCKS=$(find "$WORK/prom/data/snapshots" -name meta.json | wc -l)
PBYTES=$(find "$WORK/prom/data/snapshots" -name meta.json -printf '%h\n' | blocks_bytes)
kill -TERM $P; wait $P || true
"$PROMETHEUS" "${PFLAGS[@]}" 2>>"$WORK/prom.log" &
P=$!
wait_ready http://127.0.0.1:19090/-/ready 1800
profile_start prometheus http://127.0.0.1:19090
queries http://127.0.0.1:19090 >"$WORK/prom-cold.json"
profile_wait
queries http://127.0.0.1:19090 >"$WORK/prom-warm.json"
kill -TERM $P; wait $P || true

python3 - "$WORK" "$SERIES" "$DAYS" "$STEP" "$WBLOCKS" "$WBYTES" "$PBLOCKS" "$PBYTES" <<'PY'
import json, sys
work, series, days, step = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
wblocks, wbytes, pblocks, pbytes = map(int, sys.argv[5:])
j = lambda n: json.load(open(f"{work}/{n}.json"))
wl, pl = j("weft-load"), j("prom-load")
def lat(r):
    l = r.get("latency", {})
    return l.get("p50_ns", 0) / 1e6, l.get("p99_ns", 0) / 1e6, (r.get("queries_failed", 0), r.get("samples_returned", 0))
print(f"series={series} days={days} step={step} samples: weft {wl['samples_accepted']} prometheus {pl['samples_accepted']} (failed requests: {wl['requests_failed']} / {pl['requests_failed']})")
wb, pb = wbytes / max(wl['samples_accepted'], 1), pbytes / max(pl['samples_accepted'], 1)
print(f"disk bytes/sample: weft {wb:.3f} ({wblocks} blocks)  prometheus {pb:.3f} ({pblocks} blocks)  ratio {wb/max(pb,1e-9):.2f}x")
for phase in ("cold", "warm", "cached"):
    w50, w99, wf = lat(j(f"weft-{phase}"))
    # Prometheus has no results cache: its warm pass is the reference.
    pphase = "warm" if phase == "cached" else phase
    p50, p99, pf = lat(j(f"prom-{pphase}"))
    for name in (f"weft-{phase}", f"prom-{pphase}"):
        for e in j(name).get("errors", [])[:2]:
            print(f"  {name} error: {e[:300]}")
    print(f"{phase} {days}d range queries: weft p50 {w50:.0f} ms p99 {w99:.0f} ms (failed, samples {wf})  prometheus p50 {p50:.0f} ms p99 {p99:.0f} ms (failed, samples {pf})  p50 ratio {w50/max(p50,1e-9):.2f}x")
PY
