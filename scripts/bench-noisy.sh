#!/usr/bin/env bash
# Noisy neighbours (issue 12): one all-in-one weft (a real process on
# loopback) holds the same hour of node-exporter-like data for two tenants.
# Tenant B (tenant-0) pushes a normal load in real time (its series every
# 15 s, well under its limit) and runs dashboard queries (the built-in set
# of `weft-load query`, results cache bypassed), alone for PHASE; then
# tenant A (tenant-1) pushes at 10x its ingestion_rate and floods range
# queries from FLOOD clients, and after WARMUP B repeats the same run.
# Prints B's push and query latencies in both phases and the ratios of the
# p99s (targets: pushes <= 1.5x, queries <= 2x of solo), what A got, and
# the load average.
#
#   scripts/bench-noisy.sh [SERIES] [PHASE] [RATE_A] [FLOOD]
#
# SERIES: series per tenant (default 20000: B pushes SERIES/15 samples/s);
# PHASE: each measured phase (default 60s); RATE_A: A's ingestion_rate
# (default 10000 samples/s; A offers 10x that); FLOOD: A's query clients
# (default 32).
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-20000}
PHASE=${2:-60s}
RATE_A=${3:-10000}
FLOOD=${4:-32}
WARMUP=${WARMUP:-5}
PORT=${PORT:-28209}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
go build -o "$WORK/weft" ./cmd/weft
go build -o "$WORK/weft-load" ./cmd/weft-load
wait_ready() { for _ in $(seq 1 150); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; return 1; }
URL=http://127.0.0.1:$PORT
secs() { local d=$1; case $d in *m) echo $((${d%m} * 60)) ;; *s) echo "${d%s}" ;; *) echo "$d" ;; esac; }
PHASE_S=$(secs "$PHASE")

# No rate limit while both tenants backfill; the runtime file sets them
# after.
: >"$WORK/runtime.yaml"
"$WORK/weft" -log.level=warn -http.listen-address=127.0.0.1:$PORT -grpc.listen-address=127.0.0.1:$((PORT + 86)) \
	-data.dir="$WORK/data" -ingester.max-series-per-tenant=0 -distributor.ingestion-rate-limit=0 \
	-runtime-config.file="$WORK/runtime.yaml" -runtime-config.reload-period=1s 2>"$WORK/weft.log" &
WEFT_PID=$!
wait_ready $URL/ready

# 1h of samples 15s apart for tenant-0 (B) and tenant-1 (A): the same series.
"$WORK/weft-load" write -url $URL/api/v1/push -tenants 2 -series $((2 * SERIES)) \
	-rounds 240 -start-time -1h -report-interval 0 >/dev/null
cat >"$WORK/runtime.yaml" <<EOF
overrides:
  tenant-0:
    ingestion_rate: 100000
    ingestion_burst_size: 200000
  tenant-1:
    ingestion_rate: $RATE_A
    ingestion_burst_size: $RATE_A
EOF
for _ in $(seq 1 50); do curl -fs $URL/runtime_config | grep -q "ingestion_rate: $RATE_A" && break; sleep 0.2; done
curl -fs $URL/runtime_config | grep -q "ingestion_rate: $RATE_A" || { echo "the runtime file was not loaded" >&2; exit 1; }

# B's run: pushes in real time (200 samples per push, 2 senders) and
# dashboard queries from 2 clients, for PHASE.
run_b() {
	"$WORK/weft-load" write -url $URL/api/v1/push -tenants 1 -series "$SERIES" -realtime \
		-samples-per-request 200 -concurrency 2 -duration "$PHASE" -report-interval 0 -json >"$WORK/$1-write.json" &
	local w=$!
	"$WORK/weft-load" query -url $URL/prometheus -tenant tenant-0 -series "$SERIES" -concurrency 2 \
		-cache-control no-store -duration "$PHASE" -report-interval 0 -json >"$WORK/$1-query.json" &
	local q=$!
	wait $w $q
}
cpu() { awk '{print $14 + $15}' /proc/$WEFT_PID/stat; }
HZ=$(getconf CLK_TCK)

