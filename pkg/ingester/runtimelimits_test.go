package ingester

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

// runtimeLimits is a runtime file that a test edits while the ingester
// runs: each set replaces the overrides of one tenant, as a reload does.
type runtimeLimits struct {
	defaults limits.Limits
	rc       atomic.Pointer[limits.RuntimeConfig]
}

func newRuntimeLimits(t *testing.T) (*runtimeLimits, *limits.Overrides) {
	r := &runtimeLimits{defaults: *testOverrides(t).Defaults()}
	r.rc.Store(&limits.RuntimeConfig{})
	return r, limits.NewOverrides(r.defaults, r.rc.Load)
}

func (r *runtimeLimits) set(tenantID string, edit func(*limits.Limits)) {
	l := r.defaults
	edit(&l)
	r.rc.Store(&limits.RuntimeConfig{Overrides: map[string]*limits.Limits{tenantID: &l}})
}

func pushOne(ing *Ingester, tenantID string, ts int64, ex ...wire.Exemplar) error {
	req := &wire.PushRequest{Series: []wire.Series{{
		Labels:    labels.FromStrings("__name__", "m", "job", "j"),
		Samples:   []wire.Sample{{T: ts, V: float64(ts)}},
		Exemplars: ex,
	}}}
	_, err := ing.Push(context.Background(), tenantID, req)
	return err
}

// eventuallyLive retries try until it returns nil: the ingester applies a
// changed limit to an open TSDB at its next limits check, not at once.
func eventuallyLive(t *testing.T, what string, try func() error) {
	t.Helper()
	var err error
	require.Eventually(t, func() bool { err = try(); return err == nil }, 10*time.Second, 20*time.Millisecond, "%s: %v", what, err)
}

func TestOutOfOrderWindowChangesLive(t *testing.T) {
	rt, lim := newRuntimeLimits(t)
	rt.set("a", func(l *limits.Limits) { l.OutOfOrderTimeWindow = 0 })
	cfg := testConfig(t, t.TempDir(), "-ingester.tsdb.head-compaction-interval=50ms")
	ing := startIngester(t, cfg, lim, nil)

	now := time.Now().Truncate(time.Second).UnixMilli()
	require.NoError(t, pushOne(ing, "a", now))
	err := pushOne(ing, "a", now-60_000)
	require.Equal(t, wire.KindBadData, wire.KindOf(err), "window 0: %v", err)
	require.ErrorContains(t, err, "out_of_order_time_window")

	// Raised in the runtime file: the same tenant, its TSDB still open,
	// takes the sample.
	rt.set("a", func(l *limits.Limits) { l.OutOfOrderTimeWindow = model.Duration(10 * time.Minute) })
	eventuallyLive(t, "out-of-order sample accepted after raising the window", func() error {
		return pushOne(ing, "a", now-60_000)
	})
	require.Equal(t, 2, countSamples(t, ing, "a", "m", 0, now+1))

	// Lowered to 0: refused again, and what was taken stays readable.
	rt.set("a", func(l *limits.Limits) { l.OutOfOrderTimeWindow = 0 })
	next := now - 30_000
	eventuallyLive(t, "out-of-order sample refused after lowering the window", func() error {
		next++
		if err := pushOne(ing, "a", next); err == nil {
			return errors.New("accepted")
		} else if wire.KindOf(err) != wire.KindBadData {
			return err
		}
		return nil
	})
	require.GreaterOrEqual(t, countSamples(t, ing, "a", "m", 0, now+1), 2)
	require.Equal(t, 1, countSamples(t, ing, "a", "m", now-60_000, now-60_000), "the sample taken under the wider window stays")
}

func TestMaxExemplarsChangesLive(t *testing.T) {
	rt, lim := newRuntimeLimits(t)
	rt.set("a", func(l *limits.Limits) { l.MaxExemplarsPerTenant = 0 })
	cfg := testConfig(t, t.TempDir(), "-ingester.tsdb.head-compaction-interval=50ms")
	ing := startIngester(t, cfg, lim, nil)

	exemplarAt := func(ts int64) wire.Exemplar {
		return wire.Exemplar{Labels: labels.FromStrings("trace_id", strconv.FormatInt(ts, 10)), T: ts, V: 1}
	}
	stored := func() []int64 {
		t.Helper()
		q, err := ing.ExemplarQuerier(context.Background(), "a")
		require.NoError(t, err)
		res, err := q.Select(0, time.Now().Add(time.Hour).UnixMilli(), []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")})
		require.NoError(t, err)
		var ts []int64
		for _, r := range res {
			for _, e := range r.Exemplars {
				ts = append(ts, e.Ts)
			}
		}
		return ts
	}

	now := time.Now().Truncate(time.Second).UnixMilli()
	require.NoError(t, pushOne(ing, "a", now, exemplarAt(now)))
	require.Empty(t, stored(), "max_exemplars_per_tenant 0 stores none")

	rt.set("a", func(l *limits.Limits) { l.MaxExemplarsPerTenant = 10 })
	ts := now
	eventuallyLive(t, "exemplar stored after raising the limit", func() error {
		ts += 1000
		require.NoError(t, pushOne(ing, "a", ts, exemplarAt(ts)))
		if got := stored(); len(got) == 0 {
			return errors.New("no exemplar stored")
		}
		return nil
	})
	for range 3 {
		ts += 1000
		require.NoError(t, pushOne(ing, "a", ts, exemplarAt(ts)))
	}
	require.Contains(t, stored(), ts)

	// Lowered to 1: the newest exemplar stays, the older ones go.
	rt.set("a", func(l *limits.Limits) { l.MaxExemplarsPerTenant = 1 })
	eventuallyLive(t, "exemplar storage shrunk to 1", func() error {
		if got := stored(); len(got) != 1 || got[0] != ts {
			return errors.New("stored " + strconv.Itoa(len(got)) + " exemplars")
		}
		return nil
	})

	// Lowered to 0: none stays and none is taken.
	rt.set("a", func(l *limits.Limits) { l.MaxExemplarsPerTenant = 0 })
	eventuallyLive(t, "exemplar storage emptied", func() error {
		if got := stored(); len(got) != 0 {
			return errors.New("stored " + strconv.Itoa(len(got)) + " exemplars")
		}
		return nil
	})
	ts += 1000
	require.NoError(t, pushOne(ing, "a", ts, exemplarAt(ts)))
	require.Empty(t, stored())
}
