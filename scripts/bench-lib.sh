# Shared pieces of the benchmarks that run weft and Prometheus 3.16 side by
# side with the same data (sourced by bench-query.sh and bench-frontend.sh).
# The caller sets WORK (a scratch directory) and, optionally, WEFT and
# PROMETHEUS (binaries to measure instead of building them).

# bench_binaries builds weft (unless WEFT is set) and weft-load into WORK and
# finds Prometheus 3.16: PROMETHEUS, else /root/go/bin/prometheus, else one
# built with go install ...@v0.316.0 (the version weft embeds).
bench_binaries() {
	if [ -z "${WEFT:-}" ]; then
		go build -o "$WORK/weft" ./cmd/weft
		WEFT="$WORK/weft"
	fi
	go build -o "$WORK/weft-load" ./cmd/weft-load
	if [ -z "${PROMETHEUS:-}" ]; then
		PROMETHEUS=/root/go/bin/prometheus
		if [ ! -x "$PROMETHEUS" ]; then
			GOBIN="$WORK/bin" go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0
			PROMETHEUS="$WORK/bin/prometheus"
		fi
	fi
	go version -m "$PROMETHEUS" | awk '$2 == "github.com/prometheus/prometheus" {print "prometheus", $3}'
}

TICK=$(getconf CLK_TCK)
# cpu_s PID: the CPU seconds (user+system) the process has used so far.
cpu_s() { awk -v t="$TICK" '{print ($14+$15)/t}' "/proc/$1/stat"; }

# wait_ready URL [SECONDS]
wait_ready() {
	local deadline=$((SECONDS + ${2:-60}))
	while [ $SECONDS -lt $deadline ]; do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "not ready: $1" >&2; return 1
}

# duration_s 1h: the duration in seconds (units s, m, h, d).
duration_s() { python3 -c "import sys; s=sys.argv[1]; m={'s':1,'m':60,'h':3600,'d':86400}; print(int(s[:-1])*m[s[-1]])" "$1"; }

# bench_start WEFT-FLAGS...: starts an all-in-one weft on :19009 with the
# given flags and Prometheus on :19090 (remote-write receiver on), sets W and
# P to their process ids and waits until both are ready. OOO_WINDOW (e.g.
# 25h), when set, is both systems' out-of-order time window: a backfill of
# more than a head's span runs into head compactions, after which the
# senders' samples still in flight are older than the head accepts. weft
# gets it from a runtime file, so that bench_ooo_off can end it: the
# query-frontend caches no result newer than the window.
bench_start() {
	printf 'overrides:\n  anonymous:\n    out_of_order_time_window: %s\n' "${OOO_WINDOW:-0s}" >"$WORK/runtime.yaml"
	"$WEFT" -auth.multitenancy-enabled=false -http.listen-address=127.0.0.1:19009 -grpc.listen-address=127.0.0.1:19095 \
		-data.dir="$WORK/wdata" -bucket.filesystem.dir="$WORK/wdata/bucket" -log.level=warn \
		-ingester.max-series-per-tenant=0 -distributor.ingestion-rate-limit=0 \
		-runtime-config.file="$WORK/runtime.yaml" -runtime-config.reload-period=1s \
		"$@" 2>"$WORK/weft.log" &
	W=$!
	mkdir -p "$WORK/prom"
	printf 'global:\n  scrape_interval: 1h\n' >"$WORK/prom/prometheus.yml"
	if [ -n "${OOO_WINDOW:-}" ]; then
		printf 'storage:\n  tsdb:\n    out_of_order_time_window: %s\n' "$OOO_WINDOW" >>"$WORK/prom/prometheus.yml"
	fi
	"$PROMETHEUS" --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
		--web.listen-address=127.0.0.1:19090 --web.enable-remote-write-receiver --log.level=warn 2>"$WORK/prom.log" &
	P=$!
	wait_ready http://127.0.0.1:19009/ready
	wait_ready http://127.0.0.1:19090/-/ready
}

# bench_ooo_off ends weft's out-of-order window after the backfill.
bench_ooo_off() {
	printf 'overrides: {}\n' >"$WORK/runtime.yaml"
	sleep 3
}

# bench_load SERIES ROUNDS INTERVAL START: backfills the same samples into
# both by remote write (ROUNDS samples per series, INTERVAL apart, from the
# unix time START) and prints what each accepted and how long it took.
bench_load() {
	local url sys t0
	for sys in weft prometheus; do
		if [ $sys = weft ]; then url=http://127.0.0.1:19009/api/v1/push; else url=http://127.0.0.1:19090/api/v1/write; fi
		t0=$SECONDS
		"$WORK/weft-load" write -url "$url" -series "$1" -rounds "$2" -interval "$3" -start-time "$4" -tenant-header-off -report-interval 0 -json >"$WORK/$sys-load.json"
		python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('$sys accepted', r['samples_accepted'], 'samples,', r.get('requests_failed', 0), 'requests failed, in', sys.argv[2], 's')" \
			"$WORK/$sys-load.json" $((SECONDS - t0))
	done
}

# The queries both benchmarks run, by name.
declare -A EXPR=(
	[cpu_rate_by_job]='sum by (job) (rate(node_cpu_seconds_total[5m]))'
	[hist_p99_by_handler]='histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))'
)
