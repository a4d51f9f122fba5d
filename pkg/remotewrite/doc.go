// Package remotewrite decodes Prometheus remote-write requests — 1.0
// (prometheus.WriteRequest) and 2.0 (io.prometheus.write.v2.Request) — from
// their snappy-compressed protobuf bodies into wire.PushRequest. It owns the
// wire format of the push path and nothing else; validation is the caller's,
// so labels are handed over exactly as the client sent them. Why it decodes by
// hand, and how start timestamps are filled in: docs/remote-write.md.
//
// Imports: pkg/protocodec, pkg/wire.
package remotewrite
