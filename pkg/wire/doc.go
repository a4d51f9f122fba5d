// Package wire holds the messages that cross role boundaries (distributor →
// ingester, querier → ingester) and the interfaces that each side implements.
// In the all-in-one process they are passed by direct call; the distributed
// build puts gRPC behind the same interfaces. It imports only Prometheus
// model and storage packages, gRPC and protobuf, and pkg/protocodec, never
// another weft component.
//
// # The gRPC transport
//
// RegisterIngesterServer serves an ingester (Pusher, Reader and ChunkReader)
// as the gRPC service weft.Ingester; NewIngesterClient returns an
// IngesterClient that implements the same three interfaces over a
// *grpc.ClientConn, so the distributor and the querier use a remote ingester
// exactly as they use the local one.
//
//	Push         unary             PushRequest        → PushResponse
//	Select       server streaming  SelectRequest      → stream of ChunkedReadResponse
//	LabelNames   unary             LabelsRequest      → LabelsResponse
//	LabelValues  unary             LabelsRequest      → LabelsResponse
//	Metadata     unary             MetadataRequest    → MetadataResponse
//	Exemplars    unary             ExemplarsRequest   → ExemplarsResponse
//
// There is no generated code: the messages are protobuf, encoded and decoded
// by hand with pkg/protocodec straight from and into this package's types
// (the series of a push by the same decoder as remote write 1.0's), and
// a codec (content-subtype "weft", registered by this package; clients force
// it per call) hands the encoded bytes to gRPC and back without a second
// marshaling. Encode buffers are pooled and returned by gRPC once written.
//
// Every request carries its tenant in field 15; a server refuses a request
// without one (InvalidArgument). Where remote write / remote read have a
// message for the purpose, the layout is theirs (prompb field numbers), so
// a Push body decodes as a prometheus.WriteRequest and a Select stream
// message as a prometheus.ChunkedReadResponse:
//
//	PushRequest       = WriteRequest{1: repeated TimeSeries, 3: repeated MetricMetadata}
//	                    + 15: tenant
//	TimeSeries        = {1: labels, 2: samples, 3: exemplars, 4: histograms}
//	                    (15 reserved: a series-wide created timestamp, now ignored)
//	Sample            = {1: value, 2: timestamp} + 3: start timestamp (ms, as 2.0's)
//	Histogram         = remote write's: count_int (1) and zero_count_int (6) for an
//	                    integer histogram, count_float (2) and zero_count_float (7)
//	                    for a float one, always present; + 17: start timestamp
//	                    (ms, as 2.0's)
//	MetricMetadata    = {1: type enum, 2: family, 4: help, 5: unit}
//	                    + 15: type name when it is not one of the enum's
//	PushResponse      = {1: samples, 2: histograms, 3: exemplars}
//	LabelMatcher      = {1: type (labels.MatchType), 2: name, 3: value}
//	SelectRequest     = Query{1: mint, 2: maxt, 3: repeated LabelMatcher, 4: hints}
//	                    + 14: sort series, 15: tenant
//	hints             = ReadHints{1: step, 2: func, 3: start, 4: end, 5: grouping,
//	                    6: by, 7: range} + 8: limit, 9: shard count, 10: shard index,
//	                    11: disable trimming, 12: projection labels, 13: projection include
//	ChunkedReadResponse = {1: repeated ChunkedSeries{1: labels, 2: repeated
//	                    Chunk{1: min time, 2: max time, 3: encoding (chunkenc.Encoding),
//	                    4: bytes}}} + 14: repeated warning (in the last message)
//	LabelsRequest     = {1: mint, 2: maxt, 3: repeated LabelMatcher, 4: label name
//	                    (empty for LabelNames), 5: limit, 6: limit smallest, 15: tenant}
//	LabelsResponse    = {1: repeated value, 2: repeated warning}
//	MetadataRequest   = {1: metric, 2: limit, 15: tenant}
//	MetadataResponse  = {1: repeated MetricMetadata}
//	ExemplarsRequest  = {1: start, 2: end, 3: repeated {1: repeated LabelMatcher}, 15: tenant}
//	ExemplarsResponse = {1: repeated {1: series labels, 2: repeated Exemplar{1: labels,
//	                    2: value, 3: timestamp, 4: has timestamp}}}
//
// Start timestamps are optional fields, absent when 0 (unknown), so peers
// of different versions interoperate: an older ingester skips them and
// stores no start timestamps, an older distributor sends none.
//
// Select sends the ingester's TSDB chunks as they are (ChunkReader), many
// series per message: a message is sent once it reaches 1 MiB, so it stays
// under gRPC's default 4 MiB receive limit unless one series alone is that
// large. The client decodes a message's series lazily as the caller
// iterates; their chunks point into the message's buffer, so nothing is
// copied per sample. Cancelling the Select's context, or closing its
// querier, ends the stream on both sides.
//
// Errors: the server answers a failure with the status code of its kind
// (KindBadData → InvalidArgument, KindLimit → ResourceExhausted,
// KindUnavailable → Unavailable, otherwise Internal), the error's text as
// the status message, and a detail "type.googleapis.com/weft.Error"
// {1: kind, 2: ID, 3: Msg, 4: PushResponse of what a failed push stored}.
// The client rebuilds the *Error from the detail (wrapped, when the server
// had wrapped it, in an error with the server's exact text), so KindOf and
// errors.As work as they do in one process. An ingester that cannot be
// reached is KindUnavailable; the caller's own cancelled context comes back
// as the context's error.
package wire
