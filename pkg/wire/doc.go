// Package wire holds the messages that cross role boundaries (distributor →
// ingester, querier → ingester and store-gateway) and the interfaces that
// each side implements. In the all-in-one process they are passed by direct
// call; the distributed build puts gRPC behind the same interfaces. It
// imports only Prometheus model and storage packages, oklog/ulid and gRPC,
// never another weft component.
//
// # The gRPC transport
//
// Two services, registered side by side on a process's one gRPC server
// (Register):
//
//   - weft.Writer serves a Pusher (an ingester); WriteClient calls it.
//   - weft.Store serves stores of series (Reader and ChunkReader): the
//     ingester's and the store-gateway's. A process that runs both serves
//     both on one weft.Store (Stores), and each read names the store it
//     asks for (field 13: StoreIngester, StoreGateway); a read naming no
//     store is answered by the only one, a read naming a store the process
//     does not serve fails (Internal). StoreClient calls it for one named
//     store.
//
// A store-gateway serves only weft.Store. IngesterClient is a WriteClient
// and a StoreClient of the ingester's store, so the distributor and the
// querier use a remote ingester exactly as they use the local one.
//
//	weft.Writer/Push         unary             PushRequest        → PushResponse
//	weft.Store/Select        server streaming  SelectRequest      → stream of ChunkedReadResponse
//	weft.Store/LabelNames    unary             LabelsRequest      → LabelsResponse
//	weft.Store/LabelValues   unary             LabelsRequest      → LabelsResponse
//	weft.Store/Metadata      unary             MetadataRequest    → MetadataResponse
//	weft.Store/Exemplars     unary             ExemplarsRequest   → ExemplarsResponse
//
// # Queried blocks
//
// A store-gateway says which blocks it read, so that the querier can fail
// a query that missed one (querier.NewCheckedStoreReader): the last message
// of a Select stream and the LabelsResponse carry the blocks' IDs in a
// repeated bytes field (16 bytes each, field 13 and field 3). In Go the IDs
// travel in a BlockReport that the caller puts in the call's context: a
// store-gateway in the same process adds to it directly, StoreClient adds
// what the answer carries, and the server fills the field from a report of
// its own, so both paths report the same way.
//
// # Rolling upgrade
//
// Builds before the split served every method on one service,
// weft.Ingester, and reported a store-gateway's blocks as a warning
// ("weft-store-gateway-queried-blocks: " and the ULIDs, comma-separated).
// Until every process runs a build with both services, Register also
// serves weft.Ingester (RegisterLegacyIngesterServer: the same methods
// under the old names, blocks reported as that warning; a store-gateway's
// has no Push), and the clients fall back to the old names when the new
// ones answer Unimplemented, remembering it per client of a connection and
// probing again when the names in use answer Unimplemented. All of it is
// in legacy.go and goes in v0.2.0.
//
// There is no generated code: the messages are protobuf, encoded and decoded
// by hand with protowire straight from and into this package's types, and
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
//	                    + 13: store, 14: sort series, 15: tenant
//	hints             = ReadHints{1: step, 2: func, 3: start, 4: end, 5: grouping,
//	                    6: by, 7: range} + 8: limit, 9: shard count, 10: shard index,
//	                    11: disable trimming, 12: projection labels, 13: projection include
//	ChunkedReadResponse = {1: repeated ChunkedSeries{1: labels, 2: repeated
//	                    Chunk{1: min time, 2: max time, 3: encoding (chunkenc.Encoding),
//	                    4: bytes}}} + in the last message: 13: repeated queried block
//	                    (16-byte ULID), 14: repeated warning
//	LabelsRequest     = {1: mint, 2: maxt, 3: repeated LabelMatcher, 4: label name
//	                    (empty for LabelNames), 5: limit, 6: limit smallest, 13: store,
//	                    15: tenant}
//	LabelsResponse    = {1: repeated value, 2: repeated warning, 3: repeated queried
//	                    block (16-byte ULID)}
//	MetadataRequest   = {1: metric, 2: limit, 13: store, 15: tenant}
//	MetadataResponse  = {1: repeated MetricMetadata}
//	ExemplarsRequest  = {1: start, 2: end, 3: repeated {1: repeated LabelMatcher},
//	                    13: store, 15: tenant}
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
