package querier

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// corruptReader is a store whose every read fails with err, as a
// store-gateway's does over a corrupt block (pkg/storegateway).
type corruptReader struct {
	edgeReader
	err error
}

var errCorruptBlock = wire.Errorf(wire.KindInternal, wire.ErrIDCorruptBlock,
	"block 01JCORRUPTBLOCK0000000000000 of tenant t is corrupt (chunks): cannot read chunk 8 of block 01JCORRUPTBLOCK0000000000000: invalid checksum; it must be repaired or deleted")

func (r corruptReader) Querier(string, int64, int64) (storage.Querier, error) {
	return corruptQuerier{r.err}, nil
}

type corruptQuerier struct{ err error }

func (q corruptQuerier) Select(context.Context, bool, *storage.SelectHints, ...*labels.Matcher) storage.SeriesSet {
	return storage.ErrSeriesSet(q.err)
}

func (q corruptQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, q.err
}

func (q corruptQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, q.err
}

func (corruptQuerier) Close() error { return nil }

// TestCorruptBlockErrors: a store-gateway's error over a corrupt block
// reaches the client of every read endpoint in Prometheus' error JSON,
// naming the block and the error ID, not as an empty answer: a 422, as
// Prometheus answers its own TSDB's errors (a retry, which a 5xx would
// invite from the query-frontend, reads the same bytes), while a store
// that is unavailable makes a 5xx.
func TestCorruptBlockErrors(t *testing.T) {
	h := newEdgeQuerier(t, corruptReader{err: errCorruptBlock})
	for p, code := range map[string]int{
		"/query?query=up":                                http.StatusUnprocessableEntity,
		"/query?query=sum(rate(up[5m]))":                 http.StatusUnprocessableEntity,
		"/query_range?query=up&start=0&end=3600&step=60": http.StatusUnprocessableEntity,
		"/series?match[]=up":                             http.StatusUnprocessableEntity,
		"/labels":                                        http.StatusUnprocessableEntity,
		"/label/job/values":                              http.StatusUnprocessableEntity,
	} {
		r := httptest.NewRequest(http.MethodGet, Prefix+p, nil)
		r.Header.Set(tenant.Header, "t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, code, w.Code, "%s: %s", p, w.Body.String())
		var env envelope
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env), w.Body.String())
		require.Equal(t, "error", env.Status, p)
		require.Contains(t, env.Error, "01JCORRUPTBLOCK0000000000000", p)
		require.Contains(t, env.Error, "err-weft-corrupt-block", p)
	}
	// A store-gateway that cannot reach the bucket: a 5xx, retried.
	h = newEdgeQuerier(t, corruptReader{err: wire.Errorf(wire.KindUnavailable, "", "cannot load block 01JCORRUPTBLOCK0000000000000 of tenant t: bucket down")})
	r := httptest.NewRequest(http.MethodGet, Prefix+"/query?query=up", nil)
	r.Header.Set(tenant.Header, "t")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.GreaterOrEqual(t, w.Code, 500, w.Body.String())
	require.Contains(t, w.Body.String(), "bucket down")
}
