#!/usr/bin/env bash
# Soak: the distributed setup under load for DURATION while a random process
# is killed with SIGKILL every KILL_EVERY.
#
#   scripts/soak.sh [DURATION] [KILL_EVERY]     # default 30m 3m
#
# Starts 1 distributor, 3 ingesters (RF=3), 1 querier, 1 store-gateway and 1
# compactor as separate weft processes on 127.0.0.1 (ports 28110-28316),
# gossiping over memberlist and sharing a filesystem bucket, with 2-minute
# blocks so that shipping, compaction and store-gateway reads happen within
# the run. weft-load soak pushes ack-accounted series (and node-exporter-like
# load, and runs dashboard queries) for DURATION, then reads every sample
# back. Every KILL_EVERY one process, chosen at random, is killed -9 and
# started again 10-20 s later with the same flags and data directory; the
# next kill waits for it to be ready (and, for an ingester, for the ring to
# show all three ACTIVE), so never two processes are down at once. No kill
# falls in the last 90 s of the load.
#
# Every 15 s each process's RSS (/proc/PID/status) and Go heap in use
# (/metrics) go to $SOAK_OUT/samples.csv. At the end the script prints, per
# criterion, PASS or FAIL: no acknowledged sample lost or duplicated, and
# each role's RSS growing less than 10% over the last two-thirds of the run
# (see soak_report below for how a restart is handled).
#
# Environment: SOAK_OUT (default ./soak-out: CSV, reports and logs),
# SOAK_SERIES (accounting series, 200), SOAK_LOAD_SERIES (node-exporter-like
# series pushed in real time every 10 s, 20000), SOAK_QUERY_CLIENTS (1).
# Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-30m}
KILL_EVERY=${2:-3m}
OUT=${SOAK_OUT:-$PWD/soak-out}
ACK_SERIES=${SOAK_SERIES:-200}
LOAD_SERIES=${SOAK_LOAD_SERIES:-20000}
QUERY_CLIENTS=${SOAK_QUERY_CLIENTS:-1}
SETTLE=60s
SAMPLE_EVERY=15

duration_s() { python3 -c "import sys; s=sys.argv[1]; m={'s':1,'m':60,'h':3600}; print(int(float(s[:-1])*m[s[-1]]))" "$1"; }
DUR_S=$(duration_s "$DURATION")
KILL_S=$(duration_s "$KILL_EVERY")

