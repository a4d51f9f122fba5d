package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// readRecorder is a proxy in front of weft's remote read endpoint that
// records what each request accepted and how it was answered, to show
// which response type the real Prometheus asked for and got.
type readRecorder struct {
	URL string

	mu    sync.Mutex
	reads []string // "<accepted types> -> <status> <content-type>"
}

func startReadRecorder(t *testing.T, target string) *readRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rr := &readRecorder{}
	accepted := func(r *http.Request) string {
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return err.Error()
		}
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			return err.Error()
		}
		var req prompb.ReadRequest
		if err := req.Unmarshal(raw); err != nil {
			return err.Error()
		}
		return fmt.Sprint(req.AcceptedResponseTypes)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			rr.mu.Lock()
			defer rr.mu.Unlock()
			rr.reads = append(rr.reads, fmt.Sprintf("%s -> %d %s", resp.Request.Header.Get("X-Accepted"), resp.StatusCode, resp.Header.Get("Content-Type")))
			return nil
		},
		FlushInterval: -1,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Accepted", accepted(r))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rr.URL = srv.URL
	return rr
}

func (rr *readRecorder) Reads() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]string(nil), rr.reads...)
}

// startReadingPrometheus starts the Debian Prometheus with no scrape
// targets and a remote_read of readURL (read_recent, since everything in
// weft is recent for it), and waits until it is ready.
func startReadingPrometheus(t *testing.T, binary, readURL string) *prometheusProcess {
	t.Helper()
	dir := t.TempDir()
	p := &prometheusProcess{Addr: freeAddr(t), LogPath: filepath.Join(dir, "prometheus.log"), exited: make(chan struct{})}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1m
remote_read:
  - url: %s
    read_recent: true
    remote_timeout: 30s
`, readURL)
	runPrometheus(t, p, binary, dir, "prometheus", cfg, "debug")
	return p
}

// rrValue is the value of sample k of series s in the remote read test:
// negative, fractional, tiny and huge values, all exact in a float64.
func rrValue(s, k int) float64 {
	switch k % 5 {
	case 0:
		return float64(s*1000 + k)
	case 1:
		return -0.25 * float64(k)
	case 2:
		return 1e-300 * float64(s+1)
	case 3:
		return math.MaxFloat64 / float64(k+s+1)
	default:
		return float64(k) + 0.1
	}
}

// TestRemoteReadFromPrometheus points a real Prometheus' remote_read at
// weft (through its query-frontend and query-scheduler, the all-in-one's
// path) and checks that its own PromQL answers from weft's data, exactly;
// then it reads both response types from weft directly.
func TestRemoteReadFromPrometheus(t *testing.T) {
	requirePrometheus(t)
	// Multi-tenancy off: Debian's 2.42 sends no remote_read headers.
	w := startWeft(t, weftOptions{Args: []string{"-auth.multitenancy-enabled=false"}})
	ctx := testContext(t, 4*time.Minute)
	wc := w.Client("")

	const series, samples = 3, 80 // a sample every 15s for 20 minutes
	end := time.Now().Truncate(time.Minute).Add(-time.Minute)
	start := end.Add(-time.Duration(samples-1) * 15 * time.Second)
	want := map[string]map[int64]float64{}
	req := &prompb.WriteRequest{}
	for s := range series {
		ls := lbls("rr_metric", "series", fmt.Sprint(s), "job", "rr")
		ts := prompb.TimeSeries{Labels: ls}
		pts := map[int64]float64{}
		for k := range samples {
			at := start.Add(time.Duration(k) * 15 * time.Second).UnixMilli()
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: at, Value: rrValue(s, k)})
			pts[at] = rrValue(s, k)
		}
		req.Timeseries = append(req.Timeseries, ts)
		want[model.Metric{"__name__": "rr_metric", "series": model.LabelValue(fmt.Sprint(s)), "job": "rr"}.String()] = pts
	}
	if err := wc.Push(ctx, req); err != nil {
		t.Fatal(err)
	}

	// Debian's 2.42 accepts only SAMPLES (it sends no accepted types); a
	// Prometheus 3 (not in CI: set WEFT_PROMETHEUS3 to its binary) asks
	// for streamed chunks first.
	t.Run("debian-2.42", func(t *testing.T) {
		readThroughPrometheus(t, w, prometheusBinary, start, end, want, "[] -> 200 application/x-protobuf")
	})
	t.Run("prometheus-3", func(t *testing.T) {
		bin := os.Getenv("WEFT_PROMETHEUS3")
		if bin == "" {
			t.Skip("set WEFT_PROMETHEUS3 to a Prometheus 3 binary to read through it as well")
		}
		readThroughPrometheus(t, w, bin, start, end, want, "[STREAMED_XOR_CHUNKS SAMPLES] -> 200 application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
	})

	// Both response types, asked directly.
	for _, typ := range []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS} {
		got, err := remoteReadAll(ctx, w.URL()+"/prometheus/api/v1/read", typ, start.UnixMilli(), end.UnixMilli(),
			labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "rr_metric"))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-pushed +read):\n%s", typ, diff)
		}
	}
}

// readThroughPrometheus starts binary with a remote_read of w (through a
// readRecorder) and checks that its answers are weft's data: the raw
// samples want of rr_metric over [start, end] and PromQL over them. Every
// remote read it makes must be wantRead (accepted types -> answer).
func readThroughPrometheus(t *testing.T, w *weftProcess, binary string, start, end time.Time, want map[string]map[int64]float64, wantRead string) {
	ctx := testContext(t, 3*time.Minute)
	wc := w.Client("")
	rec := startReadRecorder(t, w.URL())
	p := startReadingPrometheus(t, binary, rec.URL+"/prometheus/api/v1/read")
	pc := p.Client()

	// Prometheus' raw samples are weft's, exactly.
	got, err := pc.RawSamples(ctx, "rr_metric", start.UnixMilli(), end.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Prometheus reading weft (-pushed +read):\n%s", diff)
	}

	// Its PromQL over them equals weft's own over the same data. The
	// steps fall between samples: a range that starts on a sample holds it
	// in 2.42's engine and not in 3.x's (left-open ranges).
	for _, expr := range []string{
		`rr_metric`,
		`sum by (series) (count_over_time(rr_metric[5m]))`,
		`max_over_time(rr_metric{series="1"}[3m])`,
		`rr_metric{series=~"0|2"} * 2`,
		`timestamp(rr_metric)`,
	} {
		from, to := start.Add(7*time.Second), end.Add(-time.Minute)
		pv, err := pc.QueryRange(ctx, expr, from, to, 30*time.Second)
		if err != nil {
			t.Fatalf("Prometheus %s: %v", expr, err)
		}
		wv, err := wc.QueryRange(ctx, expr, from, to, 30*time.Second)
		if err != nil {
			t.Fatalf("weft %s: %v", expr, err)
		}
		if len(canonical(pv)) == 0 {
			t.Fatalf("Prometheus %s: empty", expr)
		}
		if diff := cmp.Diff(canonical(wv), canonical(pv)); diff != "" {
			t.Errorf("%s (-weft +Prometheus reading weft):\n%s", expr, diff)
		}
	}

	// Every query above read from weft, as wantRead.
	reads := rec.Reads()
	if len(reads) < 6 {
		t.Fatalf("Prometheus made %d remote reads for its 6 queries", len(reads))
	}
	t.Logf("Prometheus' remote reads: %q", reads[:1])
	for _, r := range reads {
		if r != wantRead {
			t.Errorf("remote read %q, want %q", r, wantRead)
		}
	}
}

// remoteReadAll reads the float samples of the series matching ms in
// [mint, maxt] with one remote read query answered as typ.
func remoteReadAll(ctx context.Context, readURL string, typ prompb.ReadRequest_ResponseType, mint, maxt int64, ms ...*labels.Matcher) (map[string]map[int64]float64, error) {
	q, err := remote.ToQuery(mint, maxt, ms, &storage.SelectHints{Start: mint, End: maxt})
	if err != nil {
		return nil, err
	}
	raw, err := (&prompb.ReadRequest{Queries: []*prompb.Query{q}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{typ}}).Marshal()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, readURL, bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	out := map[string]map[int64]float64{}
	add := func(ls labels.Labels, it chunkenc.Iterator) error {
		m := model.Metric{}
		ls.Range(func(l labels.Label) { m[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		pts := out[m.String()]
		if pts == nil {
			pts = map[int64]float64{}
			out[m.String()] = pts
		}
		for it.Next() == chunkenc.ValFloat {
			t, v := it.At()
			pts[t] = v
		}
		return it.Err()
	}
	switch ct := resp.Header.Get("Content-Type"); {
	case typ == prompb.ReadRequest_SAMPLES && ct == "application/x-protobuf":
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if b, err = snappy.Decode(nil, b); err != nil {
			return nil, err
		}
		var rr prompb.ReadResponse
		if err := rr.Unmarshal(b); err != nil {
			return nil, err
		}
		set := remote.FromQueryResult(false, rr.Results[0])
		for set.Next() {
			if err := add(set.At().Labels(), set.At().Iterator(nil)); err != nil {
				return nil, err
			}
		}
		return out, set.Err()
	case typ == prompb.ReadRequest_STREAMED_XOR_CHUNKS && ct == "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse":
		cr := remote.NewChunkedReader(resp.Body, 50<<20, nil)
		for {
			var res prompb.ChunkedReadResponse
			err := cr.NextProto(&res)
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			for _, s := range res.ChunkedSeries {
				b := labels.NewScratchBuilder(len(s.Labels))
				ls := s.ToLabels(&b, nil)
				for _, c := range s.Chunks {
					chk, err := chunkenc.FromData(chunkenc.Encoding(c.Type), c.Data)
					if err != nil {
						return nil, err
					}
					if err := add(ls, chk.Iterator(nil)); err != nil {
						return nil, err
					}
				}
			}
		}
	default:
		return nil, fmt.Errorf("answered %s to %s", ct, typ)
	}
}
