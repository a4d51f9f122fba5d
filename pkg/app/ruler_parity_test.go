package app

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/distributor"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ruler"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// parityRules has recording rules, and alerts with for, keep_firing_for,
// templated labels and templated annotations.
const parityRules = `groups:
  - name: parity
    interval: 15s
    rules:
      - record: job:http_requests:rate1m
        expr: sum by (job) (rate(http_requests_total[1m]))
      - record: instance:up:avg5m
        expr: avg_over_time(up[5m])
      - alert: InstanceDown
        expr: up == 0
        for: 1m
        keep_firing_for: 45s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
          description: "up is {{ $value }}, see {{ $externalURL }}"
      - alert: HighRate
        expr: job:http_requests:rate1m > 2
        for: 30s
        labels:
          severity: '{{ if gt $value 3.0 }}critical{{ else }}warning{{ end }}'
        annotations:
          value: '{{ $value | printf "%.3f" }}'
`

const parityTenant = "parity"

// TestRulerParityWithPrometheus evaluates one rule file with weft's ruler
// (reading through the querier's queryable over a real ingester, writing
// through the distributor) and with Prometheus' own rules manager over
// Prometheus' own TSDB, on the same data at the same evaluation times:
// the recorded series, ALERTS and ALERTS_FOR_STATE are equal sample for
// sample, and every alert changes state at the same evaluation.
func TestRulerParityWithPrometheus(t *testing.T) {
	ctx := tenant.With(context.Background(), parityTenant)
	lim := testLimits(t)
	const extURL = "http://weft.example:9009"
	const interval = 15 * time.Second

	// weft: ingester, distributor, querier's queryable and engine, ruler.
	var qcfg querier.Config
	qcfg.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	ing := startIngester(t, testIngesterConfig(t, promqlIngesterArgs...), lim, nil)
	store := &pushStorage{Queryable: querier.NewQueryable(ing, lim), pusher: ing}
	var dcfg distributor.Config
	dcfg.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	dist, err := distributor.New(dcfg, lim, ing, tenant.Resolver{MultiTenancy: true}, nil, nil)
	require.NoError(t, err)
	var rcfg ruler.Config
	rcfg.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	rcfg.ExternalURL = extURL
	bkt := objstore.NewInMemBucket()
	r, err := ruler.New(rcfg, bkt, lim, distributorPusher{dist}, querier.NewQueryable(ing, lim),
		querier.NewEngine(qcfg, lim, nil, nil), nil, nil, ruler.WithParser(querier.NewParser(qcfg)))
	require.NoError(t, err)
	// The rule file goes in through the config API.
	srv := httptest.NewServer(r.ConfigHandler(tenant.Resolver{MultiTenancy: true}.FromRequest))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+ruler.ConfigPrefix+"/parity", strings.NewReader(parityRules))
	require.NoError(t, err)
	req.Header.Set(tenant.Header, parityTenant)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	weftGroups, err := r.Groups(ctx, parityTenant)
	require.NoError(t, err)
	require.Len(t, weftGroups, 1)

	// Prometheus: its TSDB, engine and rules manager.
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	require.NoError(t, err)
	defer db.Close()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, EnableAtModifier: true, EnableNegativeOffset: true})
	file := filepath.Join(t.TempDir(), "rules.yml")
	require.NoError(t, os.WriteFile(file, []byte(parityRules), 0o644))
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc: rules.EngineQueryFunc(eng, db), NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
		Context: context.Background(), AppendableV2: db, Queryable: db,
		OutageTolerance: rcfg.OutageTolerance, ForGracePeriod: rcfg.ForGracePeriod, ResendDelay: rcfg.ResendDelay,
	})
	refMap, errs := m.LoadGroups(time.Minute, labels.EmptyLabels(), extURL, nil, false, file)
	require.Empty(t, errs)
	require.Len(t, refMap, 1)
	var refGroup *rules.Group
	for _, g := range refMap {
		refGroup = g
	}
	weftGroup := weftGroups[0]
	require.Equal(t, refGroup.Name(), weftGroup.Name())
	require.Equal(t, refGroup.Interval(), weftGroup.Interval())

	// The same data, pushed before each evaluation at the same times.
	start := time.Now().Add(-45 * time.Minute).Truncate(time.Minute)
	const steps = 150
	down := func(inst string, i int) bool {
		switch inst {
		case "a": // down long enough to fire, then flapping inside keep_firing_for
			return (i >= 10 && i < 25) || (i >= 27 && i < 29)
		default: // down shorter than for: pending only; later fires and resolves
			return (i >= 40 && i < 43) || (i >= 80 && i < 100)
		}
	}
	rate := func(i int) float64 { // requests per second of each instance
		switch {
		case i >= 50 && i < 70:
			return 2.5
		case i >= 110 && i < 125:
			return 1.8
		default:
			return 0.5
		}
	}
	counters := map[string]float64{}
	seenStates := map[string]bool{}
	for i := range steps {
		ts := start.Add(time.Duration(i) * interval)
		var series []wire.Series
		for _, inst := range []string{"a", "b"} {
			up := 1.0
			if down(inst, i) {
				up = 0
			}
			counters[inst] += rate(i) * interval.Seconds()
			series = append(series,
				wire.Series{Labels: labels.FromStrings("__name__", "up", "instance", inst, "job", "api"), Samples: []wire.Sample{{T: ts.UnixMilli(), V: up}}},
				wire.Series{Labels: labels.FromStrings("__name__", "http_requests_total", "instance", inst, "job", "api"), Samples: []wire.Sample{{T: ts.UnixMilli(), V: counters[inst]}}},
			)
		}
		app := db.Appender(context.Background())
		for _, s := range series {
			_, err := app.Append(0, s.Labels, s.Samples[0].T, s.Samples[0].V)
			require.NoError(t, err)
		}
		require.NoError(t, app.Commit())
		_, err := ing.Push(ctx, parityTenant, &wire.PushRequest{Series: series})
		require.NoError(t, err)

		refGroup.Eval(context.Background(), ts)
		weftGroup.Eval(ctx, ts)
		if i == 1 {
			// As a running group does: restore the 'for' state after the
			// second evaluation; from then on ALERTS are written.
			refGroup.RestoreForState(ts)
			weftGroup.RestoreForState(ts)
		}
		want, got := alertStates(refGroup), alertStates(weftGroup.Group)
		require.Equal(t, want, got, "alert states after the evaluation at step %d (%s)", i, ts)
		for _, s := range want {
			seenStates[strings.Fields(s)[0]] = true
		}
		for _, g := range []*rules.Group{refGroup, weftGroup.Group} {
			for _, rule := range g.Rules() {
				require.NoError(t, rule.LastError(), "rule %s at step %d", rule.Name(), i)
			}
		}
	}
	require.True(t, seenStates["pending"] && seenStates["firing"] && seenStates["inactive"], "the data drives alerts through pending, firing and resolved: %v", seenStates)

	// Every series the rules wrote, sample for sample.
	end := start.Add(steps * interval)
	for _, name := range []string{"job:http_requests:rate1m", "instance:up:avg5m", "ALERTS", "ALERTS_FOR_STATE"} {
		want := rawSamples(t, context.Background(), db, name, start, end)
		got := rawSamples(t, ctx, store.Queryable, name, start, end)
		require.NotEmpty(t, want, name)
		require.Equal(t, want, got, name)
	}
}

