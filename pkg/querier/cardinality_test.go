package querier

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	weftring "github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// countingReader is an ingester's counts of the series it holds for one
// tenant, computed from the list of series as the ingester's head
// computes them.
type countingReader struct {
	wire.Reader
	tenant string
	series []labels.Labels
	err    error
}

func (c *countingReader) mine(tenant string, ms []*labels.Matcher) []labels.Labels {
	if tenant != c.tenant {
		return nil
	}
	var out []labels.Labels
	for _, ls := range c.series {
		ok := true
		for _, m := range ms {
			ok = ok && m.Matches(ls.Get(m.Name))
		}
		if ok {
			out = append(out, ls)
		}
	}
	return out
}

func (c *countingReader) TSDBStatus(_ context.Context, tenant string, limit int) (*wire.TSDBStatus, error) {
	if c.err != nil {
		return nil, c.err
	}
	series := c.mine(tenant, nil)
	st := &wire.TSDBStatus{NumSeries: uint64(len(series)), ChunkCount: uint64(len(series)), MinTime: 10, MaxTime: 20}
	byMetric, byPair, values := map[string]uint64{}, map[string]uint64{}, map[string]map[string]bool{}
	for _, ls := range series {
		byMetric[ls.Get(labels.MetricName)]++
		ls.Range(func(l labels.Label) {
			byPair[l.Name+"="+l.Value]++
			if values[l.Name] == nil {
				values[l.Name] = map[string]bool{}
			}
			values[l.Name][l.Value] = true
		})
	}
	list := func(m map[string]uint64) []wire.Stat {
		var out []wire.Stat
		for k, v := range m {
			out = append(out, wire.Stat{Name: k, Value: v})
		}
		return topStats(out, limit)
	}
	st.SeriesCountByMetricName = list(byMetric)
	st.SeriesCountByLabelValuePair = list(byPair)
	st.NumLabelPairs = uint64(len(byPair))
	counts := map[string]uint64{}
	for n, vs := range values {
		counts[n] = uint64(len(vs))
	}
	st.LabelValueCountByLabelName = list(counts)
	bytes := map[string]uint64{}
	for n, vs := range values {
		for v := range vs {
			bytes[n] += uint64(len(v))
		}
	}
	st.MemoryInBytesByLabelName = list(bytes)
	return st, nil
}

