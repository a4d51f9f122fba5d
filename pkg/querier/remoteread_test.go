package querier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// readPoint is one sample as the tests compare them: a float, or a
// histogram in its text form (exact buckets).
type readPoint struct {
	T int64
	F float64
	H string
}

// readSeries maps a series' labels to its samples.
type readSeries map[string][]readPoint

// appendPoints appends the samples of it.
func appendPoints(t *testing.T, out []readPoint, it chunkenc.Iterator) []readPoint {
	t.Helper()
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		switch vt {
		case chunkenc.ValFloat:
			ts, v := it.At()
			out = append(out, readPoint{T: ts, F: v})
		case chunkenc.ValHistogram:
			ts, h := it.AtHistogram(nil)
			out = append(out, readPoint{T: ts, H: h.String()})
		case chunkenc.ValFloatHistogram:
			ts, h := it.AtFloatHistogram(nil)
			out = append(out, readPoint{T: ts, H: h.String()})
		}
	}
	require.NoError(t, it.Err())
	return out
}

// remoteRead posts one read request to h as tenant id ("" sends none) and
// returns its answer.
func remoteRead(t *testing.T, h http.Handler, id string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Prefix+"/read", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	if id != "" {
		req.Header.Set(tenant.Header, id)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// readRequest encodes a request of one query per matcher list, accepting typ.
func readRequest(t *testing.T, typ prompb.ReadRequest_ResponseType, mint, maxt int64, matchers ...[]*labels.Matcher) []byte {
	t.Helper()
	req := &prompb.ReadRequest{AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{typ}}
	for _, ms := range matchers {
		q, err := remote.ToQuery(mint, maxt, ms, &storage.SelectHints{Start: mint, End: maxt})
		require.NoError(t, err)
		req.Queries = append(req.Queries, q)
	}
	b, err := req.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}

// decodeRead decodes a successful answer of either type into one
// readSeries per query.
func decodeRead(t *testing.T, rec *httptest.ResponseRecorder, queries int) []readSeries {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	out := make([]readSeries, queries)
	for i := range out {
		out[i] = readSeries{}
	}
	if rec.Header().Get("Content-Type") == "application/x-protobuf" {
		require.Equal(t, "snappy", rec.Header().Get("Content-Encoding"))
		b, err := snappy.Decode(nil, rec.Body.Bytes())
		require.NoError(t, err)
		var resp prompb.ReadResponse
		require.NoError(t, resp.Unmarshal(b))
		require.Len(t, resp.Results, queries)
		for i, res := range resp.Results {
			set := remote.FromQueryResult(false, res)
			for set.Next() {
				out[i][set.At().Labels().String()] = appendPoints(t, nil, set.At().Iterator(nil))
			}
			require.NoError(t, set.Err())
		}
		return out
	}
	require.Equal(t, "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse", rec.Header().Get("Content-Type"))
	cr := remote.NewChunkedReader(rec.Body, 50<<20, nil)
	prev := map[int64]string{}
	for {
		var resp prompb.ChunkedReadResponse
		err := cr.NextProto(&resp)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		for _, s := range resp.ChunkedSeries {
			b := labels.NewScratchBuilder(len(s.Labels))
			key := s.ToLabels(&b, nil).String()
			require.LessOrEqual(t, prev[resp.QueryIndex], key, "the series of a query are sorted")
			prev[resp.QueryIndex] = key
			for _, c := range s.Chunks {
				require.Contains(t, []prompb.Chunk_Encoding{prompb.Chunk_XOR, prompb.Chunk_HISTOGRAM, prompb.Chunk_FLOAT_HISTOGRAM}, c.Type, "encodings that Prometheus 2 reads")
				chk, err := chunkenc.FromData(chunkenc.Encoding(c.Type), c.Data)
				require.NoError(t, err)
				out[resp.QueryIndex][key] = appendPoints(t, out[resp.QueryIndex][key], chk.Iterator(nil))
			}
		}
	}
	return out
}

var readTypes = []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS}

func TestRemoteReadAnswersStoredSamples(t *testing.T) {
	r := newFakeReader(t, "a")
	for i := range 3 {
		r.add(t, labels.FromStrings(labels.MetricName, "m", "i", fmt.Sprint(i)), func(ts int64) float64 { return float64(ts)/1000 + float64(i)/3 }, span(0, 300*minute, 15000)...)
	}
	r.add(t, labels.FromStrings(labels.MetricName, "special"), func(ts int64) float64 {
		return []float64{math.Inf(1), math.Inf(-1), -0.5, 1e300}[ts/minute%4]
	}, span(0, 10*minute, minute)...)
	r.addHistograms(t, labels.FromStrings(labels.MetricName, "h"), span(0, 60*minute, minute)...)
	h := newTestQuerier(t, r)

	all := func(mint, maxt int64, ms ...*labels.Matcher) readSeries {
		qr, err := r.db.Querier(mint, maxt)
		require.NoError(t, err)
		defer qr.Close()
		out := readSeries{}
		set := qr.Select(t.Context(), false, nil, ms...)
		for set.Next() {
			out[set.At().Labels().String()] = appendPoints(t, nil, set.At().Iterator(nil))
		}
		require.NoError(t, set.Err())
		return out
	}
	m := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "m"), labels.MustNewMatcher(labels.MatchRegexp, "i", "0|2")}
	hist := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, "h|special")}
	for _, typ := range readTypes {
		t.Run(typ.String(), func(t *testing.T) {
			got := decodeRead(t, remoteRead(t, h, "a", readRequest(t, typ, 10*minute, 250*minute, m, hist)), 2)
			want := all(10*minute, 250*minute, m...)
			require.Len(t, want, 2)
			require.Len(t, want[`{__name__="m", i="0"}`], 961)
			require.Equal(t, want, got[0])
			want = all(10*minute, 250*minute, hist...)
			require.Len(t, want, 2)
			require.Equal(t, want, got[1])

			// Another tenant sees none of it.
			got = decodeRead(t, remoteRead(t, h, "b", readRequest(t, typ, 0, 300*minute, m, hist)), 2)
			require.Equal(t, []readSeries{{}, {}}, got)
		})
	}
}

