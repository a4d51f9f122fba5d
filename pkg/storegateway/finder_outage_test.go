package storegateway

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

// unreachable fails every read while down, as a bucket that went away.
type unreachable struct {
	objstore.Bucket
	down atomic.Bool
}

var errUnreachable = errors.New("connection refused")

func (b *unreachable) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if b.down.Load() {
		return nil, errUnreachable
	}
	return b.Bucket.Get(ctx, name)
}

func (b *unreachable) Iter(ctx context.Context, dir string, f func(string) error, opts ...objstore.IterOption) error {
	if b.down.Load() {
		return errUnreachable
	}
	return b.Bucket.Iter(ctx, dir, f, opts...)
}

// While the bucket is unreachable a query gets the last block list the
// finder read, not an error, and it waits for no re-read once one failed;
// the sync loop gets the error; without any copy a query gets the error
// too. Once the bucket is back the list is fresh again.
func TestFinderServesTheLastListWhileTheBucketIsDown(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b0 := f.addBlock("t1", 0, 2*hour)
	f.writeIndex("t1")
	bkt := &unreachable{Bucket: f.bkt}
	fd := NewFinder(bkt, time.Millisecond, time.Hour)

	got, err := fd.BlocksFor(ctx, "t1", 0, 2*hour)
	require.NoError(t, err)
	require.Len(t, got, 1)

	bkt.down.Store(true)
	time.Sleep(2 * time.Millisecond) // the copy is older than the TTL
	got, err = fd.BlocksFor(ctx, "t1", 0, 2*hour)
	require.NoError(t, err, "a query gets the last list")
	require.Len(t, got, 1)
	require.Equal(t, b0.ULID, got[0].ID)
	_, err = fd.live(ctx, "t1")
	require.ErrorIs(t, err, errUnreachable, "the sync loop gets the error")
	start := time.Now()
	for range 10 {
		got, err = fd.BlocksFor(ctx, "t1", 0, 2*hour)
		require.NoError(t, err)
		require.Len(t, got, 1)
	}
	require.Less(t, time.Since(start), staleWait, "queries wait for no re-read once one failed")

	_, err = fd.BlocksFor(ctx, "t2", 0, 2*hour)
	require.ErrorIs(t, err, errUnreachable, "no copy, no list")

	bkt.down.Store(false)
	f.addBlock("t1", 2*hour, 4*hour)
	f.writeIndex("t1")
	require.Eventually(t, func() bool {
		got, err := fd.BlocksFor(ctx, "t1", 0, 4*hour)
		return err == nil && len(got) == 2
	}, 5*time.Second, 10*time.Millisecond, "the list is fresh again once the bucket is back")
}
