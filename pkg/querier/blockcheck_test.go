package querier

import (
	"context"
	"errors"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

// fakeStore is a store whose every read reports the blocks that reads
// returns for that call (the nth call gets reads(n)), and answers one
// series.
type fakeStore struct {
	wire.Reader
	calls int
	reads func(call int) []ulid.ULID
}

func (s *fakeStore) Querier(string, int64, int64) (storage.Querier, error) {
	return &blockFakeQuerier{s: s}, nil
}

type blockFakeQuerier struct {
	storage.Querier
	s *fakeStore
}

func (q *blockFakeQuerier) report(ctx context.Context) {
	q.s.calls++
	wire.BlockReportFrom(ctx).Add(q.s.reads(q.s.calls)...)
}

func (q *blockFakeQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, _ ...*labels.Matcher) storage.SeriesSet {
	q.report(ctx)
	return &oneSeries{s: storage.NewListSeries(labels.FromStrings("__name__", "m"), nil)}
}

// oneSeries is a set of one series.
type oneSeries struct {
	s    storage.Series
	done bool
}

func (o *oneSeries) Next() bool {
	n := !o.done
	o.done = true
	return n
}

func (o *oneSeries) At() storage.Series                { return o.s }
func (o *oneSeries) Err() error                        { return nil }
func (o *oneSeries) Warnings() annotations.Annotations { return nil }

func (q *blockFakeQuerier) LabelNames(ctx context.Context, _ *storage.LabelHints, _ ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	q.report(ctx)
	return []string{"__name__"}, nil, nil
}

func (q *blockFakeQuerier) Close() error { return nil }

func TestCheckedStoreReader(t *testing.T) {
	b1, b2 := ulid.MustParse("01J0000000000000000000000A"), ulid.MustParse("01J0000000000000000000000B")
	required := func(_ context.Context, tenant string, mint, maxt int64) ([]ulid.ULID, error) {
		if tenant == "broken" {
			return nil, errors.New("cannot read the bucket index")
		}
		return []ulid.ULID{b1, b2}, nil
	}
	selectAll := func(reads func(int) []ulid.ULID, tenant string) (int, error) {
		r := NewCheckedStoreReader(&fakeStore{reads: reads}, required)
		q, err := r.Querier(tenant, 0, 1000)
		require.NoError(t, err)
		defer q.Close()
		ss := q.Select(context.Background(), true, nil)
		n := 0
		for ss.Next() {
			n++
		}
		return n, ss.Err()
	}

	// Every required block read (by several store-gateways, once twice).
	n, err := selectAll(func(int) []ulid.ULID { return []ulid.ULID{b2, b1, b2} }, "t")
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// A block missed: a storage error (5xx, retry) naming it.
	_, err = selectAll(func(int) []ulid.ULID { return []ulid.ULID{b1} }, "t")
	var es promql.ErrStorage
	require.ErrorAs(t, err, &es)
	require.Equal(t, wire.KindUnavailable, wire.KindOf(es.Err))
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err))
	require.ErrorContains(t, err, "no store-gateway answered for 1 block(s) of tenant t")
	require.ErrorContains(t, err, b2.String())
	require.ErrorContains(t, err, "err-weft-store-consistency-check-failed")

	// The required list cannot be read: the query fails rather than guess.
	_, err = selectAll(func(int) []ulid.ULID { return []ulid.ULID{b1, b2} }, "broken")
	require.ErrorContains(t, err, "cannot read the bucket index")

	// Each call is checked against its own report: a later call that
	// missed a block fails even though an earlier one read it.
	r := NewCheckedStoreReader(&fakeStore{reads: func(call int) []ulid.ULID {
		if call == 1 {
			return []ulid.ULID{b1, b2}
		}
		return []ulid.ULID{b1}
	}}, required)
	q, err := r.Querier("t", 0, 1000)
	require.NoError(t, err)
	first := q.Select(context.Background(), true, nil)
	second := q.Select(context.Background(), true, nil)
	for first.Next() {
	}
	require.NoError(t, first.Err())
	for second.Next() {
	}
	require.ErrorContains(t, second.Err(), b2.String())

	// A label call that missed a block answers with a warning.
	names, warns, err := q.LabelNames(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"__name__"}, names)
	require.Len(t, warns, 1)
	require.ErrorContains(t, warns.AsErrors()[0], "err-weft-store-consistency-check-failed")
	require.NoError(t, q.Close())
}
