package distributor

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// blockingPusher holds every push until release is closed, telling
// entered when one arrives.
type blockingPusher struct {
	entered chan struct{}
	release chan struct{}
}

func (p *blockingPusher) Push(ctx context.Context, _ string, req *wire.PushRequest) (wire.PushResult, error) {
	p.entered <- struct{}{}
	<-p.release
	s, h, e := req.Counts()
	return wire.PushResult{Samples: s, Histograms: h, Exemplars: e}, nil
}

func instanceLimitedDistributor(t *testing.T, pusher wire.Pusher, reg prometheus.Registerer, flags ...string) *Distributor {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(flags))
	d, err := New(cfg, limits.NewOverrides(*defaultLimits(t), nil), pusher, tenant.Resolver{MultiTenancy: true}, reg, nil)
	require.NoError(t, err)
	return d
}

func pushRequest(body io.Reader, length int64) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/push", body)
	r.ContentLength = length
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set(tenant.Header, "t")
	return r
}

// The push over the limit of requests in flight is refused with 503 and
// its ID, counted; once the others finish, pushes pass again.
func TestMaxInflightPushRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := &blockingPusher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	d := instanceLimitedDistributor(t, p, reg, "-distributor.instance-limits.max-inflight-push-requests=1")
	body := v1Body(t, []string{"__name__", "up"})

	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, pushRequest(bytes.NewReader(body), int64(len(body))))
		done <- w.Code
	}()
	<-p.entered
	require.Equal(t, 1.0, testutil.ToFloat64(gauge(t, reg, "weft_distributor_inflight_push_requests")))

	a := doPush(t, d, http.MethodPost, "t", nil, body)
	require.Equal(t, http.StatusServiceUnavailable, a.code)
	require.Contains(t, a.error, errIDMaxInflightRequests)
	require.Contains(t, a.error, "-distributor.instance-limits.max-inflight-push-requests")
	require.Equal(t, 1.0, testutil.ToFloat64(d.inflight.rejected.WithLabelValues(limitInflightRequests)))

	close(p.release)
	require.Equal(t, http.StatusNoContent, <-done)
	go func() { <-p.entered }()
	require.Equal(t, http.StatusNoContent, doPush(t, d, http.MethodPost, "t", nil, body).code)
	require.Equal(t, 0.0, testutil.ToFloat64(gauge(t, reg, "weft_distributor_inflight_push_requests")))
}

// A push whose declared length would take the bytes in flight over the
// limit is refused before its body is read; a push without a declared
// length is counted once read.
func TestMaxInflightPushBytes(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := instanceLimitedDistributor(t, &capturePusher{}, reg, "-distributor.instance-limits.max-inflight-push-requests-bytes=1000")
	body := v1Body(t, []string{"__name__", "up"})
	require.Less(t, len(body), 200)

	// A slow sender: 800 bytes declared, held in flight while its body is
	// not sent.
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		d.ServeHTTP(w, pushRequest(pr, 800))
		done <- w.Code
	}()
	require.Eventually(t, func() bool { return d.inflight.bytes.Load() == 800 }, 5e9, 1e6)

	over := pushRequest(strings.NewReader(strings.Repeat("x", 300)), 300)
	w := httptest.NewRecorder()
	d.ServeHTTP(w, over)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Contains(t, w.Body.String(), errIDMaxInflightBytes)
	require.Contains(t, w.Body.String(), `"errorType":"unavailable"`)
	require.Equal(t, 1.0, testutil.ToFloat64(d.inflight.rejected.WithLabelValues(limitInflightBytes)))

	// Undeclared: counted as read, and it fits.
	w = httptest.NewRecorder()
	d.ServeHTTP(w, pushRequest(bytes.NewReader(body), -1))
	require.Equal(t, http.StatusNoContent, w.Code)

	// The slow sender finishes (its body is shorter than declared: a
	// bad request), and its bytes are released.
	_, _ = pw.Write(body)
	_ = pw.Close()
	<-done
	require.Equal(t, int64(0), d.inflight.bytes.Load())
	require.Equal(t, http.StatusNoContent, doPush(t, d, http.MethodPost, "t", nil, body).code)
	require.Equal(t, 1000.0, testutil.ToFloat64(gauge(t, reg, "weft_distributor_instance_limits", limitInflightBytes)))
}

// gauge returns the collector of the metric name (with the given label
// values) gathered from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labelValues ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := true
			for i, lp := range m.GetLabel() {
				if i < len(labelValues) && lp.GetValue() != labelValues[i] {
					ok = false
				}
			}
			if ok {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: name}, func() float64 { return m.GetGauge().GetValue() })
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labelValues)
	return nil
}
