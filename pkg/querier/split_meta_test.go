package querier

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weft-io/weft/pkg/wire"
)

// metaReader answers fixed metadata and exemplars, or err.
type metaReader struct {
	rangeReader
	md  []wire.Metadata
	ex  []exemplar.QueryResult
	err error
}

func (r *metaReader) Metadata(context.Context, string, string, int) ([]wire.Metadata, error) {
	return r.md, r.err
}

func (r *metaReader) ExemplarQuerier(context.Context, string) (storage.ExemplarQuerier, error) {
	if r.err != nil {
		return nil, r.err
	}
	return fixedExemplars(r.ex), nil
}

type fixedExemplars []exemplar.QueryResult

func (f fixedExemplars) Select(int64, int64, ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	return f, nil
}

func TestSplitReaderMergesMetadataAndExemplarsOfIngestersAndStore(t *testing.T) {
	ctx := context.Background()
	s := labels.FromStrings("__name__", "up")
	ex := func(trace string, ts int64) exemplar.Exemplar {
		return exemplar.Exemplar{Labels: labels.FromStrings("trace_id", trace), Value: 1, Ts: ts, HasTs: true}
	}
	ing := &metaReader{
		md: []wire.Metadata{{MetricFamily: "up", Type: "gauge", Help: "Now."}},
		ex: []exemplar.QueryResult{{SeriesLabels: s, Exemplars: []exemplar.Exemplar{ex("2", 20), ex("3", 30)}}},
	}
	store := &metaReader{
		md: []wire.Metadata{{MetricFamily: "up", Type: "gauge", Help: "Before."}, {MetricFamily: "old_total", Type: "counter"}},
		ex: []exemplar.QueryResult{{SeriesLabels: s, Exemplars: []exemplar.Exemplar{ex("1", 10), ex("2", 20)}}},
	}
	r := NewSplitReader(ing, store, nil, 0, 0)
	md, err := r.Metadata(ctx, "t", "", 0)
	require.NoError(t, err)
	require.Equal(t, []wire.Metadata{{MetricFamily: "old_total", Type: "counter"}, {MetricFamily: "up", Type: "gauge", Help: "Now."}}, md,
		"the ingesters' description wins; the bucket adds what only it has")
	md, err = r.Metadata(ctx, "t", "", 1)
	require.NoError(t, err)
	require.Len(t, md, 1)

	eq, err := r.ExemplarQuerier(ctx, "t")
	require.NoError(t, err)
	res, err := eq.Select(0, 100, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "up")})
	require.NoError(t, err)
	require.Equal(t, []exemplar.QueryResult{{SeriesLabels: s, Exemplars: []exemplar.Exemplar{ex("1", 10), ex("2", 20), ex("3", 30)}}}, res,
		"an exemplar both hold is answered once")

	// A store of an older build that does not serve these adds nothing.
	store.err = status.Error(codes.Unimplemented, "unknown method Metadata")
	md, err = r.Metadata(ctx, "t", "", 0)
	require.NoError(t, err)
	require.Equal(t, ing.md, md)
	eq, err = r.ExemplarQuerier(ctx, "t")
	require.NoError(t, err)
	res, err = eq.Select(0, 100, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "up")})
	require.NoError(t, err)
	require.Equal(t, ing.ex, res)

	// Any other failure of the store fails the call.
	store.err = wire.Errorf(wire.KindUnavailable, "", "down")
	_, err = r.Metadata(ctx, "t", "", 0)
	require.Error(t, err)
}
