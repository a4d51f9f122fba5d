package frontend

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// base is the start of the test data: a UTC midnight, so that 24h split
// intervals start there.
var base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// tsdbReader serves one TSDB as the series of every tenant.
type tsdbReader struct{ db *tsdb.DB }

func (r tsdbReader) Querier(_ string, mint, maxt int64) (storage.Querier, error) {
	return r.db.Querier(mint, maxt)
}

func (r tsdbReader) ExemplarQuerier(ctx context.Context, _ string) (storage.ExemplarQuerier, error) {
	return r.db.ExemplarQuerier(ctx)
}

func (r tsdbReader) Metadata(context.Context, string, string, int) ([]wire.Metadata, error) {
	return nil, nil
}

// openTSDB returns a TSDB holding, over 3 days from base at a 30s
// interval: three float series x_total of job="a".."c" whose values are
// awkward for float formatting, a gauge y, and a native histogram series h.
func openTSDB(t testing.TB) *tsdb.DB {
	t.Helper()
	opts := tsdb.DefaultOptions()
	opts.EnableSharding = true // the queries of a sharding frontend select shards
	db, err := tsdb.Open(t.TempDir(), nil, nil, opts, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	app := db.Appender(context.Background())
	end := base.Add(72 * time.Hour).UnixMilli()
	i := int64(0)
	for ts := base.UnixMilli(); ts <= end; ts += 30_000 {
		for j, job := range []string{"a", "b", "c"} {
			v := float64(i)*0.1 + 0.2 + float64(j)/3 // values like 0.30000000000000004
			if j == 2 {
				v = math.Pow(1.0001, float64(i%5000)) * 1e-7
			}
			_, err := app.Append(0, labels.FromStrings("__name__", "x_total", "job", job, "instance", "i"+strconv.Itoa(j%2)), ts, v)
			require.NoError(t, err)
		}
		_, err := app.Append(0, labels.FromStrings("__name__", "y"), ts, float64(i%7))
		require.NoError(t, err)
		_, err = app.AppendHistogram(0, labels.FromStrings("__name__", "h", "job", "a"), ts, tsdbutil.GenerateTestHistogram(i), nil)
		require.NoError(t, err)
		i++
		if i%1000 == 0 {
			require.NoError(t, app.Commit())
			app = db.Appender(context.Background())
		}
	}
	require.NoError(t, app.Commit())
	return db
}

// testLimits returns the default limits changed by edit.
func testLimits(t testing.TB, edit func(*limits.Limits)) *limits.Overrides {
	t.Helper()
	var l limits.Limits
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	l.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	if edit != nil {
		edit(&l)
	}
	return limits.NewOverrides(l, nil)
}

// testConfig returns the default frontend config changed by edit.
func testConfig(t testing.TB, edit func(*Config)) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	if edit != nil {
		edit(&c)
	}
	return c
}

// newQuerier returns the query API of a real querier over db, with the
// querier flags args.
func newQuerier(t testing.TB, db *tsdb.DB, lim *limits.Overrides, args ...string) http.Handler {
	t.Helper()
	var qc querier.Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	qc.RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	q, err := querier.New(qc, tsdbReader{db}, lim, tenant.Resolver{MultiTenancy: true}, querier.Version{Version: "test"}, nil, nil)
	require.NoError(t, err)
	return q.Handler()
}

// recorded is one range query that reached the downstream.
type recorded struct {
	query            string
	start, end, step int64 // ms
}

// recorder counts what reaches h: every request, and the range queries.
type recorder struct {
	h http.Handler

	mu       sync.Mutex
	requests int        // guarded by mu
	ranges   []recorded // guarded by mu
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	rec.mu.Lock()
	rec.requests++
	if isQueryRange(r.URL.Path) {
		s, _ := parseTime(r.Form.Get("start"))
		e, _ := parseTime(r.Form.Get("end"))
		st, _ := parseDuration(r.Form.Get("step"))
		rec.ranges = append(rec.ranges, recorded{r.Form.Get("query"), s, e, st})
	}
	rec.mu.Unlock()
	rec.h.ServeHTTP(w, r)
}

// take returns the range queries recorded since the last call.
func (rec *recorder) take() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.ranges
	rec.ranges = nil
	// Parts run concurrently: in time order.
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// newFrontend returns a frontend in front of h at the fixed time now.
func newFrontend(t testing.TB, cfg Config, h http.Handler, lim *limits.Overrides, now time.Time, opts ...Option) (*Frontend, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	f, err := New(cfg, HandlerTransport(h), lim, tenant.Resolver{MultiTenancy: true}, reg, nil, opts...)
	require.NoError(t, err)
	f.now = func() time.Time { return now }
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f, reg
}

// answer is a decoded answer of the query API.
type answer struct {
	code   int
	header http.Header
	body   []byte
	resp   struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Warnings  []string        `json:"warnings"`
		Infos     []string        `json:"infos"`
		Data      json.RawMessage `json:"data"`
	}
}

// matrix decodes the answer's matrix.
func (a answer) matrix(t *testing.T) model.Matrix {
	t.Helper()
	require.Equal(t, "success", a.resp.Status, string(a.body))
	var data struct {
		ResultType string       `json:"resultType"`
		Result     model.Matrix `json:"result"`
	}
	require.NoError(t, json.Unmarshal(a.resp.Data, &data))
	require.Equal(t, "matrix", data.ResultType)
	return data.Result
}

// do sends one request of the query API to h as tenant id.
func do(t *testing.T, h http.Handler, id, method, path string, params url.Values, header http.Header) answer {
	t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		req = httptest.NewRequest(method, apiPrefix+path+"?"+params.Encode(), nil)
	} else {
		req = httptest.NewRequest(method, apiPrefix+path, stringsReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set(tenant.Header, id)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if len(a.body) > 0 {
		require.NoError(t, json.Unmarshal(a.body, &a.resp), string(a.body))
	}
	return a
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// rangeParams are the parameters of a range query; times are offsets from base.
func rangeParams(q string, start, end, step time.Duration) url.Values {
	return url.Values{
		"query": {q},
		"start": {formatTime(base.Add(start).UnixMilli())},
		"end":   {formatTime(base.Add(end).UnixMilli())},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
}
