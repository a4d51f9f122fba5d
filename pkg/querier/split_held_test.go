package querier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/wire"
)

// rangeReader records the range of the last querier asked of it, and holds
// the blocks held (as ingesters report them).
type rangeReader struct {
	mint, maxt int64
	asked      bool
	held       []ulid.ULID
	heldErr    error
	heldCalls  int
}

func (r *rangeReader) Querier(_ string, mint, maxt int64) (storage.Querier, error) {
	r.mint, r.maxt, r.asked = mint, maxt, true
	return storage.NoopQuerier(), nil
}

func (r *rangeReader) ExemplarQuerier(context.Context, string) (storage.ExemplarQuerier, error) {
	return nil, errors.New("not used")
}

func (r *rangeReader) Metadata(context.Context, string, string, int) ([]wire.Metadata, error) {
	return nil, nil
}

func (r *rangeReader) HeldBlocks(context.Context, string) ([]ulid.ULID, error) {
	r.heldCalls++
	return r.held, r.heldErr
}

// Recent blocks that no ingester holds are read from the store; held ones
// are not, and a block merged by the compactor counts as held only when
// all of its sources are.
func TestSplitReaderReadsUnheldRecentBlocks(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	now := time.UnixMilli(100 * hour)
	a, b, c := ulid.MustNew(1, nil), ulid.MustNew(2, nil), ulid.MustNew(3, nil)
	merged := ulid.MustNew(4, nil)
	bucket := []bucketindex.Block{
		{ID: a, MinTime: 90 * hour, MaxTime: 92 * hour},
		{ID: merged, MinTime: 92 * hour, MaxTime: 94 * hour, Sources: []ulid.ULID{b, c}},
	}
	listErr := error(nil)
	blocks := func(_ context.Context, _ string, mint, maxt int64) ([]bucketindex.Block, error) {
		var out []bucketindex.Block
		for _, bl := range bucket {
			if bl.MinTime <= maxt && bl.MaxTime > mint {
				out = append(out, bl)
			}
		}
		return out, listErr
	}
	f := func(held []ulid.ULID, heldErr error, mint, maxt, wantStoreMax int64) {
		t.Helper()
		ing, store := &rangeReader{held: held, heldErr: heldErr}, &rangeReader{}
		r := NewSplitReader(ing, store, blocks, 13*time.Hour, 12*time.Hour)
		r.now = func() time.Time { return now }
		q, err := r.Querier("t", mint, maxt)
		require.NoError(t, err)
		require.NoError(t, q.Close())
		if wantStoreMax == minInt64 {
			require.False(t, store.asked, "the store must not be asked")
			return
		}
		require.True(t, store.asked)
		require.Equal(t, mint, store.mint)
		require.Equal(t, wantStoreMax, store.maxt)
	}
	// Everything held: the store serves only what is older than 13h,
	// where the ingesters' range starts (not the 12h of storeAfter: the
	// overlap is for blocks being shipped).
	f([]ulid.ULID{a, b, c}, nil, 80*hour, 99*hour, 87*hour-1)
	f([]ulid.ULID{a, b, c}, nil, 95*hour, 99*hour, minInt64)
	// Block a unheld: the store reads up to its end.
	f([]ulid.ULID{b, c}, nil, 80*hour, 99*hour, 92*hour-1)
	// One source of the merged block unheld: it is read too.
	f([]ulid.ULID{a, b}, nil, 80*hour, 99*hour, 94*hour-1)
	// A query that ends inside an unheld block reads to its own end.
	f(nil, nil, 91*hour, 93*hour, 93*hour)
	// A query after every block needs no store.
	f(nil, nil, 95*hour, 99*hour, minInt64)
	// When the ingesters cannot say, the store is read for the whole range.
	f([]ulid.ULID{a, b, c}, errors.New("ingester down"), 89*hour, 99*hour, 99*hour)
	listErr = errors.New("bucket down")
	f([]ulid.ULID{a, b, c}, nil, 89*hour, 99*hour, 99*hour)
	listErr = nil

	// The ingesters' answer is remembered for a few seconds per tenant.
	ing := &rangeReader{held: []ulid.ULID{a, b, c}}
	r := NewSplitReader(ing, &rangeReader{}, blocks, 13*time.Hour, 12*time.Hour)
	r.now = func() time.Time { return now }
	for range 3 {
		_, err := r.Querier("t", 80*hour, 99*hour)
		require.NoError(t, err)
	}
	require.Equal(t, 1, ing.heldCalls)
	r.now = func() time.Time { return now.Add(heldTTL) }
	_, err := r.Querier("t", 80*hour, 99*hour)
	require.NoError(t, err)
	require.Equal(t, 2, ing.heldCalls)
}

// The store is asked for the overlap of the two ranges only when a bucket
// block there, or after, is not held by the live ingesters.
func TestSplitReaderSkipsHeldOverlap(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	now := time.UnixMilli(100 * hour) // ingesters from 87h, store to 88h
	a, b := ulid.MustNew(1, nil), ulid.MustNew(2, nil)
	bucket := []bucketindex.Block{
		{ID: a, MinTime: 86 * hour, MaxTime: 88 * hour},
		{ID: b, MinTime: 88 * hour, MaxTime: 90 * hour},
	}
	blocks := func(_ context.Context, _ string, mint, maxt int64) ([]bucketindex.Block, error) {
		var out []bucketindex.Block
		for _, bl := range bucket {
			if bl.MinTime <= maxt && bl.MaxTime > mint {
				out = append(out, bl)
			}
		}
		return out, nil
	}
	f := func(ingestersWithin time.Duration, held []ulid.ULID, mint, maxt, wantStoreMax int64) {
		t.Helper()
		ing, store := &rangeReader{held: held}, &rangeReader{}
		r := NewSplitReader(ing, store, blocks, ingestersWithin, 12*time.Hour)
		r.now = func() time.Time { return now }
		q, err := r.Querier("t", mint, maxt)
		require.NoError(t, err)
		require.NoError(t, q.Close())
		if wantStoreMax == minInt64 {
			require.False(t, store.asked, "the store must not be asked")
			return
		}
		require.True(t, store.asked)
		require.Equal(t, mint, store.mint)
		require.Equal(t, wantStoreMax, store.maxt)
	}
	both := []ulid.ULID{a, b}
	// Held: the store stops where the ingesters start, or is not asked
	// when the query starts after.
	f(13*time.Hour, both, 70*hour, 100*hour, 87*hour-1)
	f(13*time.Hour, both, 70*hour, 87*hour+hour/2, 87*hour-1)
	f(13*time.Hour, both, 87*hour+hour/2, 100*hour, minInt64)
	// A block of the overlap not held: the store reads the overlap, as
	// far as storeAfter.
	f(13*time.Hour, []ulid.ULID{b}, 70*hour, 100*hour, 88*hour)
	// A block after the overlap not held: read to its end.
	f(13*time.Hour, []ulid.ULID{a}, 70*hour, 100*hour, 90*hour-1)
	// A query older than the ingesters' range: the store alone, whole.
	f(13*time.Hour, both, 70*hour, 80*hour, 80*hour)
	// Ingesters asked for all time: the store is not skipped.
	f(0, both, 70*hour, 100*hour, 88*hour)
}
