// Package wire holds the messages that cross role boundaries (distributor →
// ingester, querier → ingester) and the interfaces that each side implements.
// In the all-in-one process they are passed by direct call; the distributed
// build puts gRPC behind the same interfaces: two services, weft.Writer
// (push) and weft.Store (reads of an ingester or a store-gateway), side by
// side on one server (Register), with messages encoded by hand as protobuf.
// The services, the message layouts, the queried-blocks report, the rolling
// upgrade from weft.Ingester, streaming and errors are described in
// docs/wire-protocol.md.
//
// Imports: pkg/protocodec.
package wire
