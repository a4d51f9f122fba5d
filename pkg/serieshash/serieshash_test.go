package serieshash

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"
)

// series returns a lookup of n series, ref i labelled i, that counts its
// calls.
func series(n int, calls *int) (func(storage.SeriesRef, *labels.ScratchBuilder) error, []storage.SeriesRef) {
	refs := make([]storage.SeriesRef, n)
	for i := range refs {
		refs[i] = storage.SeriesRef(i)
	}
	return func(ref storage.SeriesRef, b *labels.ScratchBuilder) error {
		if int(ref) >= n {
			return fmt.Errorf("no series %d", ref)
		}
		*calls++
		b.Reset()
		b.Add("__name__", "m")
		b.Add("i", fmt.Sprint(ref))
		return nil
	}, refs
}

func TestShardedPostings(t *testing.T) {
	const n, shards = 2000, 3
	calls := 0
	lookup, refs := series(n, &calls)
	want := make([][]storage.SeriesRef, shards)
	for _, ref := range refs {
		h := labels.StableHash(labels.FromStrings("__name__", "m", "i", fmt.Sprint(ref)))
		want[h%shards] = append(want[h%shards], ref)
	}
	budget := NewBudget(1500 * EntryBytes)
	c := NewCache(budget, nil, nil)
	for round := range 2 {
		calls = 0
		for s := range uint64(shards) {
			got, err := index.ExpandPostings(c.ShardedPostings(index.NewListPostings(refs), s, shards, lookup))
			require.NoError(t, err)
			require.Equal(t, want[s], got, "round %d shard %d", round, s)
		}
		if round == 0 {
			// 1,500 cached by the first shard, the other 500 read by each.
			require.Equal(t, n+2*(n-1500), calls)
		} else {
			require.Equal(t, shards*(n-1500), calls)
		}
	}
	require.Equal(t, 1500, c.Len())
	require.Zero(t, budget.Left())

	// Released, it gives its room back and caches no more.
	c.Release()
	require.Equal(t, int64(1500), budget.Left())
	calls = 0
	_, err := index.ExpandPostings(c.ShardedPostings(index.NewListPostings(refs), 0, shards, lookup))
	require.NoError(t, err)
	require.Equal(t, n, calls)
	require.Zero(t, c.Len())
	require.Equal(t, int64(1500), budget.Left())

	// An error of the lookup is the postings'.
	p := NewCache(nil, nil, nil).ShardedPostings(index.NewListPostings([]storage.SeriesRef{1, n + 1}), 0, shards, lookup)
	require.False(t, p.Next())
	require.Error(t, p.Err())
}

// Shards of one query run at once on the same block: they share the
// hashing, each series hashed by one of them, whether the budget holds
// every series or not.
func TestShardedPostingsConcurrently(t *testing.T) {
	const n, shards = 3000, 4
	var want [shards][]storage.SeriesRef
	_, refs := series(n, new(int))
	for _, ref := range refs {
		h := labels.StableHash(labels.FromStrings("__name__", "m", "i", fmt.Sprint(ref)))
		want[h%shards] = append(want[h%shards], ref)
	}
	for _, room := range []int64{n, 2000} {
		budget := NewBudget(room * EntryBytes)
		c := NewCache(budget, nil, nil)
		var (
			wg    sync.WaitGroup
			got   [shards][]storage.SeriesRef
			err   [shards]error
			calls [shards]int
		)
		for s := range uint64(shards) {
			lookup, _ := series(n, &calls[s])
			wg.Go(func() {
				got[s], err[s] = index.ExpandPostings(c.ShardedPostings(index.NewListPostings(refs), s, shards, lookup))
			})
		}
		wg.Wait()
		total := 0
		for s := range shards {
			require.NoError(t, err[s])
			require.Equal(t, want[s], got[s])
			total += calls[s]
		}
		require.Equal(t, int(room), c.Len())
		require.Zero(t, budget.Left())
		if room == n {
			require.Equal(t, n, total, "each series hashed once")
		}
	}
}

// A query that panics while it hashes (the engine recovers) leaves no
// claim behind: the next query does not wait for it.
func TestShardedPostingsAfterAPanic(t *testing.T) {
	calls := 0
	lookup, refs := series(2000, &calls)
	c := NewCache(nil, nil, nil)
	func() {
		defer func() { require.NotNil(t, recover()) }()
		c.ShardedPostings(index.NewListPostings(refs), 0, 2, func(storage.SeriesRef, *labels.ScratchBuilder) error { panic("boom") })
	}()
	done := make(chan error)
	go func() {
		_, err := index.ExpandPostings(c.ShardedPostings(index.NewListPostings(refs), 0, 2, lookup))
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the query waits for the claims of the one that panicked")
	}
	require.Equal(t, 2000, calls)
}