func TestRemoteReadLimits(t *testing.T) {
	eachPath(t, newTSDBStore(t), func(t *testing.T, r wire.Reader) {
		now := time.Now()
		h := limitsQuerier(t, r, map[string]func(*limits.Limits){
			"series":   func(l *limits.Limits) { l.MaxFetchedSeriesPerQuery = 5 },
			"samples":  func(l *limits.Limits) { l.MaxSamplesPerQuery = 100 },
			"length":   func(l *limits.Limits) { l.MaxQueryLength = model.Duration(time.Hour) },
			"lookback": func(l *limits.Limits) { l.MaxQueryLookback = model.Duration(now.Sub(time.UnixMilli(60 * minute))) },
		}, nil, nil)
		all := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "m")}
		few := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "m"), labels.MustNewMatcher(labels.MatchRegexp, "i", "[0-4]")}
		refused := func(id string, typ prompb.ReadRequest_ResponseType, mint, maxt int64, ms []*labels.Matcher, code int, id2 string) {
			t.Helper()
			rec := remoteRead(t, h, id, readRequest(t, typ, mint, maxt, ms))
			require.Equal(t, code, rec.Code, rec.Body.String())
			var resp apiResponse
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
			require.Contains(t, resp.Error, id2)
		}
		for _, typ := range readTypes {
			t.Run(typ.String(), func(t *testing.T) {
				refused("series", typ, 0, 120*minute, all, http.StatusUnprocessableEntity, "err-weft-max-fetched-series-per-query")
				got := decodeRead(t, remoteRead(t, h, "series", readRequest(t, typ, 0, 120*minute, few)), 1)
				require.Len(t, got[0], 5, "5 series are within the limit")

				refused("samples", typ, 0, 120*minute, all, http.StatusUnprocessableEntity, "max_samples_per_query")
				two := []*labels.Matcher{few[0], labels.MustNewMatcher(labels.MatchRegexp, "i", "0|1")}
				got = decodeRead(t, remoteRead(t, h, "samples", readRequest(t, typ, 0, 29*15000, two, two)), 2)
				require.Len(t, got[1][`{__name__="m", i="1"}`], 30, "each query has its own budget: 60 samples twice would pass 100 once")

				refused("length", typ, 0, 120*minute, few, http.StatusUnprocessableEntity, "err-weft-max-query-length")
				got = decodeRead(t, remoteRead(t, h, "length", readRequest(t, typ, 0, 60*minute, few)), 1)
				require.Len(t, got[0][`{__name__="m", i="0"}`], 241)

				// The lookback clamps the start: samples from minute 60 on.
				got = decodeRead(t, remoteRead(t, h, "lookback", readRequest(t, typ, 0, 120*minute, few)), 1)
				pts := got[0][`{__name__="m", i="0"}`]
				require.NotEmpty(t, pts)
				require.GreaterOrEqual(t, pts[0].T, int64(60*minute))
				require.Equal(t, int64(120*minute), pts[len(pts)-1].T)

				got = decodeRead(t, remoteRead(t, h, "other", readRequest(t, typ, 0, 120*minute, all)), 1)
				require.Len(t, got[0], 10, "another tenant has no limit")
			})
		}
	})
}

