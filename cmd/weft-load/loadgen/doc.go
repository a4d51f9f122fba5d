// Package loadgen generates realistic remote-write and query load for weft (or any
// Prometheus-compatible server) and measures how the server answers: a
// deterministic node-exporter-like SeriesSet, a Builder of remote-write 1.0 and
// 2.0 payloads that benchmarks use, and RunWrite and RunQuery behind
// cmd/weft-load. See docs/load-generator.md.
//
// It must never import another weft package: it is a client and must stay usable
// against Prometheus itself.
//
// Imports: none.
package loadgen