func (c *countingReader) LabelCardinality(_ context.Context, tenant string, req *wire.CardinalityRequest) (*wire.LabelCardinality, error) {
	if c.err != nil {
		return nil, c.err
	}
	series := c.mine(tenant, req.Matchers)
	out := &wire.LabelCardinality{SeriesCount: uint64(len(series))}
	if len(req.LabelNames) == 0 {
		values := map[string]map[string]bool{}
		for _, ls := range series {
			ls.Range(func(l labels.Label) {
				if values[l.Name] == nil {
					values[l.Name] = map[string]bool{}
				}
				values[l.Name][l.Value] = true
			})
		}
		for n, vs := range values {
			ls := wire.LabelStats{Name: n}
			for v := range vs {
				ls.ValueHashes = append(ls.ValueHashes, xxhash.Sum64String(v))
			}
			out.Labels = append(out.Labels, ls)
		}
		slices.SortFunc(out.Labels, func(a, b wire.LabelStats) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	}
	for _, n := range req.LabelNames {
		counts := map[string]uint64{}
		for _, ls := range series {
			if v := ls.Get(n); v != "" {
				counts[v]++
			}
		}
		l := wire.LabelStats{Name: n, Values: []wire.Stat{}}
		for v, k := range counts {
			l.Values = append(l.Values, wire.Stat{Name: v, Value: k})
			l.SeriesCount += k
		}
		slices.SortFunc(l.Values, func(a, b wire.Stat) int { return strings.Compare(a.Name, b.Name) })
		out.Labels = append(out.Labels, l)
	}
	return out, nil
}

// cardinalitySeries are n series of three metrics and a label "pod" of
// n/2 values.
func cardinalitySeries(n int) []labels.Labels {
	var out []labels.Labels
	for i := range n {
		out = append(out, labels.FromStrings(labels.MetricName, fmt.Sprintf("metric_%d", i%3), "pod", fmt.Sprintf("pod-%d", i/2), "i", fmt.Sprint(i)))
	}
	return out
}

// placeSeries puts each series of tenant on the instances the
// distributor writes it to, and returns the readers by address.
func placeSeries(t *testing.T, r *testRing, tenant string, series []labels.Labels) map[string]*countingReader {
	t.Helper()
	readers := map[string]*countingReader{}
	for _, a := range r.addrs {
		readers[a] = &countingReader{tenant: tenant}
	}
	buf := weftring.NewBuffers()
	for _, ls := range series {
		rs, err := weftring.ReplicasForToken(r.ring, weftring.TokenFor(tenant, ls), dsring.Write, buf)
		require.NoError(t, err)
		for _, inst := range rs.Instances {
			readers[inst.Addr].series = append(readers[inst.Addr].series, ls)
		}
	}
	return readers
}

func countingClients(readers map[string]*countingReader) func(string) (wire.Reader, error) {
	return func(addr string) (wire.Reader, error) {
		if c, ok := readers[addr]; ok {
			return c, nil
		}
		return nil, fmt.Errorf("no client for %s", addr)
	}
}

// The counts over a ring of ingesters with RF=3 are those of one copy of
// the series, exactly: the series are summed over every instance and
// divided by RF, the label values are the union of the instances'.
func TestRingReaderCountsOneCopy(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ instances, rf int }{{3, 3}, {6, 3}, {5, 2}, {2, 3}} {
		t.Run(fmt.Sprintf("%d instances RF %d", tc.instances, tc.rf), func(t *testing.T) {
			r := newTestRing(t, tc.instances, tc.rf)
			series := cardinalitySeries(90)
			readers := placeSeries(t, r, "a", series)
			rr := NewRingReader(r.ring, countingClients(readers), testOverrides(t, nil), 0)
			whole := &countingReader{tenant: "a", series: series}

			st, err := rr.TSDBStatus(ctx, "a", 100)
			require.NoError(t, err)
			want, _ := whole.TSDBStatus(ctx, "a", 100)
			if tc.instances > tc.rf {
				// The bytes of the values of a label are the largest
				// instance's, a lower bound.
				wantBytes := map[string]uint64{}
				for _, s := range want.MemoryInBytesByLabelName {
					wantBytes[s.Name] = s.Value
				}
				for _, s := range st.MemoryInBytesByLabelName {
					require.LessOrEqual(t, s.Value, wantBytes[s.Name], s.Name)
				}
				st.MemoryInBytesByLabelName = want.MemoryInBytesByLabelName
			}
			require.Equal(t, want, st)

			for _, req := range []*wire.CardinalityRequest{
				{},
				{Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "metric_1")}},
				{LabelNames: []string{"pod", labels.MetricName, "none"}},
				{LabelNames: []string{"pod"}, Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "pod", "pod-1.*")}},
			} {
				got, err := rr.LabelCardinality(ctx, "a", req)
				require.NoError(t, err)
				want, _ := whole.LabelCardinality(ctx, "a", req)
				for i := range got.Labels { // the union's hashes come in no order
					slices.Sort(got.Labels[i].ValueHashes)
					slices.Sort(want.Labels[i].ValueHashes)
				}
				require.Equal(t, want, got, "%+v", req)
			}

			// Another tenant sees none of a's series.
			other, err := rr.LabelCardinality(ctx, "b", &wire.CardinalityRequest{LabelNames: []string{labels.MetricName}})
			require.NoError(t, err)
			require.Zero(t, other.SeriesCount)
			require.Empty(t, other.Labels[0].Values)
			otherSt, err := rr.TSDBStatus(ctx, "b", 10)
			require.NoError(t, err)
			require.Zero(t, otherSt.NumSeries)
			require.Empty(t, otherSt.SeriesCountByMetricName)
		})
	}
}

