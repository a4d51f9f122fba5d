package ingester

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

// syncHook replaces a tenant's sync: each sync announces itself on
// started and runs only when the test sends its result on release.
type syncHook struct {
	started chan struct{}
	release chan error
}

func installSyncHook(t *testing.T, ing *Ingester, tenantID string) *syncHook {
	t.Helper()
	td := ing.get(tenantID)
	require.NotNil(t, td)
	require.NotNil(t, td.syncer)
	h := &syncHook{started: make(chan struct{}, 100), release: make(chan error)}
	td.syncer.mu.Lock()
	td.syncer.sync = func() error {
		h.started <- struct{}{}
		return <-h.release
	}
	td.syncer.mu.Unlock()
	return h
}

func pushAsync(ing *Ingester, tenantID string, ts int64) <-chan error {
	done := make(chan error, 1)
	go func() {
		req := &wire.PushRequest{Series: []wire.Series{{Labels: labels.FromStrings("__name__", "m", "n", strconv.FormatInt(ts, 10)), Samples: []wire.Sample{{T: ts, V: 1}}}}}
		_, err := ing.Push(context.Background(), tenantID, req)
		done <- err
	}()
	return done
}

func requireNotDone(t *testing.T, chs ...<-chan error) {
	t.Helper()
	for _, ch := range chs {
		select {
		case err := <-ch:
			require.Failf(t, "push acknowledged before the sync covering it finished", "err %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestWALSyncBeforeAckGroupsPushes(t *testing.T) {
	reg := prometheus.NewRegistry()
	ing, err := New(testConfig(t, t.TempDir(), "-ingester.wal-sync-before-ack"), testOverrides(t), nil, nil, reg, nil)
	require.NoError(t, err)
	require.NoError(t, ing.StartAsync(context.Background()))
	require.NoError(t, ing.AwaitRunning(context.Background()))
	t.Cleanup(func() { require.NoError(t, stopIngester(ing)) })

	// The first push opens the tenant and syncs the real files.
	pushSamples(t, ing, "a", "first", 1, 1, 1)
	require.Equal(t, 1.0, testutil.ToFloat64(ing.m.walSync.syncs))
	h := installSyncHook(t, ing, "a")
	s := ing.get("a").syncer

	// A push waits for the sync that covers it.
	first := pushAsync(ing, "a", 10)
	<-h.started
	requireNotDone(t, first)

	// Pushes committed while that sync runs wait for the next one, all
	// of them for the same one.
	const n = 10
	var later []<-chan error
	for i := range n {
		later = append(later, pushAsync(ing, "a", int64(20+i)))
	}
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pending != nil && s.pending.n == n
	}, 10*time.Second, time.Millisecond)
	h.release <- nil
	require.NoError(t, <-first)
	<-h.started
	requireNotDone(t, later...)
	h.release <- nil
	for _, ch := range later {
		require.NoError(t, <-ch)
	}
	require.Equal(t, 3.0, testutil.ToFloat64(ing.m.walSync.syncs))
	require.Equal(t, 0, len(h.started), "no sync beyond the two batches")
	require.Equal(t, 1+1+n, countSamples(t, ing, "a", "m", 0, 100)+countSamples(t, ing, "a", "first", 0, 100))

	// A failed sync refuses its pushes with a 5xx, and every later one
	// until the tenant's TSDB is reopened: the kernel may have dropped the
	// pages it could not write.
	failed := pushAsync(ing, "a", 40)
	<-h.started
	h.release <- errors.New("injected EIO")
	err = <-failed
	require.Error(t, err)
	require.Equal(t, wire.KindInternal, wire.KindOf(err))
	require.ErrorContains(t, err, "injected EIO")
	stored41 := 1 // the reopen may have come first
	if err := <-pushAsync(ing, "a", 41); err != nil {
		require.Equal(t, wire.KindInternal, wire.KindOf(err))
		stored41 = 0
	}
	require.Equal(t, 0, len(h.started), "a failed syncer does not sync again")
	require.Equal(t, 1.0, testutil.ToFloat64(ing.m.walSync.failures))

	// Other tenants have their own WAL and syncer.
	pushSamples(t, ing, "b", "m", 1, 1, 1)

	// The ingester reopens the tenant's TSDB by itself, with a new
	// syncer, and takes its pushes again.
	require.Eventually(t, func() bool { return <-pushAsync(ing, "a", 50) == nil }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(ing.m.reopens))
	require.NotSame(t, s, ing.get("a").syncer)
	// The push whose sync failed wrote its record, which the reopen
	// replays: stored, if never acknowledged.
	require.Equal(t, 1+1+n+1+stored41+1, countSamples(t, ing, "a", "m", 0, 100)+countSamples(t, ing, "a", "first", 0, 100))
}

func TestWALSyncOffDoesNotWait(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir()), testOverrides(t), nil)
	pushSamples(t, ing, "a", "m", 1, 1, 1)
	require.Nil(t, ing.get("a").syncer)
	require.Nil(t, ing.m.walSync)
}

// TestWALSyncFiles checks which files a sync reaches: every segment from
// the last one the previous sync saw, through segments cut since, while
// a missing directory or deleted segment is not an error.
func TestWALSyncFiles(t *testing.T) {
	dir := t.TempDir()
	s := newWALSyncer(dir, newWALSyncMetrics(nil))
	defer s.close()
	require.NoError(t, s.syncFiles(), "no WAL directory yet")

	wal := filepath.Join(dir, "wal")
	require.NoError(t, os.MkdirAll(wal, 0o755))
	require.NoError(t, s.syncFiles(), "no segment yet")
	write := func(i int) {
		require.NoError(t, os.WriteFile(filepath.Join(wal, strconv.Itoa(100000000 + i)[1:]), []byte("x"), 0o644))
	}
	write(0)
	require.NoError(t, s.syncFiles())
	require.Equal(t, 0, s.segs[wal].index)
	write(1)
	write(2)
	require.NoError(t, s.syncFiles())
	require.Equal(t, 2, s.segs[wal].index)
	require.NoError(t, os.Remove(filepath.Join(wal, "00000000")))
	write(3)
	require.NoError(t, s.syncFiles())
	require.Equal(t, 3, s.segs[wal].index)
	require.NotContains(t, s.segs, filepath.Join(dir, "wbl"))

	// Concurrent waiters on the real files all succeed.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { require.NoError(t, s.wait(context.Background())) })
	}
	wg.Wait()
}
