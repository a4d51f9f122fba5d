#!/usr/bin/env bash
# Distributed write-path benchmark: the same remote-write load (weft-load,
# 10-label series, 2,000 samples per request, 4 senders, as fast as
# possible) into an all-in-one weft and into 1 distributor + 3 ingesters at
# RF=3 (separate weft processes on loopback, memberlist ring), in one run.
#
#   scripts/bench-distributed.sh SERIES ROUNDS
#
# Prints accepted samples/s and CPU seconds per million samples: for the
# all-in-one process, for the distributor alone (its overhead) and for the
# three ingesters together.
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-100000}
ROUNDS=${2:-30}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
go build -o "$WORK/weft" ./cmd/weft
go build -o "$WORK/weft-load" ./cmd/weft-load
TICK=$(getconf CLK_TCK)
cpu_s() { awk -v t="$TICK" '{print ($14+$15)/t}' "/proc/$1/stat"; }
wait_ready() { for _ in $(seq 1 150); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; return 1; }
load() { "$WORK/weft-load" write -url "$1" -series "$SERIES" -rounds "$ROUNDS" -tenant-header-off -report-interval 0 -json; }
COMMON="-auth.multitenancy-enabled=false -log.level=warn -ingester.max-series-per-tenant=0 -distributor.ingestion-rate-limit=0"

# --- all-in-one ---
"$WORK/weft" $COMMON -http.listen-address=127.0.0.1:27009 -grpc.listen-address=127.0.0.1:27095 \
	-data.dir="$WORK/aio" -bucket.filesystem.dir="$WORK/aio/bucket" 2>"$WORK/aio.log" &
A=$!
wait_ready http://127.0.0.1:27009/ready
a0=$(cpu_s $A)
load http://127.0.0.1:27009/api/v1/push >"$WORK/aio.json"
a1=$(cpu_s $A)
kill -TERM $A; wait $A

# --- 1 distributor + 3 ingesters, RF=3 ---
RING="-memberlist.bind-addr=127.0.0.1 -memberlist.join=127.0.0.1:27301 -ingester.ring.heartbeat-period=2s"
IPIDS=()
for i in 1 2 3; do
	"$WORK/weft" $COMMON $RING -target=ingester -ingester.ring.instance-id=ingester-$i \
		-http.listen-address=127.0.0.1:2710$i -grpc.listen-address=127.0.0.1:2720$i -memberlist.bind-port=2730$i \
		-data.dir="$WORK/i$i" -bucket.filesystem.dir="$WORK/bucket" 2>"$WORK/i$i.log" &
	IPIDS+=($!)
done
"$WORK/weft" $COMMON $RING -target=distributor -http.listen-address=127.0.0.1:27100 -grpc.listen-address=127.0.0.1:27200 \
	-memberlist.bind-port=27300 -data.dir="$WORK/d" 2>"$WORK/d.log" &
D=$!
wait_ready http://127.0.0.1:27100/ready
for _ in $(seq 1 100); do
	n=$(curl -fs 'http://127.0.0.1:27100/ring?format=json' | grep -o '"state":"ACTIVE"' | wc -l || true)
	[ "$n" = 3 ] && break
	sleep 0.2
done
d0=$(cpu_s $D); i0=0; for p in "${IPIDS[@]}"; do i0=$(echo "$i0 + $(cpu_s $p)" | bc); done
load http://127.0.0.1:27100/api/v1/push >"$WORK/dist.json"
d1=$(cpu_s $D); i1=0; for p in "${IPIDS[@]}"; do i1=$(echo "$i1 + $(cpu_s $p)" | bc); done
kill -TERM $D "${IPIDS[@]}"; wait $D "${IPIDS[@]}" || true

python3 - "$WORK" "$SERIES" "$ROUNDS" "$a0" "$a1" "$d0" "$d1" "$i0" "$i1" <<'PY'
import json, sys
work, series, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
a0, a1, d0, d1, i0, i1 = map(float, sys.argv[4:])
aio, dist = json.load(open(f"{work}/aio.json")), json.load(open(f"{work}/dist.json"))
def m(acc, cpu): return cpu / max(acc, 1) * 1e6
A, D = aio["samples_accepted"], dist["samples_accepted"]
print(f"series={series} rounds={rounds}")
print(f"all-in-one:            {aio['accepted_samples_per_second']:>10.0f} samples/s  CPU {m(A, a1-a0):.2f} s/1M  failed={aio['requests_failed']}")
print(f"1 dist + 3 ing (RF=3): {dist['accepted_samples_per_second']:>10.0f} samples/s  distributor CPU {m(D, d1-d0):.2f} s/1M  ingesters CPU {m(D, i1-i0):.2f} s/1M (3 copies)  failed={dist['requests_failed']}")
PY
