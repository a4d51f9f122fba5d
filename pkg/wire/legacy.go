package wire

import (
	"strings"
	"sync/atomic"

	"github.com/oklog/ulid/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
)

// This file holds what a rolling upgrade from builds that served the one
// service weft.Ingester needs, until every process runs a build with
// weft.Writer and weft.Store: the old service on the servers, the state of
// the clients' fallback to its method names (used by rpc.call and
// streamSeriesSet.recv in client.go), and the warning through which its
// store-gateways reported the blocks they read. Remove it, and the
// fallback in client.go, in v0.2.0, once v0.1.0 (the first release with
// both) has been deployed everywhere.

// Names of the deprecated weft.Ingester service and its methods.
const (
	// LegacyIngesterServiceName is the service of the builds before
	// weft.Writer and weft.Store.
	//
	// Deprecated: remove in v0.2.0.
	LegacyIngesterServiceName = "weft.Ingester"

	legacyMethodPush        = "/weft.Ingester/Push"
	legacyMethodSelect      = "/weft.Ingester/Select"
	legacyMethodLabelNames  = "/weft.Ingester/LabelNames"
	legacyMethodLabelValues = "/weft.Ingester/LabelValues"
	legacyMethodMetadata    = "/weft.Ingester/Metadata"
	legacyMethodExemplars   = "/weft.Ingester/Exemplars"
)

// RegisterLegacyIngesterServer serves pusher (nil for none) and stores as
// the weft.Ingester service of older builds, so that their distributors
// and queriers keep working against this server during a rolling upgrade.
// Its Push is pusher's; a server without a pusher (a store-gateway) has no
// Push, and gRPC answers it Unimplemented. Its reads are those of
// weft.Store, except that the blocks a store read go out as the warning
// older queriers read them from. Older clients name no store, so a server
// of two stores (an ingester and a store-gateway in one process) answers
// their reads with an error: run both roles in one process only once every
// querier runs a build with weft.Store.
//
// Deprecated: remove in v0.2.0 with the clients' fallback.
func RegisterLegacyIngesterServer(s *grpc.Server, pusher Pusher, stores Stores) {
	desc := &grpc.ServiceDesc{
		ServiceName: LegacyIngesterServiceName,
		HandlerType: (*any)(nil),
		Metadata:    "pkg/wire/doc.go",
	}
	if pusher != nil {
		w := &writeServer{impl: pusher}
		desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: "Push", Handler: unary(&w.ins, legacyMethodPush, w.push)})
	}
	if len(stores) > 0 {
		st := &storeServer{stores: stores, legacy: true}
		sd := st.serviceDesc(LegacyIngesterServiceName, legacyMethodSelect, legacyMethodLabelNames, legacyMethodLabelValues, legacyMethodMetadata, legacyMethodExemplars)
		desc.Methods = append(desc.Methods, sd.Methods...)
		desc.Streams = sd.Streams
	}
	if len(desc.Methods) == 0 {
		return
	}
	s.RegisterService(desc, struct{}{})
}

// legacyBlocksWarning starts the warning through which the store-gateways
// of older builds report the blocks they read: the prefix, then the
// blocks' ULIDs separated by commas.
const legacyBlocksWarning = "weft-store-gateway-queried-blocks: "

// appendLegacyBlocksWarning appends ids as a legacy blocks warning in the
// repeated string field num, nothing when ids is empty.
func appendLegacyBlocksWarning(b []byte, num protowire.Number, ids []ulid.ULID) []byte {
	if len(ids) == 0 {
		return b
	}
	var w strings.Builder
	w.WriteString(legacyBlocksWarning)
	for i, id := range ids {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(id.String())
	}
	b = protocodec.AppendTag(b, num, protowire.BytesType)
	return protocodec.AppendString(b, w.String())
}

// parseLegacyBlocksWarning returns the blocks a legacy blocks warning
// lists, and false when w is another warning.
func parseLegacyBlocksWarning(w string) ([]ulid.ULID, bool) {
	list, ok := strings.CutPrefix(w, legacyBlocksWarning)
	if !ok {
		return nil, false
	}
	var ids []ulid.ULID
	for _, s := range strings.Split(list, ",") {
		if id, err := ulid.ParseStrict(s); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, true
}

// fallback remembers, for one client of one connection, which method names
// it calls: the new service's, or those of weft.Ingester once the server
// answered the new ones Unimplemented (it is an older build). A server
// that answers Unimplemented to the names in use (it was upgraded past the
// old service, or rolled back before the new one) makes the client probe
// again at its next call.
type fallback struct{ state atomic.Int32 }

const (
	probing int32 = iota
	callNew
	callLegacy
)

func isUnimplemented(err error) bool { return status.Code(err) == codes.Unimplemented }

// IsUnimplemented reports whether err is a server's answer that it does
// not serve the method called: a peer of an older build. A caller for
// which the method only adds to an answer treats it as an empty one.
func IsUnimplemented(err error) bool { return isUnimplemented(err) }
