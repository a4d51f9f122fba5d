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

// corruptReader is a store whose every read fails as a store-gateway's
// does over a corrupt block (pkg/storegateway, err-weft-corrupt-block).
type corruptReader struct{ edgeReader }

var errCorruptBlock = wire.Errorf(wire.KindInternal, "err-weft-corrupt-block",
	"block 01JCORRUPTBLOCK0000000000000 of tenant t is corrupt (chunks): cannot read chunk 8 of block 01JCORRUPTBLOCK0000000000000: invalid checksum; it must be repaired or deleted")

func (corruptReader) Querier(string, int64, int64) (storage.Querier, error) {
	return corruptQuerier{}, nil
}

type corruptQuerier struct{}

func (corruptQuerier) Select(context.Context, bool, *storage.SelectHints, ...*labels.Matcher) storage.SeriesSet {
	return storage.ErrSeriesSet(errCorruptBlock)
}

func (corruptQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, errCorruptBlock
}

func (corruptQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, errCorruptBlock
}

func (corruptQuerier) Close() error { return nil }

// TestCorruptBlockErrors: a store-gateway's error over a corrupt block
// reaches the client of every read endpoint in Prometheus' error JSON,
// naming the block and the error ID, not as an empty answer: a 500 for the
// queries and series (a storage failure, not the query's fault), and
// Prometheus' own 422 for the label endpoints, which answer every error so.
func TestCorruptBlockErrors(t *testing.T) {
	h := newEdgeQuerier(t, corruptReader{})
	for p, code := range map[string]int{
		"/query?query=up":                                http.StatusInternalServerError,
		"/query?query=sum(rate(up[5m]))":                 http.StatusInternalServerError,
		"/query_range?query=up&start=0&end=3600&step=60": http.StatusInternalServerError,
		"/series?match[]=up":                             http.StatusInternalServerError,
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
}
