package wire_test

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

// countingStore answers the cardinality calls with fixed counts, and
// records what it was asked.
type countingStore struct {
	*store
	gotLimit int
	gotReq   *wire.CardinalityRequest
}

func (s *countingStore) TSDBStatus(_ context.Context, tenant string, limit int) (*wire.TSDBStatus, error) {
	if tenant == "broken" {
		return nil, wire.Errorf(wire.KindUnavailable, "", "head gone")
	}
	s.gotLimit = limit
	return &wire.TSDBStatus{
		NumSeries: 7, NumLabelPairs: 9, ChunkCount: 8, MinTime: -5, MaxTime: 100,
		SeriesCountByMetricName:     []wire.Stat{{Name: "a", Value: 4}, {Name: "b", Value: 3}},
		LabelValueCountByLabelName:  []wire.Stat{{Name: "job", Value: 3}},
		MemoryInBytesByLabelName:    []wire.Stat{{Name: "job", Value: 12}},
		SeriesCountByLabelValuePair: []wire.Stat{{Name: "job=x", Value: 1}},
	}, nil
}

func (s *countingStore) LabelCardinality(_ context.Context, tenant string, req *wire.CardinalityRequest) (*wire.LabelCardinality, error) {
	s.gotReq = req
	return &wire.LabelCardinality{SeriesCount: 7, Labels: []wire.LabelStats{
		{Name: "job", ValueHashes: []uint64{1, 1 << 63, 42}},
		{Name: "method", SeriesCount: 4, Values: []wire.Stat{{Name: "GET", Value: 3}, {Name: "", Value: 1}}},
	}}, nil
}

// The counts of an ingester reach the querier over gRPC unchanged, with
// the request's limit, matchers and names; a store that counts nothing
// (a store-gateway) answers bad data, and an error keeps its kind.
func TestCardinalityRoundTrip(t *testing.T) {
	ctx := context.Background()
	impl := &countingStore{store: newStore(t)}
	c := serve(t, impl, nil)

	st, err := c.TSDBStatus(ctx, "t1", 17)
	require.NoError(t, err)
	require.Equal(t, 17, impl.gotLimit)
	want, _ := impl.TSDBStatus(ctx, "t1", 17)
	require.Equal(t, want, st)
	_, err = c.TSDBStatus(ctx, "broken", 1)
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err))

	req := &wire.CardinalityRequest{
		Matchers:   []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "job", "a|b"), labels.MustNewMatcher(labels.MatchNotEqual, "x", "")},
		LabelNames: []string{"job", "method"},
	}
	lc, err := c.LabelCardinality(ctx, "t1", req)
	require.NoError(t, err)
	require.Equal(t, req.LabelNames, impl.gotReq.LabelNames)
	require.Len(t, impl.gotReq.Matchers, 2)
	for i, m := range req.Matchers {
		require.Equal(t, m.String(), impl.gotReq.Matchers[i].String())
	}
	wantLC, _ := impl.LabelCardinality(ctx, "t1", req)
	require.Equal(t, wantLC, lc)

	plain := serve(t, newStore(t), nil)
	_, err = plain.TSDBStatus(ctx, "t1", 10)
	require.Equal(t, wire.KindBadData, wire.KindOf(err))
	_, err = plain.LabelCardinality(ctx, "t1", &wire.CardinalityRequest{})
	require.Equal(t, wire.KindBadData, wire.KindOf(err))
}
