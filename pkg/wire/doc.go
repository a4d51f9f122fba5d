// Package wire holds the messages that cross role boundaries (distributor →
// ingester, querier → ingester) and the interfaces that each side implements.
// In the all-in-one process they are passed by direct call; the distributed
// build puts gRPC behind the same interfaces (RegisterIngesterServer,
// NewIngesterClient), with messages encoded by hand as protobuf. The service,
// the message layouts, streaming and errors are described in
// docs/wire-protocol.md.
//
// Imports: none.
package wire
