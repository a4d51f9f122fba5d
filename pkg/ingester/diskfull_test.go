package ingester

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

// TestWALFailureWatchFindsTheTSDBCounters guards the ack rule of
// diskfull.go: it reads the TSDB's counters of failed WAL and WBL writes
// by name, so a rename upstream must fail here, not silently.
func TestWALFailureWatchFindsTheTSDBCounters(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir()), testOverrides(t), nil)
	pushSamples(t, ing, "a", "m", 1, 10, 1)
	td := ing.get("a")
	td.walWatch.mu.Lock()
	n := len(td.walWatch.counters)
	td.walWatch.mu.Unlock()
	require.Equal(t, 2, n, "the counters of failed writes of the WAL and of the WBL")
	require.Zero(t, td.walWatch.failures())
	require.NoError(t, td.broken())
}

// TestFreeSpaceCheckRefusesPushes checks -ingester.min-free-disk-bytes:
// a push is refused, before anything is written, with a 503 that names
// the disk, and counted.
func TestFreeSpaceCheckRefusesPushes(t *testing.T) {
	reg := prometheus.NewRegistry()
	ing, err := New(testConfig(t, t.TempDir(), "-ingester.min-free-disk-bytes=9223372036854775807"), testOverrides(t), nil, nil, reg, nil)
	require.NoError(t, err)
	require.NoError(t, ing.StartAsync(context.Background()))
	require.NoError(t, ing.AwaitRunning(context.Background()))
	t.Cleanup(func() { require.NoError(t, stopIngester(ing)) })

	req := &wire.PushRequest{Series: []wire.Series{{Labels: labels.FromStrings("__name__", "m"), Samples: []wire.Sample{{T: 1, V: 1}, {T: 2, V: 2}}}}}
	_, err = ing.Push(context.Background(), "a", req)
	require.Error(t, err)
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err))
	require.ErrorContains(t, err, errDiskFull)
	require.ErrorContains(t, err, "-ingester.min-free-disk-bytes")
	require.Nil(t, ing.get("a"), "nothing was written, not even the tenant's TSDB")
	require.Equal(t, 1.0, testutil.ToFloat64(ing.m.refusedPushes.WithLabelValues(reasonDiskFull)))
	require.Equal(t, 2.0, testutil.ToFloat64(ing.m.discarded.WithLabelValues("a", reasonDiskFull)))
	require.True(t, ing.diskFull.Load())
}

// TestBrokenWALIsReopened checks the way back from a failed WAL write:
// pushes are refused (503 when the disk is full) until the ingester's
// loop has reopened the tenant's TSDB, and what was acknowledged before
// is still there.
func TestBrokenWALIsReopened(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir()), testOverrides(t), nil)
	pushSamples(t, ing, "a", "m", 1, 10, 1)
	ing.get("a").markBroken(&fsError{syscall.ENOSPC})

	req := &wire.PushRequest{Series: []wire.Series{{Labels: labels.FromStrings("__name__", "m", "job", "j"), Samples: []wire.Sample{{T: 11, V: 11}}}}}
	_, err := ing.Push(context.Background(), "a", req)
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err))
	require.ErrorContains(t, err, errDiskFull)

	require.Eventually(t, func() bool {
		_, err := ing.Push(context.Background(), "a", req)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(ing.m.reopens))
	require.NoError(t, ing.get("a").broken())
	require.Equal(t, 11, countSamples(t, ing, "a", "m", 0, 100))
}

// fsError is an error wrapping an errno, as the file system returns it.
type fsError struct{ errno syscall.Errno }

func (e *fsError) Error() string { return "write wal/00000000: " + e.errno.Error() }
func (e *fsError) Unwrap() error { return e.errno }

// BenchmarkWALFailureWatch is what the ack rule costs each push: one
// read of the TSDB's two counters of failed writes.
func BenchmarkWALFailureWatch(b *testing.B) {
	cfg := Config{}
	cfg.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	cfg.Dir, cfg.InstanceID = b.TempDir(), "bench"
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	ing, err := New(cfg, limits.NewOverrides(l, nil), nil, nil, nil, nil)
	require.NoError(b, err)
	require.NoError(b, services.StartAndAwaitRunning(context.Background(), ing))
	b.Cleanup(func() { require.NoError(b, stopIngester(ing)) })
	req := &wire.PushRequest{Series: []wire.Series{{Labels: labels.FromStrings("__name__", "m"), Samples: []wire.Sample{{T: 1, V: 1}}}}}
	_, err = ing.Push(context.Background(), "a", req)
	require.NoError(b, err)
	w := ing.get("a").walWatch
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if w.failures() != 0 {
			b.Fatal("failures")
		}
	}
}

// TestRestoreInterruptedRepairs checks that the original of a segment
// whose repair did not finish goes back in place of its partial copy.
func TestRestoreInterruptedRepairs(t *testing.T) {
	dir := t.TempDir()
	wal := filepath.Join(dir, "wal")
	require.NoError(t, os.MkdirAll(wal, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(wal, "00000003"), []byte("partial copy"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(wal, "00000003.repair"), []byte("original, longer"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(wal, "00000002"), []byte("older"), 0o644))
	require.NoError(t, restoreInterruptedRepairs(dir, slog.New(slog.DiscardHandler)))
	b, err := os.ReadFile(filepath.Join(wal, "00000003"))
	require.NoError(t, err)
	require.Equal(t, "original, longer", string(b))
	require.NoFileExists(t, filepath.Join(wal, "00000003.repair"))
	require.FileExists(t, filepath.Join(wal, "00000002"))
	require.NoError(t, restoreInterruptedRepairs(t.TempDir(), slog.New(slog.DiscardHandler)), "no WAL yet")
}
