package querier

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// edgeReader is an empty store whose Metadata answers with the error named
// by the metric asked for, or blocks until its context ends for "block".
type edgeReader struct{ blocked chan struct{} }

func (edgeReader) Querier(string, int64, int64) (storage.Querier, error) {
	return storage.NoopQuerier(), nil
}

func (edgeReader) ExemplarQuerier(context.Context, string) (storage.ExemplarQuerier, error) {
	return nil, errors.New("no exemplars")
}

func (r edgeReader) Metadata(ctx context.Context, _, metric string, _ int) ([]wire.Metadata, error) {
	switch metric {
	case "unavailable":
		return nil, wire.Errorf(wire.KindUnavailable, "", "cannot reach the ingesters")
	case "internal":
		return nil, errors.New("disk on fire")
	case "block":
		r.blocked <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return []wire.Metadata{{MetricFamily: "up", Type: "GAUGE", Help: "Up."}}, nil
}

func newEdgeQuerier(t *testing.T, r wire.Reader, args ...string) http.Handler {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	var lim limits.Limits
	lim.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	q, err := New(cfg, r, limits.NewOverrides(lim, nil), tenant.Resolver{MultiTenancy: true}, Version{}, nil, nil)
	require.NoError(t, err)
	return q.Handler()
}

// envelope is the Prometheus API answer.
type envelope struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

// weft's own handlers of the query API, and the tenant check in front of
// Prometheus' handlers, answer through the error edge.
func TestQueryAPIErrors(t *testing.T) {
	h := newEdgeQuerier(t, edgeReader{})
	f := func(tenantID, path string, wantCode int, wantType string) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, Prefix+path, nil)
		if tenantID != "" {
			r.Header.Set(tenant.Header, tenantID)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, wantCode, w.Code, w.Body.String())
		var env envelope
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env), w.Body.String())
		if wantType == "" {
			require.Equal(t, "success", env.Status)
			return
		}
		require.Equal(t, "error", env.Status)
		require.Equal(t, wantType, env.ErrorType, env.Error)
		require.NotEmpty(t, env.Error)
	}
	// The tenant, for every path.
	for _, p := range []string{"/query?query=up", "/labels", "/metadata", "/no_such_endpoint"} {
		f("", p, http.StatusUnauthorized, "unauthorized")
		f("..", p, http.StatusBadRequest, "bad_data")
	}
	f("t", "/no_such_endpoint", http.StatusNotFound, "not_found")
	// metadata, weft's own handler.
	f("t", "/metadata", http.StatusOK, "")
	f("t", "/metadata?limit=x", http.StatusBadRequest, "bad_data")
	f("t", "/metadata?metric=unavailable", http.StatusServiceUnavailable, "unavailable")
	f("t", "/metadata?metric=internal", http.StatusInternalServerError, "internal")
	// Prometheus' handlers keep their own statuses.
	f("t", "/query?query=up", http.StatusOK, "")
	f("t", "/query?query=(", http.StatusBadRequest, "bad_data")
}

// A query that gives up waiting for a concurrency slot is answered as
// canceled, not left as an empty 200.
func TestQueryAPICanceledWhileQueued(t *testing.T) {
	r := edgeReader{blocked: make(chan struct{})}
	h := newEdgeQuerier(t, r, "-querier.max-concurrent=1")
	holdCtx, release := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := httptest.NewRequestWithContext(holdCtx, http.MethodGet, Prefix+"/metadata?metric=block", nil)
		req.Header.Set(tenant.Header, "t")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	<-r.blocked // the only slot is taken

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, Prefix+"/metadata", nil)
	req.Header.Set(tenant.Header, "t")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	release()
	<-done
	require.Equal(t, 499, w.Code)
	var env envelope
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env))
	require.Equal(t, "canceled", env.ErrorType)
	require.Contains(t, env.Error, "context canceled")
}