WORK=$(mktemp -d)
mkdir -p "$OUT" "$WORK/pids"
rm -f "$OUT"/*.log "$OUT"/*.csv "$OUT"/*.json "$OUT"/*.txt

cleanup() {
	set +e
	local p f
	{
		for f in "$WORK"/pids/*; do
			[ -e "$f" ] && kill -9 "$(cat "$f")"
		done
		for p in ${SAMPLER:-} ${LOADER:-}; do kill "$p"; done
		wait
	} 2>/dev/null
	cp "$WORK"/*.log "$OUT"/ 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building weft and weft-load into $WORK"
go build -o "$WORK/weft" ./cmd/weft
go build -o "$WORK/weft-load" ./cmd/weft-load

ROLES=(distributor ingester-1 ingester-2 ingester-3 querier store-gateway compactor)
# Ports by slot i: HTTP 2811i, gRPC 2821i, gossip 2831i.
declare -A SLOT
for i in "${!ROLES[@]}"; do SLOT[${ROLES[$i]}]=$i; done
http_port() { echo $((28110 + SLOT[$1])); }
JOIN=$(for i in "${!ROLES[@]}"; do printf '127.0.0.1:%d,' $((28310 + i)); done)
JOIN=${JOIN%,}

# Every process gets every flag: the roles read the ones they need, and each
# sees the same block range, bucket and replication factor.
COMMON=(
	-auth.multitenancy-enabled=true -log.level=warn
	-memberlist.bind-addr=127.0.0.1 -memberlist.join="$JOIN"
	-bucket.filesystem.dir="$WORK/bucket"
	-distributor.replication-factor=3 -distributor.ingestion-rate-limit=0
	-ingester.max-series-per-tenant=0 -ingester.ring.heartbeat-period=2s
	-ingester.tsdb.block-ranges-period=2m -ingester.tsdb.ship-interval=15s
	-ingester.tsdb.head-compaction-interval=15s -ingester.tsdb.retention-period=12m
	-querier.query-ingesters-within=9m -querier.query-store-after=6m
	-store-gateway.sharding-replication-factor=1 -store-gateway.sync-interval=30s
	-store-gateway.ignore-deletion-marks-delay=2m
	-compactor.block-ranges=2m,10m,30m -compactor.compaction-interval=1m
	-compactor.cleanup-interval=30s -compactor.consistency-delay=1m -compactor.deletion-delay=5m
)

# start ROLE: starts (or restarts) ROLE in the background with its flags and
# data directory, and records its pid.
start() {
	local role=$1 i=${SLOT[$1]} target=${1%-[0-9]} extra=()
	case $role in
	ingester-*) extra=(-ingester.ring.instance-id="$role") ;;
	store-gateway) extra=(-store-gateway.ring.instance-id="$role") ;;
	compactor) extra=(-compactor.ring.instance-id="$role") ;;
	esac
	"$WORK/weft" -target="$target" "${COMMON[@]}" "${extra[@]}" \
		-http.listen-address=127.0.0.1:$((28110 + i)) -grpc.listen-address=127.0.0.1:$((28210 + i)) \
		-memberlist.bind-port=$((28310 + i)) -data.dir="$WORK/$role" 2>>"$WORK/$role.log" &
	echo $! >"$WORK/pids/$role"
}

# wait_ready ROLE: waits at most 120 s for its /ready.
wait_ready() {
	local deadline=$((SECONDS + 120))
	while [ $SECONDS -lt $deadline ]; do
		curl -fs --max-time 2 "http://127.0.0.1:$(http_port "$1")/ready" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "$1 not ready after 120 s" >&2
	return 1
}

# wait_ring: waits at most 120 s until the distributor sees 3 ACTIVE healthy ingesters.
wait_ring() {
	local deadline=$((SECONDS + 120)) n
	while [ $SECONDS -lt $deadline ]; do
		n=$(curl -fs --max-time 2 "http://127.0.0.1:28110/ring?format=json" |
			python3 -c 'import json,sys; print(sum(1 for i in json.load(sys.stdin)["instances"] if i["state"]=="ACTIVE" and i["healthy"]))' 2>/dev/null || echo 0)
		[ "$n" = 3 ] && return 0
		sleep 1
	done
	echo "ring: $n of 3 ingesters ACTIVE after 120 s" >&2
	return 1
}

for r in "${ROLES[@]}"; do start "$r"; done
for r in "${ROLES[@]}"; do wait_ready "$r"; done
wait_ring
echo "cluster up: ${ROLES[*]}"

# The sampler: one CSV row per running process every SAMPLE_EVERY seconds.
T0=$(date +%s)
echo "unix_s,elapsed_s,role,pid,rss_kb,heap_inuse_bytes" >"$OUT/samples.csv"
(
	while :; do
		now=$(date +%s)
		for r in "${ROLES[@]}"; do
			pid=$(cat "$WORK/pids/$r" 2>/dev/null) || continue
			rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
			[ -n "$rss" ] || continue
			heap=$(curl -fs --max-time 3 "http://127.0.0.1:$(http_port "$r")/metrics" 2>/dev/null |
				awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%.0f", $2}') || true
			echo "$now,$((now - T0)),$r,$pid,$rss,${heap:-}" >>"$OUT/samples.csv"
		done
		sleep $SAMPLE_EVERY
	done
) &
SAMPLER=$!

# The load and the accounting (its own timeout bounds it: duration, settle, read-back).
timeout $((DUR_S + 900)) "$WORK/weft-load" soak -json \
	-url http://127.0.0.1:28110/api/v1/push -query-url http://127.0.0.1:28114/prometheus \
	-series "$ACK_SERIES" -duration "$DURATION" -settle $SETTLE \
	-load-series "$LOAD_SERIES" -query-concurrency "$QUERY_CLIENTS" \
	>"$OUT/soak.json" 2>"$OUT/soak-progress.log" &
LOADER=$!

# The killer.
echo "elapsed_s,role,old_pid,down_s,new_pid" >"$OUT/kills.csv"
next=$((T0 + KILL_S))
while [ $((next + 90)) -le $((T0 + DUR_S)) ]; do
	sleep $((next - $(date +%s) > 0 ? next - $(date +%s) : 0))
	victim=${ROLES[$((RANDOM % ${#ROLES[@]}))]}
	old=$(cat "$WORK/pids/$victim")
	kill -9 "$old"
	wait "$old" 2>/dev/null || true
	down=$((10 + RANDOM % 11))
	killed_at=$(($(date +%s) - T0))
	echo "[$killed_at s] kill -9 $victim (pid $old); restart in $down s"
	sleep $down
	start "$victim"
	wait_ready "$victim"
	case $victim in ingester-*) wait_ring ;; esac
	echo "$killed_at,$victim,$old,$down,$(cat "$WORK/pids/$victim")" >>"$OUT/kills.csv"
	next=$((next + KILL_S))
done

echo "kills done; waiting for the load and the read-back"
LOAD_RC=0
wait $LOADER || LOAD_RC=$?
LOADER=
kill $SAMPLER 2>/dev/null || true
wait $SAMPLER 2>/dev/null || true
SAMPLER=

# soak_report: per role, the RSS growth over the last two-thirds of the load
# [DUR/3, DUR]. A process restarted in that window is measured over its
# longest uninterrupted stretch there, from 60 s after its (re)start (WAL
# replay and warm-up) to the next kill or the end. Growth compares the median
# RSS of the stretch's first 20% (at least 3 samples) with that of its last
# 20%: robust to single GC peaks. It is not robust to the compactor's cycle
# (about 1.5 minutes compacting at +45 MiB, then idle): its figure reads the
# phase its windows fall on, so check its floor and peaks in samples.csv
# before calling a compactor FAIL a leak. The Theil-Sen slope (median of
# pairwise slopes) times the stretch, over the starting level, is printed
# beside it.
python3 - "$OUT" "$DUR_S" "$LOAD_RC" <<'PY'
import csv, json, statistics, sys
out, dur, load_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(f"{out}/samples.csv")))
kills = list(csv.DictReader(open(f"{out}/kills.csv")))
lo, hi = dur / 3, dur
first_seen = {}
for r in rows:
    first_seen.setdefault(r["pid"], int(r["elapsed_s"]))
lines, ok_all = [], True
lines.append("| role | restarts (all run) | stretch measured | RSS at start | RSS at end | growth | Theil–Sen | heap at start | heap at end |")
lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
roles = []
for r in rows:
    if r["role"] not in roles:
        roles.append(r["role"])
def med(xs): return statistics.median(xs) if xs else float("nan")
def mb(kb): return f"{kb/1024:.0f} MiB"
for role in roles:
    segs = {}
    for r in rows:
        if r["role"] != role:
            continue
        t = int(r["elapsed_s"])
        warm = first_seen[r["pid"]] + (60 if first_seen[r["pid"]] > 30 else 0)
        if t < max(lo, warm) or t > hi:
            continue
        segs.setdefault(r["pid"], []).append((t, int(r["rss_kb"]), float(r["heap_inuse_bytes"] or "nan")))
    restarts = sum(1 for k in kills if k["role"] == role)
    if not segs:
        lines.append(f"| {role} | {restarts} | none | | | n/a | | | |")
        continue
    seg = max(segs.values(), key=lambda s: (s[-1][0] - s[0][0], len(s)))
    span = seg[-1][0] - seg[0][0]
    k = max(3, len(seg) // 5)
    if len(seg) < 2 * k:
        lines.append(f"| {role} | {restarts} | {span} s (too short) | | | n/a | | | |")
        continue
    r0, r1 = med([s[1] for s in seg[:k]]), med([s[1] for s in seg[-k:]])
    h0, h1 = med([s[2] for s in seg[:k]]), med([s[2] for s in seg[-k:]])
    slopes = [(b[1] - a[1]) / (b[0] - a[0]) for i, a in enumerate(seg) for b in seg[i + 1:] if b[0] > a[0]]
    ts = statistics.median(slopes) * span / r0 * 100
    g = (r1 / r0 - 1) * 100
    ok = g < 10
    ok_all &= ok
    lines.append(f"| {role} | {restarts} | {seg[0][0]}–{seg[-1][0]} s | {mb(r0)} | {mb(r1)} | {'**' if not ok else ''}{g:+.1f}%{'**' if not ok else ''} | {ts:+.1f}% | {h0/2**20:.0f} MiB | {h1/2**20:.0f} MiB |")
try:
    rep = json.load(open(f"{out}/soak.json"))
except (OSError, ValueError):
    rep = None
print()
print("\n".join(lines))
print()
print(f"kills: {len(kills)} ({', '.join(k['role'] + '@' + k['elapsed_s'] + 's' for k in kills)})")
acc_ok = False
if rep:
    c = rep["counts"]
    acc_ok = load_rc == 0 and not (c["lost"] or c["duplicated"] or c["changed"] or c["unexpected"] or c["unverified"])
    print(f"accounting: {rep['rounds']} rounds of {rep['series']} series, {rep['rounds_acked']} acknowledged, {rep['rounds_failed']} failed; "
          f"acked samples {c['acked']}, found {c['found']}, lost {c['lost']}, duplicated {c['duplicated']}, changed {c['changed']}, "
          f"unexpected {c['unexpected']}, unverified {c['unverified']}, from unacknowledged pushes {c['unacked_found']}")
    for e in rep.get("errors") or []:
        print("  error:", e)
    if rep.get("load_write"):
        w = rep["load_write"]
        print(f"load write: {w['requests_ok']} pushes ok, {w['requests_failed']} failed, {w['samples_accepted']} samples accepted")
    if rep.get("load_query"):
        q = rep["load_query"]
        print(f"load query: {q['queries_ok']} ok, {q['queries_failed']} failed, p50 {q['latency']['p50_ns']/1e6:.0f} ms, p99 {q['latency']['p99_ns']/1e6:.0f} ms")
else:
    print(f"accounting: no report (weft-load exit {load_rc})")
print(f"{'PASS' if acc_ok else 'FAIL'}: no acknowledged sample lost or duplicated")
print(f"{'PASS' if ok_all else 'FAIL'}: every role's RSS grows less than 10% over the last two-thirds")
open(f"{out}/summary.txt", "w").write("\n".join(lines) + "\n")
sys.exit(0 if acc_ok and ok_all else 1)
PY
