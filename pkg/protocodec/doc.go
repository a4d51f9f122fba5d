// Package protocodec is weft's one low-level protobuf layer: the wire-format
// primitives that pkg/remotewrite and pkg/wire both encode and decode with,
// and the decoders of the message layouts they share.
//
// It owns:
//   - the varint, tag, fixed and length-delimited primitives, to append
//     (Append*) and to consume (Consume*, SkipField, NextField), with the
//     one-byte cases on a short inlined path;
//   - the remote-write 1.0 TimeSeries layout (labels, samples, exemplars,
//     native histograms), which is also the layout of a series in weft's
//     own Push message, decoded once by SeriesDecoder into Series, and the
//     Sample and Histogram messages that remote write 2.0 shares with it;
//   - the in-memory form those layouts decode into (Series, Sample,
//     Histogram, Exemplar), which pkg/wire re-exports under its own names.
//
// It does not own any request as a whole: the remote-write requests (1.0's
// metadata, 2.0's symbols table and symbol references) are pkg/remotewrite's,
// the role-to-role messages pkg/wire's.
//
// Decoders allocate nothing per sample: labels are handed over unsorted and
// not deduplicated, exactly as sent, through reused labels.ScratchBuilders;
// only each native histogram is allocated afresh, because the TSDB head
// keeps the last histogram of every series by reference.
//
// It may import only the standard library, google.golang.org/protobuf's
// protowire, and the Prometheus model packages; it must never import another
// weft package.
//
// Imports: none.
package protocodec
