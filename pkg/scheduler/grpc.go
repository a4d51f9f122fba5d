package scheduler

import (
	"context"
	"errors"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-io/weft/pkg/grpcclient"
	"github.com/weft-io/weft/pkg/wire"
)

// The scheduler's gRPC service. Its messages are frames (msg.go) carried
// as the bytes of a google.protobuf.BytesValue, so it needs no generated
// code. QuerierLoop is a querier worker's stream; Enqueue is one query of
// a frontend, cancelled on the querier when the call is.
const (
	serviceName           = "weft.scheduler.v1.Scheduler"
	methodQuerierLoop     = "QuerierLoop"
	methodEnqueue         = "Enqueue"
	fullMethodQuerierLoop = "/" + serviceName + "/" + methodQuerierLoop
	fullMethodEnqueue     = "/" + serviceName + "/" + methodEnqueue
)

// maxMsgSize bounds a query's request and answer on the wire.
const maxMsgSize = 256 << 20

// RegisterGRPC registers s's service on srv, before srv serves.
func RegisterGRPC(srv *grpc.Server, s *Scheduler) {
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: methodEnqueue, Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			return s.handleEnqueue(ctx, dec)
		}}},
		Streams: []grpc.StreamDesc{{StreamName: methodQuerierLoop, ServerStreams: true, ClientStreams: true, Handler: func(_ any, stream grpc.ServerStream) error {
			return s.serve(stream.Context(), grpcSchedulerEnd{stream})
		}}},
	}, s)
}

func (s *Scheduler) handleEnqueue(ctx context.Context, dec func(any) error) (any, error) {
	in := &wrapperspb.BytesValue{}
	if err := dec(in); err != nil {
		return nil, err
	}
	var f frame
	if err := f.unmarshal(in.Value); err != nil || f.kind != kindRequest {
		return nil, status.Errorf(codes.InvalidArgument, "cannot decode the query: %v", err)
	}
	resp, err := s.Enqueue(ctx, f.req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		we, ok := errors.AsType[*wire.Error](err)
		if !ok {
			we = &wire.Error{Kind: wire.KindInternal, Msg: err.Error()}
		}
		out := frame{kind: kindError, err: we}
		return &wrapperspb.BytesValue{Value: out.marshal()}, nil
	}
	out := frame{kind: kindResponse, resp: resp}
	return &wrapperspb.BytesValue{Value: out.marshal()}, nil
}

// grpcSchedulerEnd is the scheduler's end of a worker's gRPC stream.
type grpcSchedulerEnd struct{ s grpc.ServerStream }

func (e grpcSchedulerEnd) Send(f *frame) error {
	return e.s.SendMsg(&wrapperspb.BytesValue{Value: f.marshal()})
}

func (e grpcSchedulerEnd) Recv() (*frame, error) {
	return recvFrame(e.s)
}

func recvFrame(s interface{ RecvMsg(any) error }) (*frame, error) {
	in := &wrapperspb.BytesValue{}
	if err := s.RecvMsg(in); err != nil {
		return nil, err
	}
	f := &frame{}
	if err := f.unmarshal(in.Value); err != nil {
		return nil, err
	}
	return f, nil
}

// grpcQuerierEnd is a worker's end of its gRPC stream.
type grpcQuerierEnd struct {
	s      grpc.ClientStream
	cancel context.CancelFunc
}

func (e grpcQuerierEnd) Send(f *frame) error {
	return e.s.SendMsg(&wrapperspb.BytesValue{Value: f.marshal()})
}

func (e grpcQuerierEnd) Recv() (*frame, error) { return recvFrame(e.s) }

func (e grpcQuerierEnd) Close() { e.cancel() }

// conns keeps one gRPC connection per scheduler address.
type conns struct{ *grpcclient.Pool }

func newConns(opts ...grpc.DialOption) *conns { return &conns{grpcclient.NewPool(maxMsgSize, opts...)} }

// dial opens a worker's stream to the scheduler at addr.
func (c *conns) dial(ctx context.Context, addr string) (querierConn, error) {
	cc, err := c.Get(addr)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	s, err := cc.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, fullMethodQuerierLoop)
	if err != nil {
		cancel()
		return nil, err
	}
	return grpcQuerierEnd{s: s, cancel: cancel}, nil
}

// Client is a frontend's Enqueuer over the query-schedulers of a
// distributed weft: each query goes to the next scheduler, in turn.
type Client struct {
	addrs func() ([]string, error)
	conns *conns
	next  atomic.Uint64
}

// NewClient returns a client of the schedulers whose gRPC addresses addrs
// returns (the configured ones, or those of the query-scheduler ring).
// opts are added to the dial options (TLS).
func NewClient(addrs func() ([]string, error), opts ...grpc.DialOption) *Client {
	return &Client{addrs: addrs, conns: newConns(opts...)}
}

// Close closes the connections to the schedulers.
func (c *Client) Close() { c.conns.Close() }

// Enqueue runs req through one scheduler. A scheduler that cannot be
// reached, or none known, is an unavailable error (503): the frontend's
// retry may find another.
func (c *Client) Enqueue(ctx context.Context, req *Request) (*Response, error) {
	addrs, err := c.addrs()
	if err != nil {
		return nil, wire.Errorf(wire.KindUnavailable, "", "cannot find the query-schedulers: %w", err)
	}
	if len(addrs) == 0 {
		return nil, wire.Errorf(wire.KindUnavailable, "", "no query-scheduler is running")
	}
	addr := addrs[c.next.Add(1)%uint64(len(addrs))]
	cc, err := c.conns.Get(addr)
	if err != nil {
		return nil, wire.Errorf(wire.KindUnavailable, "", "cannot reach the query-scheduler at %s: %w", addr, err)
	}
	in := frame{kind: kindRequest, req: req}
	out := &wrapperspb.BytesValue{}
	if err := cc.Invoke(ctx, fullMethodEnqueue, &wrapperspb.BytesValue{Value: in.marshal()}, out); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, wire.Errorf(wire.KindUnavailable, "", "the query-scheduler at %s did not answer: %w", addr, err)
	}
	var f frame
	if err := f.unmarshal(out.Value); err != nil {
		return nil, err
	}
	switch f.kind {
	case kindResponse:
		return f.resp, nil
	case kindError:
		return nil, f.err
	}
	return nil, wire.Errorf(wire.KindInternal, "", "the query-scheduler at %s answered a frame of kind %d", addr, f.kind)
}