// alertStates describes every alert of g's alerting rules: labels, state,
// when it became active, fired, resolved and kept firing, its value and
// annotations.
func alertStates(g *rules.Group) []string {
	var out []string
	for _, ar := range g.AlertingRules() {
		ar.ForEachActiveAlert(func(a *rules.Alert) {
			out = append(out, fmt.Sprintf("%s %s active=%d fired=%d resolved=%d keep=%d value=%g annotations=%s",
				a.State, a.Labels, a.ActiveAt.UnixMilli(), a.FiredAt.UnixMilli(), a.ResolvedAt.UnixMilli(), a.KeepFiringSince.UnixMilli(), a.Value, a.Annotations))
		})
	}
	slices.Sort(out)
	return out
}

// rawSamples returns every sample of the series named name in q, one line
// per sample (stale markers spelled out).
func rawSamples(t *testing.T, ctx context.Context, q storage.Queryable, name string, start, end time.Time) []string {
	t.Helper()
	qr, err := q.Querier(start.UnixMilli(), end.UnixMilli())
	require.NoError(t, err)
	defer qr.Close()
	set := qr.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, name))
	var out []string
	for set.Next() {
		s := set.At()
		it := s.Iterator(nil)
		for it.Next() != 0 {
			ts, v := it.At()
			vs := fmt.Sprint(v)
			if value.IsStaleNaN(v) {
				vs = "stale"
			} else if math.IsNaN(v) {
				vs = "NaN"
			}
			out = append(out, fmt.Sprintf("%s %d %s", s.Labels(), ts, vs))
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, set.Err())
	return out
}