echo "weft all-in-one at $(git rev-parse --short HEAD), $SERIES series per tenant, phases of $PHASE"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
c0=$(cpu)
run_b solo
c1=$(cpu)
echo "load average after solo: $(cut -d' ' -f1-3 /proc/loadavg)"

# A: 10x its rate (2000 samples per push, 4 senders, timestamps 100ms
# apart so that they follow the clock) and FLOOD query clients, from
# WARMUP before B's run to its end.
A_DUR=$((PHASE_S + WARMUP + 2))s
"$WORK/weft-load" write -url $URL/api/v1/push -tenants 1 -tenant-offset 1 -series "$SERIES" \
	-rate $((10 * RATE_A)) -interval 100ms -start-time=-1s -concurrency 4 -duration "$A_DUR" \
	-report-interval 0 -allow-errors -json >"$WORK/a-write.json" &
AW=$!
"$WORK/weft-load" query -url $URL/prometheus -tenant tenant-1 -series "$SERIES" -concurrency "$FLOOD" \
	-cache-control no-store -duration "$A_DUR" -report-interval 0 -allow-errors -json >"$WORK/a-query.json" &
AQ=$!
sleep "$WARMUP"
c2=$(cpu)
run_b noisy
c3=$(cpu)
echo "load average after noisy: $(cut -d' ' -f1-3 /proc/loadavg)"
wait $AW $AQ || true

ms() { jq -r "$2 / 1e6 | . * 100 | round / 100" "$WORK/$1"; }
echo
printf '%-22s %12s %12s %12s %12s\n' "" "B push p50" "B push p99" "B query p50" "B query p99"
for p in solo noisy; do
	printf '%-22s %9s ms %9s ms %9s ms %9s ms\n' "$p" "$(ms $p-write.json .latency.p50_ns)" "$(ms $p-write.json .latency.p99_ns)" \
		"$(ms $p-query.json .latency.p50_ns)" "$(ms $p-query.json .latency.p99_ns)"
done
for p in solo noisy; do
	echo "B $p: $(jq -r '"\(.requests_ok) pushes ok, \(.requests_failed) failed, \(.samples_accepted) samples"' "$WORK/$p-write.json"); $(jq -r '"\(.queries_ok) queries ok, \(.queries_failed) failed"' "$WORK/$p-query.json")"
done
push_ratio=$(jq -n --slurpfile s "$WORK/solo-write.json" --slurpfile n "$WORK/noisy-write.json" '$n[0].latency.p99_ns / $s[0].latency.p99_ns * 100 | round / 100')
query_ratio=$(jq -n --slurpfile s "$WORK/solo-query.json" --slurpfile n "$WORK/noisy-query.json" '$n[0].latency.p99_ns / $s[0].latency.p99_ns * 100 | round / 100')
echo "B push p99 noisy / solo: ${push_ratio}x (target <= 1.5x); B query p99 noisy / solo: ${query_ratio}x (target <= 2x)"
echo "A write: $(jq -r '"\(.samples_sent) samples offered in \(.elapsed_seconds | round)s (\(.samples_sent / .elapsed_seconds | round)/s), \(.samples_accepted) accepted (\(.accepted_samples_per_second | round)/s), status codes \(.status_codes)"' "$WORK/a-write.json")"
echo "A queries: $(jq -r '"\(.queries_ok) ok, \(.queries_failed) failed, status codes \(.status_codes), p99 \(.latency.p99_ns / 1e6 | round) ms"' "$WORK/a-query.json")"
echo "weft CPU: solo $(awk "BEGIN{printf \"%.2f\", ($c1-$c0)/$HZ/$PHASE_S}") cores, noisy $(awk "BEGIN{printf \"%.2f\", ($c3-$c2)/$HZ/$PHASE_S}") cores"
curl -fs $URL/metrics | grep -E '^weft_distributor_discarded_samples_total\{.*tenant="tenant-1"' || true
