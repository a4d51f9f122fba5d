// Package loadgen generates realistic remote-write and query load for weft (or any
// Prometheus-compatible server) and measures how the server answers.
//
// It owns three things:
//
//   - SeriesSet: a deterministic, node-exporter-like set of N active series. The same
//     N always yields the same series (and the set for N is a prefix of the set for
//     N+1), every series has exactly 10 labels (__name__ plus instance, job, cluster,
//     namespace, pod, region, env and two per-metric dimension labels such as cpu and
//     mode, device and container, or le and handler), and sample values are a pure
//     function of (series index, round): counters increase, gauges wander, and the
//     classic histogram http_request_duration_seconds has cumulative buckets.
//   - Builder: turns a range of a SeriesSet into snappy-compressed remote-write 1.0
//     or 2.0 payloads, reusing its buffers so that building is far cheaper than the
//     server's decoding. Other packages' benchmarks use it (or the one-shot
//     SeriesSet.BuildV1Request / BuildV2Request helpers) to get realistic payloads.
//   - RunWrite and RunQuery: the load tool behind cmd/weft-load, with their configs
//     (WriteConfig, QueryConfig) and reports (WriteReport, QueryReport).
//
// It must never import another weft package: it is a client and must stay usable
// against Prometheus itself.
//
// Imports: none.
package loadgen
