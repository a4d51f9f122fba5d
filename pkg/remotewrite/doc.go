// Package remotewrite decodes Prometheus remote-write requests — 1.0
// (prometheus.WriteRequest) and 2.0 (io.prometheus.write.v2.Request) — from
// their snappy-compressed protobuf bodies into wire.PushRequest.
//
// It owns the wire format of the push path and nothing else: picking the
// protocol version from the Content-Type header, the size bound on the
// decompressed body, and the protobuf decoding of the requests: 1.0's
// WriteRequest, and 2.0's whole layout with its symbols table. The messages
// that 1.0 shares with weft's own Push message (TimeSeries, Sample,
// Exemplar, Histogram, MetricMetadata), the Sample and Histogram that 2.0
// shares with 1.0, and the wire-format primitives are pkg/protocodec's,
// written once for both. Validation (label names and
// order, duplicates, limits) is the caller's: the decoder hands labels over
// exactly as the client sent them, unsorted and not deduplicated, so that the
// caller can reject what the protocol forbids instead of silently repairing it.
//
// The protobuf messages are decoded by hand rather than through the generated
// gogo code in prompb: the generated code allocates every sample, label and
// string, while this decoder reuses the caller's PushRequest slices and its own
// buffers, so that a steady stream of requests costs one allocation per series
// (its labels.Labels) and none per sample. Native histograms are the exception:
// each one is allocated afresh, because the TSDB head keeps the last histogram
// of every series by reference after the push returns.
//
// Start timestamps go on each sample and histogram as 2.0 sends them; the
// series-wide created timestamp of 2.0's experimental period fills in those
// that have none, which is how its receivers used it.
//
// It may import only pkg/wire, pkg/protocodec, protowire (for its wire-type
// names), the Prometheus model and prompb packages, and the snappy codec; it
// must never import another weft component.
package remotewrite
