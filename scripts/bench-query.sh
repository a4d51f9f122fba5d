#!/usr/bin/env bash
# Query benchmark: the same data in an all-in-one weft and in Prometheus 3.16
# (the version weft embeds), both running side by side; then the same range
# queries (weft-load query, one client, unsharded and uncached: weft's
# results cache and query sharding are off) against
# each, alternately, ROUNDS times. Prints per query the median latency and
# the server CPU seconds per query (utime+stime from /proc) of each system,
# and the ratios weft/Prometheus.
#
#   scripts/bench-query.sh SERIES RANGE ROUNDS        e.g. 100000 1h 5
#
# SERIES node-exporter-like series get one sample per 15s over RANGE,
# backfilled by remote write with one start time, so both systems hold the
# same samples and answer the same queries (one end time, step 60s):
#   cpu_rate_by_job       sum by (job) (rate(node_cpu_seconds_total[5m]))
#   hist_p99_by_handler   histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))
#
# Environment:
#   WEFT        a weft binary to measure instead of building ./cmd/weft
#   PROMETHEUS  a Prometheus binary; default /root/go/bin/prometheus if it is
#               there, else one built with go install ...@v0.316.0
#   WEFT_FLAGS  more flags for weft (e.g. -ingester.tsdb.start-timestamps-enabled=false)
#   PROFILE_DIR when set, a 20s CPU profile of each server under the
#               queries is written there (weft.pprof, prometheus.pprof)
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-100000}
RANGE=${2:-1h}
ROUNDS=${3:-5}
WORK=$(mktemp -d)
trap 'rc=$?; kill $(jobs -p) 2>/dev/null || true; if [ $rc -ne 0 ]; then tail -n 20 "$WORK"/*.log >&2; echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT
. scripts/bench-lib.sh
bench_binaries
RANGE_S=$(duration_s "$RANGE")
ROUNDS_W=$((RANGE_S / 15 + 1))
# The data ends a minute ago, the queries end where the data does.
START=$(( $(date +%s) - RANGE_S - 60 ))
END=$(( START + RANGE_S ))

bench_start -query-frontend.results-cache-enabled=false -query-frontend.query-sharding-total-shards=0 ${WEFT_FLAGS:-}
bench_load "$SERIES" "$ROUNDS_W" 15s "$START"

NAMES=(cpu_rate_by_job hist_p99_by_handler)
query() { # name url queries -> json
	"$WORK/weft-load" query -url "$2" -series "$SERIES" -range "$RANGE" -end "$END" -step 60s -queries "$3" -concurrency 1 \
		-tenant "" -report-interval 0 -json -expr "${EXPR[$1]}" 2>/dev/null
}
# Warm both once (first-query costs such as postings caches are not the
# subject here), then alternate.
for n in "${NAMES[@]}"; do query "$n" http://127.0.0.1:19009/prometheus 1 >/dev/null; query "$n" http://127.0.0.1:19090 1 >/dev/null; done
if [ -n "${PROFILE_DIR:-}" ]; then
	mkdir -p "$PROFILE_DIR"
	for sys in weft prometheus; do
		if [ $sys = weft ]; then url=http://127.0.0.1:19009; base=$url/prometheus; else url=http://127.0.0.1:19090; base=$url; fi
		curl -fs -o "$PROFILE_DIR/$sys.pprof" "$url/debug/pprof/profile?seconds=20" &
		C=$!
		sleep 0.5
		QP=()
		for n in "${NAMES[@]}"; do query "$n" $base 1000 >/dev/null 2>&1 & QP+=($!); done
		wait $C
		kill "${QP[@]}" 2>/dev/null || true
		wait "${QP[@]}" 2>/dev/null || true
		sleep 1
	done
fi
for r in $(seq 1 "$ROUNDS"); do
	for n in "${NAMES[@]}"; do
		for sys in weft prometheus; do
			if [ $sys = weft ]; then pid=$W; base=http://127.0.0.1:19009/prometheus; else pid=$P; base=http://127.0.0.1:19090; fi
			c0=$(cpu_s $pid)
			query "$n" $base 3 >"$WORK/$sys-$n-$r.json"
			c1=$(cpu_s $pid)
			echo "$c0 $c1" >"$WORK/$sys-$n-$r.cpu"
		done
	done
done
python3 - "$WORK" "$ROUNDS" "${NAMES[@]}" <<'PY'
import json, statistics, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print(f"{'query':<22} {'system':<11} {'median ms':>10} {'CPU s/query':>12} {'(min-max)':>13} {'series':>7} {'failed':>7}")
for n in names:
    row = {}
    for sys_ in ("weft", "prometheus"):
        lat, cpu, series, failed = [], [], 0, 0
        for r in range(1, rounds + 1):
            j = json.load(open(f"{work}/{sys_}-{n}-{r}.json"))
            c0, c1 = map(float, open(f"{work}/{sys_}-{n}-{r}.cpu").read().split())
            lat.append(j["latency"]["p50_ns"] / 1e6)
            cpu.append((c1 - c0) / max(j["queries"], 1))
            series = j["series_returned"] // max(j["queries"], 1)
            failed += j["queries_failed"]
        row[sys_] = (statistics.median(lat), statistics.median(cpu))
        row[sys_ + "-cpu"] = cpu
        print(f"{n:<22} {sys_:<11} {row[sys_][0]:>10.0f} {row[sys_][1]:>12.3f} {min(cpu):>6.3f}-{max(cpu):<6.3f} {series:>7} {failed:>7}")
    w, p = row["weft"], row["prometheus"]
    # The rounds alternate: the ratio of each round's pair shows the noise.
    pairs = sorted(a / max(b, 1e-9) for a, b in zip(row["weft-cpu"], row["prometheus-cpu"]))
    print(f"{n:<22} weft/prometheus: latency {w[0]/p[0]:.2f}x, CPU {w[1]/max(p[1],1e-9):.2f}x (rounds {pairs[0]:.2f}-{pairs[-1]:.2f}x)")
PY
