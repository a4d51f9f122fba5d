package alertmanager

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The replication service over real gRPC: a replica reads another's state
// and sends it an update.
func TestReplicationOverGRPC(t *testing.T) {
	s := startAM(t, objstore.NewInMemBucket(), defaultLimits(), nil, nil, nil, 0)
	s.upload(t, "a", yamlBody(simpleAM, nil))
	id := s.addSilence(t, "a", "X")

	srv := grpc.NewServer()
	RegisterGRPC(srv, s.am)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	tr := newGRPCTransport()
	t.Cleanup(tr.close)
	addr := lis.Addr().String()

	parts, err := tr.readState(context.Background(), addr, "a")
	require.NoError(t, err)
	require.Len(t, parts, 2)
	_, err = tr.readState(context.Background(), addr, "b")
	require.Equal(t, codes.NotFound, status.Code(err))

	// The state read from one replica merges into another.
	other := startAM(t, objstore.NewInMemBucket(), defaultLimits(), nil, nil, nil, 0)
	other.upload(t, "a", yamlBody(simpleAM, nil))
	require.True(t, other.am.mergeState("a", parts))
	require.Equal(t, []string{id}, other.silenceIDs(t, "a"))

	// An update of a silence goes the other way.
	id2 := other.addSilence(t, "a", "Y")
	parts, _, err = other.am.readState("a")
	require.NoError(t, err)
	for _, p := range parts {
		require.NoError(t, tr.update(context.Background(), addr, "a", p))
	}
	require.ElementsMatch(t, []string{id, id2}, s.silenceIDs(t, "a"))

	// A forwarded request is served as if it came over HTTP.
	resp, err := tr.forward(context.Background(), addr, "a", &httpMsg{method: http.MethodPost, path: "/api/v2/alerts",
		contentType: "application/json", body: []byte(`[{"labels":{"alertname":"Forwarded"}}]`)})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status, string(resp.body))
	require.Equal(t, []string{"Forwarded"}, s.alertNames(t, "a"))
	resp, err = tr.forward(context.Background(), addr, "a", &httpMsg{method: http.MethodGet, path: "/api/v2/silences", query: "filter=alertname%3D%22Y%22"})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.status)
	require.Contains(t, string(resp.body), id2)
	require.NotContains(t, string(resp.body), id)
}
