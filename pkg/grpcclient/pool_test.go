package grpcclient

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// One connection per address, usable against a real gRPC server, and a
// new one after Close.
func TestPool(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	p := NewPool(1 << 20)
	a, err := p.Get(lis.Addr().String())
	require.NoError(t, err)
	b, err := p.Get(lis.Addr().String())
	require.NoError(t, err)
	require.Same(t, a, b)
	resp, err := healthpb.NewHealthClient(a).Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.Status)

	p.Close()
	c, err := p.Get(lis.Addr().String())
	require.NoError(t, err)
	require.NotSame(t, a, c)
	p.Close()
}
