package alertmanager

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-io/weft/pkg/grpcclient"
)

// The replication service between the replicas of the tenants'
// Alertmanagers. Its messages are stateMsg, carried as the bytes of a
// google.protobuf.BytesValue, so it needs no generated code.
const (
	serviceName      = "weft.alertmanager.v1.Replication"
	methodUpdate     = "UpdateState"
	methodReadState  = "ReadState"
	methodForward    = "Forward"
	fullMethodUpdate = "/" + serviceName + "/" + methodUpdate
	fullMethodRead   = "/" + serviceName + "/" + methodReadState
	fullMethodFwd    = "/" + serviceName + "/" + methodForward
)

// replicationServer is what the service calls: the multi-tenant
// Alertmanager of this process.
type replicationServer interface {
	// mergeState merges parts into tenant's Alertmanager; false when it
	// does not run here.
	mergeState(tenantID string, parts []statePart) bool
	// readState returns the state of tenant's Alertmanager; false when it
	// does not run here.
	readState(tenantID string) ([]statePart, bool, error)
	// serveForwarded serves an API request of tenant that another
	// replica took.
	serveForwarded(tenantID string, req *httpMsg) *httpMsg
}

// RegisterGRPC registers the replication service of am on s, before s
// serves.
func RegisterGRPC(s *grpc.Server, am *Alertmanager) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: methodUpdate, Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return handleUpdate(am, dec)
			}},
			{MethodName: methodReadState, Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return handleRead(am, dec)
			}},
			{MethodName: methodForward, Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				return handleForward(am, dec)
			}},
		},
	}, am)
}

func handleUpdate(srv replicationServer, dec func(any) error) (any, error) {
	in := &wrapperspb.BytesValue{}
	if err := dec(in); err != nil {
		return nil, err
	}
	var m stateMsg
	if err := m.unmarshal(in.Value); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	// A tenant that does not run here yet takes the state when it starts,
	// from the replicas that have it.
	srv.mergeState(m.tenant, m.parts)
	return &wrapperspb.BytesValue{}, nil
}

func handleRead(srv replicationServer, dec func(any) error) (any, error) {
	in := &wrapperspb.BytesValue{}
	if err := dec(in); err != nil {
		return nil, err
	}
	var m stateMsg
	if err := m.unmarshal(in.Value); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	parts, ok, err := srv.readState(m.tenant)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if !ok {
		return nil, status.Errorf(codes.NotFound, "the Alertmanager of tenant %s does not run here", m.tenant)
	}
	out := stateMsg{tenant: m.tenant, parts: parts}
	return &wrapperspb.BytesValue{Value: out.marshal()}, nil
}

func handleForward(srv replicationServer, dec func(any) error) (any, error) {
	in := &wrapperspb.BytesValue{}
	if err := dec(in); err != nil {
		return nil, err
	}
	var req httpMsg
	tenantID, err := req.unmarshal(in.Value)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp := srv.serveForwarded(tenantID, &req)
	return &wrapperspb.BytesValue{Value: resp.marshal("")}, nil
}

// grpcTransport reaches the other replicas over gRPC, one connection per
// address.
type grpcTransport struct{ pool *grpcclient.Pool }

func newGRPCTransport(opts ...grpc.DialOption) *grpcTransport {
	return &grpcTransport{pool: grpcclient.NewPool(256<<20, opts...)}
}

func (t *grpcTransport) conn(addr string) (*grpc.ClientConn, error) { return t.pool.Get(addr) }

func (t *grpcTransport) update(ctx context.Context, addr, tenantID string, p statePart) error {
	c, err := t.conn(addr)
	if err != nil {
		return err
	}
	m := stateMsg{tenant: tenantID, parts: []statePart{p}}
	return c.Invoke(ctx, fullMethodUpdate, &wrapperspb.BytesValue{Value: m.marshal()}, &wrapperspb.BytesValue{})
}

func (t *grpcTransport) readState(ctx context.Context, addr, tenantID string) ([]statePart, error) {
	c, err := t.conn(addr)
	if err != nil {
		return nil, err
	}
	req := stateMsg{tenant: tenantID}
	out := &wrapperspb.BytesValue{}
	if err := c.Invoke(ctx, fullMethodRead, &wrapperspb.BytesValue{Value: req.marshal()}, out); err != nil {
		return nil, err
	}
	var m stateMsg
	if err := m.unmarshal(out.Value); err != nil {
		return nil, err
	}
	return m.parts, nil
}

func (t *grpcTransport) close() { t.pool.Close() }

func (t *grpcTransport) forward(ctx context.Context, addr, tenantID string, req *httpMsg) (*httpMsg, error) {
	c, err := t.conn(addr)
	if err != nil {
		return nil, err
	}
	out := &wrapperspb.BytesValue{}
	if err := c.Invoke(ctx, fullMethodFwd, &wrapperspb.BytesValue{Value: req.marshal(tenantID)}, out); err != nil {
		return nil, err
	}
	var resp httpMsg
	if _, err := resp.unmarshal(out.Value); err != nil {
		return nil, err
	}
	return &resp, nil
}