// With one of three instances down (RF=3), the others' counts are scaled
// and stay exact; with two down, the request fails.
func TestRingReaderCountsWithAFailedInstance(t *testing.T) {
	ctx := context.Background()
	r := newTestRing(t, 3, 3)
	series := cardinalitySeries(30)
	readers := placeSeries(t, r, "a", series)
	rr := NewRingReader(r.ring, countingClients(readers), testOverrides(t, nil), 0)

	readers[r.addrs[0]].err = errors.New("down")
	st, err := rr.TSDBStatus(ctx, "a", 10)
	require.NoError(t, err)
	require.EqualValues(t, 30, st.NumSeries)
	lc, err := rr.LabelCardinality(ctx, "a", &wire.CardinalityRequest{LabelNames: []string{labels.MetricName}})
	require.NoError(t, err)
	require.EqualValues(t, 30, lc.SeriesCount)
	require.Equal(t, []wire.Stat{{Name: "metric_0", Value: 10}, {Name: "metric_1", Value: 10}, {Name: "metric_2", Value: 10}}, lc.Labels[0].Values)

	readers[r.addrs[1]].err = errors.New("down")
	_, err = rr.TSDBStatus(ctx, "a", 10)
	require.Error(t, err)
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err))
}

func TestCopyCounter(t *testing.T) {
	f := func(cc copyCounter, answers map[string][]uint64, want uint64) {
		t.Helper()
		z := zoneSums{}
		for zone, vs := range answers {
			for _, v := range vs {
				cc.add(z, zone, v)
			}
		}
		require.Equal(t, want, cc.count(z))
	}
	noZones := copyCounter{copies: 3, asked: 6, answered: 6}
	f(noZones, map[string][]uint64{"": {10, 20, 30, 10, 10, 10}}, 30)
	f(noZones, map[string][]uint64{"": {}}, 0)
	f(noZones, map[string][]uint64{"": {1}}, 1) // a value that some instance holds counts once
	f(copyCounter{copies: 3, asked: 3, answered: 2}, map[string][]uint64{"": {30, 30}}, 30)
	// Zone-aware: the zone with the largest sum is one copy, whatever the
	// number of instances per zone.
	zones := copyCounter{zoneAware: true, copies: 3, asked: 6, answered: 5}
	f(zones, map[string][]uint64{"a": {10, 20}, "b": {30}, "c": {5, 5}}, 30)
}

// serveCardinality runs the query API over reader and returns a function
// that GETs a path as tenant.
func serveCardinality(t *testing.T, reader wire.Reader, lim *limits.Overrides) func(tenantID, path string, params url.Values) (int, []byte) {
	t.Helper()
	q, err := New(testConfig(t), reader, lim, tenant.Resolver{MultiTenancy: true}, Version{}, nil, nil)
	require.NoError(t, err)
	srv := httptest.NewServer(q.Handler())
	t.Cleanup(srv.Close)
	return func(tenantID, path string, params url.Values) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+Prefix+path+"?"+params.Encode(), nil)
		require.NoError(t, err)
		req.Header.Set("X-Scope-OrgID", tenantID)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}
}

