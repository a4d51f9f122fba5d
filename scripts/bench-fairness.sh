#!/usr/bin/env bash
# Fairness between tenants through the query-scheduler (issue 9): one
# all-in-one weft (a real process on loopback) holds the same 1h of
# node-exporter-like data for two tenants. `weft-load fairness` runs tenant
# B's dashboard query one at a time, alone, then while tenant A floods heavy
# range queries from FLOOD concurrent clients (almost all of them queued in
# the scheduler), ROUNDS times in alternation; at the end of each flood A's
# clients give up and their queued queries leave the queue. Prints B's
# latency in both phases, pooled over the rounds, and the ratio of its p99.
#
#   scripts/bench-fairness.sh [SERIES] [PHASE] [ROUNDS] [FLOOD]
#
# SERIES: series per tenant (default 10000); PHASE: each measured phase
# (default 10s); ROUNDS (default 3); FLOOD: A's clients (default 1000).
# WORKERS (default 0: weft's default, the machine's cores) is the
# querier's workers (-querier.max-concurrent); CAPACITY (default 0.5) each
# tenant's share of them (-query-scheduler.max-query-capacity): CAPACITY=1
# lets A take every worker.
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-10000}
PHASE=${2:-10s}
ROUNDS=${3:-3}
FLOOD=${4:-1000}
WORKERS=${WORKERS:-0}
CAPACITY=${CAPACITY:-0.5}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
go build -o "$WORK/weft" ./cmd/weft
go build -o "$WORK/weft-load" ./cmd/weft-load
wait_ready() { for _ in $(seq 1 150); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not ready: $1" >&2; return 1; }

"$WORK/weft" -log.level=warn -http.listen-address=127.0.0.1:28009 -grpc.listen-address=127.0.0.1:28095 \
	-data.dir="$WORK/data" -ingester.max-series-per-tenant=0 -distributor.ingestion-rate-limit=0 \
	-querier.max-concurrent="$WORKERS" -query-scheduler.max-query-capacity="$CAPACITY" \
	-query-scheduler.max-outstanding-requests-per-tenant=$((FLOOD + 100)) 2>"$WORK/weft.log" &
wait_ready http://127.0.0.1:28009/ready

# 1h of samples 15s apart for tenant-0 (A) and tenant-1 (B).
"$WORK/weft-load" write -url http://127.0.0.1:28009/api/v1/push -tenants 2 -series $((2 * SERIES)) \
	-rounds 240 -start-time -1h -report-interval 0 >/dev/null

echo "weft all-in-one, -querier.max-concurrent=$WORKERS, max_query_capacity $CAPACITY, $SERIES series per tenant, A's flood: $FLOOD clients"
"$WORK/weft-load" fairness -url http://127.0.0.1:28009/prometheus -series $((2 * SERIES)) \
	-flood-tenant tenant-0 -probe-tenant tenant-1 -flood-clients "$FLOOD" \
	-phase "$PHASE" -rounds "$ROUNDS"
curl -fs http://127.0.0.1:28009/metrics | grep -E '^weft_query_scheduler_(cancelled|discarded)_requests_total' || true
