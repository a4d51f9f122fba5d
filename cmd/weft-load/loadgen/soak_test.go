package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

func TestAccountSeries(t *testing.T) {
	const base, step = 1000, 10
	// Rounds 0, 1 and 3 acknowledged, 2 failed; 4 rounds pushed.
	acked := []bool{true, true, false, true}
	pt := func(r int, v float64) soakPoint { return soakPoint{ts: base + int64(r)*step, v: v} }
	f := func(name string, got []soakPoint, want SoakCounts) {
		t.Helper()
		var c SoakCounts
		accountSeries(&c, 7, acked, base, step, got)
		require.Equal(t, want, c, name)
	}
	all := []soakPoint{pt(0, soakValue(7, 0)), pt(1, soakValue(7, 1)), pt(3, soakValue(7, 3))}
	f("everything acknowledged found", all, SoakCounts{Acked: 3, Found: 3})
	f("nothing read", nil, SoakCounts{Acked: 3, Lost: 3})
	f("an unacknowledged push was applied", append(all, pt(2, soakValue(7, 2))), SoakCounts{Acked: 3, Found: 3, UnackedFound: 1})
	f("one lost", all[1:], SoakCounts{Acked: 3, Found: 2, Lost: 1})
	f("returned twice", append(all, all[1]), SoakCounts{Acked: 3, Found: 3, Duplicated: 1})
	f("same timestamp, other value", append(all, pt(1, 42)), SoakCounts{Acked: 3, Found: 3, Duplicated: 1})
	f("changed value", []soakPoint{pt(0, soakValue(7, 0)), pt(1, soakValue(6, 1)), pt(3, soakValue(7, 3))},
		SoakCounts{Acked: 3, Found: 2, Changed: 1})
	f("off the grid, before, after", append(all, soakPoint{ts: base + 5, v: 1}, soakPoint{ts: base - step}, pt(4, soakValue(7, 4))),
		SoakCounts{Acked: 3, Found: 3, Unexpected: 3})
	require.False(t, SoakCounts{Acked: 3, Found: 3, UnackedFound: 1}.Bad())
	require.True(t, SoakCounts{Acked: 3, Found: 2, Lost: 1}.Bad())
	require.True(t, SoakCounts{Unverified: 1}.Bad())
}

// soakServer is a fake weft: it stores pushed samples and answers range
// selectors over them. It refuses every third push (storing nothing),
// applies but refuses every fifth, and can lose or duplicate a sample.
type soakServer struct {
	mu      sync.Mutex
	pushes  int
	samples map[int][]soakPoint // by series
	lose    bool                // drop the first acknowledged sample of series 3
	dup     bool                // return series 5 twice
	tenants map[string]bool
}

func (s *soakServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants[r.Header.Get("X-Scope-OrgID")] = true
	switch r.URL.Path {
	case "/api/v1/push":
		s.pushes++
		comp, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, comp)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if s.pushes%3 == 0 {
			http.Error(w, "ingester down", 500)
			return
		}
		for _, ts := range req.Timeseries {
			n, _ := strconv.Atoi(ts.Labels[2].Value)
			if s.lose && n == 3 && len(s.samples[n]) == 0 {
				s.lose = false
				continue
			}
			s.samples[n] = append(s.samples[n], soakPoint{ts: ts.Samples[0].Timestamp, v: ts.Samples[0].Value})
		}
		if s.pushes%5 == 0 {
			http.Error(w, "timeout after the write", 500)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "/prometheus/api/v1/query":
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.FormValue("query"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		ms := expr.(*parser.MatrixSelector)
		vs := ms.VectorSelector.(*parser.VectorSelector)
		sec, _ := strconv.ParseFloat(r.FormValue("time"), 64)
		end := int64(sec * 1000)
		start := end - ms.Range.Milliseconds()
		type series struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		}
		var res []series
		for n, pts := range s.samples {
			ls := labels.FromStrings("__name__", SoakMetric, "group", strconv.Itoa(n/soakGroupSize), "series", strconv.Itoa(n))
			if !matches(vs.LabelMatchers, ls) {
				continue
			}
			sr := series{Metric: ls.Map()}
			for _, p := range pts {
				if p.ts > start && p.ts <= end {
					sr.Values = append(sr.Values, [2]any{float64(p.ts) / 1000, strconv.FormatFloat(p.v, 'f', -1, 64)})
				}
			}
			res = append(res, sr)
			if s.dup && n == 5 {
				res = append(res, sr)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": res}})
	default:
		http.NotFound(w, r)
	}
}

func matches(ms []*labels.Matcher, ls labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

func TestRunSoak(t *testing.T) {
	run := func(lose, dup bool) SoakReport {
		fake := &soakServer{samples: map[int][]soakPoint{}, tenants: map[string]bool{}, lose: lose, dup: dup}
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		cfg := SoakConfig{URL: srv.URL + "/api/v1/push", QueryURL: srv.URL + "/prometheus", Tenant: "soak",
			Series: 45, Interval: 5 * time.Millisecond, Duration: 150 * time.Millisecond,
			Window: 40 * time.Millisecond, Timeout: time.Second}
		rep, err := RunSoak(context.Background(), cfg, nil)
		require.NoError(t, err)
		require.Equal(t, map[string]bool{"soak": true}, fake.tenants)
		require.Equal(t, rep.Rounds, rep.RoundsAcked+rep.RoundsFailed)
		require.Positive(t, rep.RoundsFailed)
		require.Zero(t, rep.ReadFailures)
		return rep
	}

	rep := run(false, false)
	c := rep.Counts
	require.False(t, c.Bad(), "%+v", c)
	require.Equal(t, int64(rep.RoundsAcked*45), c.Acked)
	require.Equal(t, c.Acked, c.Found)
	require.Positive(t, c.UnackedFound) // every fifth push applied, then refused
	// 3 groups; windows of 40ms back from the last round's timestamp to the first.
	require.Equal(t, 3*((rep.Rounds-1)*5/40+1), rep.ReadQueries)
	var text strings.Builder
	rep.WriteText(&text)
	require.Contains(t, text.String(), "PASS")

	c = run(true, false).Counts
	require.Equal(t, int64(1), c.Lost)
	require.True(t, c.Bad())

	// Series 5 comes back twice: each of its stored samples is a duplicate.
	rep = run(false, true)
	require.Equal(t, int64(rep.RoundsAcked)+rep.Counts.UnackedFound/45, rep.Counts.Duplicated)
	text.Reset()
	rep.WriteText(&text)
	require.Contains(t, text.String(), "FAIL")
}