func TestRemoteReadBadRequests(t *testing.T) {
	h := newTestQuerier(t, newFakeReader(t, "a"))
	f := func(id string, body []byte, code int, contains string) {
		t.Helper()
		rec := remoteRead(t, h, id, body)
		require.Equal(t, code, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), contains)
	}
	m := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "m")}
	f("a", []byte("not snappy"), http.StatusBadRequest, "cannot decode the remote read request")
	f("a", snappy.Encode(nil, []byte{0xff, 0xff, 0xff}), http.StatusBadRequest, "cannot decode the remote read request")
	f("", readRequest(t, prompb.ReadRequest_SAMPLES, 0, 1, m), http.StatusUnauthorized, "")
	f("a", readRequest(t, prompb.ReadRequest_ResponseType(9), 0, 1, m), http.StatusBadRequest, "does not support any of the requested response types")
	f("a", readRequest(t, prompb.ReadRequest_SAMPLES, 0, 1, nil), http.StatusBadRequest, "at least one matcher")
	f("a", readRequest(t, prompb.ReadRequest_SAMPLES, 2, 1, m), http.StatusBadRequest, "ends (1) before it starts (2)")
	bad := &prompb.ReadRequest{Queries: []*prompb.Query{{Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "a", Value: "("}}}}}
	b, err := bad.Marshal()
	require.NoError(t, err)
	f("a", snappy.Encode(nil, b), http.StatusBadRequest, "cannot decode the matchers")
	// Six bytes that claim 4 GiB decompressed are refused before any
	// allocation for them.
	f("a", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, http.StatusBadRequest, "claims 4294967295 bytes decompressed")

	// A Content-Length above the bound is refused before the body is read.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, Prefix+"/read", bytes.NewReader(readRequest(t, prompb.ReadRequest_SAMPLES, 0, 1, m)))
	req.ContentLength = remoteReadMaxRequestBytes + 1
	req.Header.Set(tenant.Header, "a")
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "larger than the limit")

	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodGet, Prefix+"/read", nil)
	req.Header.Set(tenant.Header, "a")
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

// A limit passed once a streamed answer has started cuts the connection:
// the client sees a broken stream, not a short answer it would take for a
// whole one.
func TestRemoteReadStreamCutOnLateLimit(t *testing.T) {
	s := newTSDBStore(t)
	lim := testOverrides(t, map[string]func(*limits.Limits){"t": func(l *limits.Limits) { l.MaxFetchedSeriesPerQuery = 5 }})
	for _, hold := range []int{1, remoteReadMaxBytesInFrame} {
		h := &remoteReadHandler{q: tenantQueryable{reader: s, limits: lim, now: time.Now}, limits: lim, timeout: time.Minute, logger: slog.New(slog.DiscardHandler), marshalPool: &sync.Pool{}, hold: hold}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), "t")))
		}))
		t.Cleanup(srv.Close)
		body := readRequest(t, prompb.ReadRequest_STREAMED_XOR_CHUNKS, 0, 120*minute, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "m")})
		resp, err := http.Post(srv.URL, "application/x-protobuf", bytes.NewReader(body))
		require.NoError(t, err)
		if hold > 1 {
			// Small enough to be held whole: the limit's status.
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(b))
			require.Contains(t, string(b), "err-weft-max-fetched-series-per-query")
			continue
		}
		require.Equal(t, http.StatusOK, resp.StatusCode)
		cr := remote.NewChunkedReader(resp.Body, 50<<20, nil)
		series := 0
		for {
			var res prompb.ChunkedReadResponse
			err = cr.NextProto(&res)
			if err != nil {
				break
			}
			series += len(res.ChunkedSeries)
		}
		resp.Body.Close()
		// The frames sent before the cut may be lost with the connection.
		require.LessOrEqual(t, series, 5, "no series past the limit")
		require.Error(t, err)
		require.NotErrorIs(t, err, io.EOF, "the stream is cut, not ended")
	}
}

// A remote read runs under the tenant's query timeout: 503, as the query
// API answers a timeout.
func TestRemoteReadTimeout(t *testing.T) {
	s := newTSDBStore(t)
	s.slow = true
	h := limitsQuerier(t, s, map[string]func(*limits.Limits){
		"t": func(l *limits.Limits) { l.QueryTimeout = model.Duration(100 * time.Millisecond) },
	}, nil, nil)
	m := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "m")}
	for _, typ := range readTypes {
		rec := remoteRead(t, h, "t", readRequest(t, typ, 0, 120*minute, m))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), "err-weft-query-timeout")
	}
}