func TestCardinalityHTTP(t *testing.T) {
	lim := testOverrides(t, map[string]func(*limits.Limits){
		"off":   func(l *limits.Limits) { l.CardinalityAnalysisEnabled = false },
		"small": func(l *limits.Limits) { l.CardinalityAnalysisMaxLabelNamesPerRequest = 1 },
	})
	reader := &countingReader{tenant: "a", series: []labels.Labels{
		labels.FromStrings(labels.MetricName, "up", "job", "x", "pod", "1"),
		labels.FromStrings(labels.MetricName, "up", "job", "y", "pod", "1"),
		labels.FromStrings(labels.MetricName, "up", "job", "y", "pod", "2"),
		labels.FromStrings(labels.MetricName, "http", "job", "y"),
	}}
	get := serveCardinality(t, reader, lim)

	code, body := get("a", "/status/tsdb", url.Values{"limit": {"1"}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"status":"success","data":{
		"headStats":{"numSeries":4,"numLabelPairs":6,"chunkCount":4,"minTime":10,"maxTime":20},
		"seriesCountByMetricName":[{"name":"up","value":3}],
		"labelValueCountByLabelName":[{"name":"__name__","value":2}],
		"memoryInBytesByLabelName":[{"name":"__name__","value":6}],
		"seriesCountByLabelValuePair":[{"name":"__name__=up","value":3}]}}`, string(body))
	code, _ = get("a", "/status/tsdb", url.Values{"limit": {"0"}})
	require.Equal(t, http.StatusBadRequest, code)

	code, body = get("a", "/cardinality/label_names", url.Values{"limit": {"2"}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"label_values_count_total":6,"label_names_count":3,
		"cardinality":[{"label_name":"__name__","label_values_count":2},{"label_name":"job","label_values_count":2}]}`, string(body))
	code, body = get("a", "/cardinality/label_names", url.Values{"selector": {`{job="x"}`}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"label_values_count_total":3,"label_names_count":3,
		"cardinality":[{"label_name":"__name__","label_values_count":1},{"label_name":"job","label_values_count":1},{"label_name":"pod","label_values_count":1}]}`, string(body))

	code, body = get("a", "/cardinality/label_values", url.Values{"label_names[]": {"pod", "job"}, "limit": {"1"}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"series_count_total":4,"labels":[
		{"label_name":"job","label_values_count":2,"series_count":4,"cardinality":[{"label_value":"y","series_count":3}]},
		{"label_name":"pod","label_values_count":2,"series_count":3,"cardinality":[{"label_value":"1","series_count":2}]}]}`, string(body))
	code, body = get("a", "/cardinality/label_values", url.Values{"label_names[]": {"job"}, "selector": {`up{pod="1"}`}})
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"series_count_total":2,"labels":[
		{"label_name":"job","label_values_count":2,"series_count":2,"cardinality":[{"label_value":"x","series_count":1},{"label_value":"y","series_count":1}]}]}`, string(body))

	// Another tenant sees nothing of a's.
	code, body = get("b", "/cardinality/label_names", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{"label_values_count_total":0,"label_names_count":0,"cardinality":[]}`, string(body))

	for _, tc := range []struct {
		tenant, path string
		params       url.Values
		code         int
		contains     string
	}{
		{"off", "/cardinality/label_names", nil, 400, "err-weft-cardinality-analysis-disabled"},
		{"off", "/cardinality/label_values", url.Values{"label_names[]": {"job"}}, 400, "err-weft-cardinality-analysis-disabled"},
		{"small", "/cardinality/label_values", url.Values{"label_names[]": {"job", "pod"}}, 400, "err-weft-cardinality-max-label-names-per-request"},
		{"small", "/cardinality/label_values", url.Values{"label_names[]": {"job", "job"}}, 200, "series_count_total"},
		{"a", "/cardinality/label_values", nil, 400, "label_names[] is required"},
		{"a", "/cardinality/label_values", url.Values{"label_names[]": {""}}, 400, "invalid label name"},
		{"a", "/cardinality/label_names", url.Values{"limit": {"501"}}, 400, "limit must be a number from 1 to 500"},
		{"a", "/cardinality/label_names", url.Values{"selector": {"up{"}}, 400, "invalid selector"},
	} {
		code, body := get(tc.tenant, tc.path, tc.params)
		require.Equal(t, tc.code, code, "%s %s %v: %s", tc.tenant, tc.path, tc.params, body)
		require.Contains(t, string(body), tc.contains)
		if code != 200 {
			var e struct{ Status, ErrorType string }
			require.NoError(t, json.Unmarshal(body, &e))
			require.Equal(t, "error", e.Status)
			require.Equal(t, "bad_data", e.ErrorType)
		}
	}
}

// newZonedTestRing is newTestRing with zone awareness: an instance in
// each zone of zones, in order.
func newZonedTestRing(t *testing.T, zones []string, rf int) *testRing {
	t.Helper()
	var cfg weftring.Config
	fs := flag.NewFlagSet(t.Name(), flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	cfg.Ring.Store = weftring.StoreInMemory
	cfg.Ring.Ingester.ReplicationFactor = rf
	cfg.Ring.Ingester.ZoneAwarenessEnabled = true
	start := func(s services.Service) {
		require.NoError(t, services.StartAndAwaitRunning(context.Background(), s))
		t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), s)) })
	}
	kv, err := weftring.NewKV(cfg, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	start(kv)
	r := &testRing{readers: map[string]*fakeReader{}}
	for i, z := range zones {
		lcfg := cfg.Ring.Ingester
		lcfg.InstanceID = fmt.Sprintf("ingester-%d", i)
		lcfg.InstanceAddr = fmt.Sprintf("10.0.0.%d:9095", i)
		lcfg.AvailabilityZone = z
		lc, err := weftring.NewIngesterLifecycler(lcfg, kv, nil, nil)
		require.NoError(t, err)
		start(lc)
		require.NoError(t, lc.Activate(context.Background()))
		r.addrs = append(r.addrs, lcfg.InstanceAddr)
	}
	r.ring, err = weftring.NewIngesterRing(cfg.Ring.Ingester, kv, nil, nil)
	require.NoError(t, err)
	start(r.ring)
	require.Eventually(t, func() bool {
		rs, err := r.ring.GetAllHealthy(dsring.Read)
		return err == nil && len(rs.Instances) == len(zones)
	}, 10*time.Second, 10*time.Millisecond)
	return r
}

