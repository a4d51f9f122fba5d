#!/usr/bin/env bash
# Query-frontend benchmark: the same data in an all-in-one weft as it runs by
# default (its query-frontend, query-scheduler and results cache in front of
# the querier) with query sharding on, and in Prometheus 3.16 (the version
# weft embeds), both running side by side. Then the same range queries
# (weft-load query, one client) alternately, ROUNDS times:
#   weft cold     Cache-Control: no-store, so the results cache is neither
#                 read nor written: split, sharded, evaluated every time;
#   prometheus    the same query (Prometheus has no results cache, so this is
#                 the reference of both weft figures);
#   weft cached   the same query again, answered from the results cache
#                 (filled once before the rounds).
# Prints per query and mode the median latency and the server CPU seconds
# per query (utime+stime from /proc) and the ratios weft/Prometheus.
#
#   scripts/bench-frontend.sh SERIES RANGE INTERVAL ROUNDS   e.g. 64000 1h 15s 3
#
# SERIES node-exporter-like series get one sample per INTERVAL over RANGE,
# backfilled by remote write with one start time (see bench-query.sh for the
# queries). The data ends AGE ago: results newer than
# max_cache_freshness (10m by default) are never cached, so with fresher
# data the "cached" query would still evaluate its last minutes.
#
# Environment:
#   SHARDS      query_sharding_total_shards of the tenant (default 2: the
#               machine these figures come from has 2 cores)
#   STEP        query resolution (default 60s)
#   QUERIES     queries per system, mode and round (default 3)
#   AGE         how long ago the data ends (default 15m)
#   OOO_WINDOW  both systems' out-of-order time window (default RANGE+1h
#               when RANGE is over 2h: see bench-lib.sh)
#   WEFT, PROMETHEUS, WEFT_FLAGS, PROFILE_DIR as in bench-query.sh; the
#               profiles are 20s of one client looping on the cold queries.
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-64000}
RANGE=${2:-1h}
INTERVAL=${3:-15s}
ROUNDS=${4:-3}
SHARDS=${SHARDS:-2}
STEP=${STEP:-60s}
QUERIES=${QUERIES:-3}
WORK=$(mktemp -d)
trap 'rc=$?; kill $(jobs -p) 2>/dev/null || true; if [ $rc -ne 0 ]; then tail -n 20 "$WORK"/*.log >&2; echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT
. scripts/bench-lib.sh
bench_binaries
RANGE_S=$(duration_s "$RANGE")
ROUNDS_W=$((RANGE_S / $(duration_s "$INTERVAL") + 1))
START=$(( $(date +%s) - RANGE_S - $(duration_s "${AGE:-15m}") ))
END=$(( START + RANGE_S ))
if [ "$RANGE_S" -gt 7200 ]; then OOO_WINDOW=${OOO_WINDOW:-$((RANGE_S / 3600 + 1))h}; fi

bench_start -query-frontend.query-sharding-total-shards="$SHARDS" -querier.max-samples=0 ${WEFT_FLAGS:-}
bench_load "$SERIES" "$ROUNDS_W" "$INTERVAL" "$START"
bench_ooo_off

NAMES=(cpu_rate_by_job hist_p99_by_handler)
WEFT_URL=http://127.0.0.1:19009/prometheus
PROM_URL=http://127.0.0.1:19090
query() { # name url queries [cache-control] -> json
	"$WORK/weft-load" query -url "$2" -series "$SERIES" -range "$RANGE" -end "$END" -step "$STEP" -queries "$3" -concurrency 1 \
		-tenant "" -report-interval 0 -json -cache-control "${4:-}" -expr "${EXPR[$1]}" 2>/dev/null
}
# Warm both once uncached (first-query costs such as postings caches are not
# the subject here), then fill weft's results cache.
for n in "${NAMES[@]}"; do query "$n" $WEFT_URL 1 no-store >/dev/null; query "$n" $PROM_URL 1 >/dev/null; done
for n in "${NAMES[@]}"; do query "$n" $WEFT_URL 1 >/dev/null; done
if [ -n "${PROFILE_DIR:-}" ]; then
	mkdir -p "$PROFILE_DIR"
	for sys in weft prometheus; do
		if [ $sys = weft ]; then url=http://127.0.0.1:19009; base=$WEFT_URL; else url=$PROM_URL; base=$PROM_URL; fi
		curl -fs -o "$PROFILE_DIR/$sys.pprof" "$url/debug/pprof/profile?seconds=20" &
		C=$!
		sleep 0.5
		( while :; do for n in "${NAMES[@]}"; do query "$n" $base 1 no-store >/dev/null 2>&1; done; done ) &
		QP=$!
		wait $C
		kill $QP 2>/dev/null || true
		wait $QP 2>/dev/null || true
		sleep 2
	done
fi
echo "load average before the rounds: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
	for n in "${NAMES[@]}"; do
		for mode in weft-cold prometheus weft-cached; do
			case $mode in
			weft-cold) pid=$W; base=$WEFT_URL; cc=no-store ;;
			prometheus) pid=$P; base=$PROM_URL; cc= ;;
			weft-cached) pid=$W; base=$WEFT_URL; cc= ;;
			esac
			c0=$(cpu_s $pid)
			query "$n" $base "$QUERIES" "$cc" >"$WORK/$mode-$n-$r.json"
			c1=$(cpu_s $pid)
			echo "$c0 $c1" >"$WORK/$mode-$n-$r.cpu"
		done
	done
done
echo "load average after the rounds: $(cut -d' ' -f1-3 /proc/loadavg)"
# Evidence of the split, the shards and the cache hits, over the whole run.
curl -fs http://127.0.0.1:19009/metrics | grep -E '^weft_query_frontend_(downstream_requests|split_parts|results_cache_requests|results_cache_hits)_total' || true
python3 - "$WORK" "$ROUNDS" "$SERIES" "$RANGE" "$SHARDS" "${NAMES[@]}" <<'PY'
import json, statistics, sys
work, rounds, series_n, rng, shards, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
print(f"{series_n} series, range {rng}, {shards} shards")
print(f"{'query':<22} {'mode':<12} {'median ms':>10} {'CPU s/query':>12} {'series':>7} {'failed':>7}")
for n in names:
    row = {}
    for mode in ("weft-cold", "prometheus", "weft-cached"):
        lat, cpu, series, failed = [], [], 0, 0
        for r in range(1, rounds + 1):
            j = json.load(open(f"{work}/{mode}-{n}-{r}.json"))
            c0, c1 = map(float, open(f"{work}/{mode}-{n}-{r}.cpu").read().split())
            lat.append(j["latency"]["p50_ns"] / 1e6)
            cpu.append((c1 - c0) / max(j["queries"], 1))
            series = j["series_returned"] // max(j["queries"], 1)
            failed += j["queries_failed"]
        row[mode] = (statistics.median(lat), statistics.median(cpu), lat)
        print(f"{n:<22} {mode:<12} {row[mode][0]:>10.1f} {row[mode][1]:>12.4f} {series:>7} {failed:>7}")
    p = row["prometheus"]
    for mode in ("weft-cold", "weft-cached"):
        w = row[mode]
        # The rounds alternate: the ratio of each round's pair shows the noise.
        pairs = sorted(a / max(b, 1e-9) for a, b in zip(w[2], p[2]))
        print(f"{n:<22} {mode}/prometheus: latency {w[0]/p[0]:.3f}x (rounds {pairs[0]:.2f}-{pairs[-1]:.2f}x), CPU {w[1]/max(p[1],1e-9):.3f}x")
PY