// With zone awareness each zone holds one copy: the counts are those of
// one zone, also when an instance of another zone is down.
func TestRingReaderCountsOneZone(t *testing.T) {
	ctx := context.Background()
	r := newZonedTestRing(t, []string{"a", "a", "b", "b", "c", "c"}, 3)
	series := cardinalitySeries(90)
	readers := placeSeries(t, r, "a", series)
	rr := NewRingReader(r.ring, countingClients(readers), testOverrides(t, nil), 0)
	whole := &countingReader{tenant: "a", series: series}
	check := func() {
		t.Helper()
		st, err := rr.TSDBStatus(ctx, "a", 100)
		require.NoError(t, err)
		want, _ := whole.TSDBStatus(ctx, "a", 100)
		require.Equal(t, want.NumSeries, st.NumSeries)
		require.Equal(t, want.NumLabelPairs, st.NumLabelPairs)
		require.Equal(t, want.SeriesCountByMetricName, st.SeriesCountByMetricName)
		require.Equal(t, want.SeriesCountByLabelValuePair, st.SeriesCountByLabelValuePair)
		require.Equal(t, want.LabelValueCountByLabelName, st.LabelValueCountByLabelName)
		req := &wire.CardinalityRequest{LabelNames: []string{"pod", labels.MetricName}}
		got, err := rr.LabelCardinality(ctx, "a", req)
		require.NoError(t, err)
		wantLC, _ := whole.LabelCardinality(ctx, "a", req)
		require.Equal(t, wantLC, got)
	}
	check()
	readers[r.addrs[0]].err = errors.New("down")
	check()
}

// stalledCounter is an instance that never answers (a stopped or
// partitioned ingester).
type stalledCounter struct{ stalledReader }

func (s *stalledCounter) TSDBStatus(ctx context.Context, _ string, _ int) (*wire.TSDBStatus, error) {
	return nil, s.wait(ctx)
}

func (s *stalledCounter) LabelCardinality(ctx context.Context, _ string, _ *wire.CardinalityRequest) (*wire.LabelCardinality, error) {
	return nil, s.wait(ctx)
}

// An instance that never answers does not hold the counts: they come from
// the two others, scaled, once the grace after their answers is over, and
// the stalled instance's call is cancelled.
func TestRingReaderCountsWithoutAStalledInstance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := newTestRing(t, 3, 3)
	series := cardinalitySeries(30)
	readers := placeSeries(t, r, "a", series)
	stalled := &stalledCounter{}
	counting := countingClients(readers)
	clients := func(addr string) (wire.Reader, error) {
		if addr == r.addrs[0] {
			return stalled, nil
		}
		return counting(addr)
	}
	rr := NewRingReader(r.ring, clients, testOverrides(t, nil), 0)
	start := time.Now()
	st, err := rr.TSDBStatus(ctx, "a", 10)
	require.NoError(t, err)
	require.EqualValues(t, 30, st.NumSeries)
	lc, err := rr.LabelCardinality(ctx, "a", &wire.CardinalityRequest{LabelNames: []string{labels.MetricName}})
	require.NoError(t, err)
	require.EqualValues(t, 30, lc.SeriesCount)
	require.Less(t, time.Since(start), 30*time.Second, "answered after the quorum's grace, not at the context's end")
	require.Eventually(t, func() bool { return stalled.cancels() == 2 }, 5*time.Second, 10*time.Millisecond)
}
