package distributor

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// FuzzOTLP feeds the OTLP endpoint arbitrary protobuf and JSON bodies. The
// endpoint must never panic and never answer 5xx (the pusher never fails),
// whatever decodes must survive a protobuf round trip unchanged, and every
// series it stores must have a metric name and valid, sorted labels.
func FuzzOTLP(f *testing.F) {
	seeds := []pmetric.Metrics{
		otlpMetrics([]string{"service.name", "checkout", "service.instance.id", "pod-1"}, func(ms pmetric.MetricSlice) {
			addGauge(ms, "queue.size", "1", 3)
			addSum(ms, "http.requests", "1", pmetric.AggregationTemporalityCumulative, 7, "method", "GET")
		}),
		otlpMetrics(nil, func(ms pmetric.MetricSlice) {
			addHistogram(ms, "latency", "ms")
			addExpHistogram(ms, "size", "By")
		}),
		otlpMetrics([]string{"k", ""}, func(ms pmetric.MetricSlice) {
			addSum(ms, "delta", "", pmetric.AggregationTemporalityDelta, 1)
		}),
	}
	for _, md := range seeds {
		req := pmetricotlp.NewExportRequestFromMetrics(md)
		pb, err := req.MarshalProto()
		require.NoError(f, err)
		js, err := req.MarshalJSON()
		require.NoError(f, err)
		f.Add(pb, false)
		f.Add(js, true)
	}
	f.Add([]byte{}, false)
	f.Add([]byte("{}"), true)
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"","gauge":{"dataPoints":[{"asDouble":"NaN"}]}}]}]}]}`), true)

	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(f, fs.Parse([]string{"-distributor.max-recv-msg-size=65536"}))
	var lim limits.Limits
	lfs := flag.NewFlagSet("", flag.ContinueOnError)
	lim.RegisterFlags(lfs)
	require.NoError(f, lfs.Parse([]string{"-distributor.ingestion-rate-limit=0"}))
	pusher := &capturePusher{}
	d, err := New(cfg, limits.NewOverrides(lim, nil), pusher, tenant.Resolver{MultiTenancy: true}, nil, nil)
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		ct := otlpProto
		if isJSON {
			ct = otlpJSON
		}
		pusher.last.Reset()
		r := httptest.NewRequest(http.MethodPost, "/otlp/v1/metrics", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r.Header.Set(tenant.Header, "fuzz")
		w := httptest.NewRecorder()
		d.ServeOTLP(w, r)
		require.Less(t, w.Code, 500, w.Body.String())
		for _, s := range pusher.last.Series {
			require.NotEmpty(t, s.Labels.Get(labels.MetricName), s.Labels.String())
			require.True(t, s.Labels.IsValid(model.UTF8Validation), s.Labels.String())
			prev := ""
			s.Labels.Range(func(l labels.Label) {
				require.Less(t, prev, l.Name, s.Labels.String())
				prev = l.Name
			})
		}

		req := pmetricotlp.NewExportRequest()
		if isJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			require.GreaterOrEqual(t, w.Code, 400, "an undecodable body was accepted")
			return
		}
		pb, err := req.MarshalProto()
		require.NoError(t, err)
		again := pmetricotlp.NewExportRequest()
		require.NoError(t, again.UnmarshalProto(pb))
		pb2, err := again.MarshalProto()
		require.NoError(t, err)
		require.Equal(t, pb, pb2)
	})
}

// Found by FuzzOTLP: a data point without a timestamp next to a current
// one made Prometheus' translator build a target_info sample every 2m30s
// since 1970 (~12 million, seconds of CPU and GiBs). Such a request is now
// refused before translation, quickly, with nothing stored.
func TestOTLPRefusesHugeTimestampSpan(t *testing.T) {
	pusher := &countingPusher{}
	d := testDistributor(t, pusher)
	md := otlpMetrics([]string{"service.name", "checkout", "service.instance.id", "pod-1"}, func(ms pmetric.MetricSlice) {
		addGauge(ms, "queue.size", "1", 3)
		addGauge(ms, "queue.max", "1", 3)
		ms.At(1).Gauge().DataPoints().At(0).SetTimestamp(0)
	})
	start := time.Now()
	a := doOTLP(t, d, otlpProto, nil, protoBody(t, md))
	require.Equal(t, http.StatusBadRequest, a.code, a.message)
	require.Contains(t, a.message, errIDOTLPTimestampSpan)
	require.Contains(t, a.message, "1970-01-01T00:00:00Z")
	require.Zero(t, pusher.calls)
	require.Less(t, time.Since(start), 5*time.Second, "refused before translation")

	// A day of points in one resource is fine.
	md = otlpMetrics([]string{"service.name", "checkout", "service.instance.id", "pod-1"}, func(ms pmetric.MetricSlice) {
		addGauge(ms, "queue.size", "1", 3)
		addGauge(ms, "queue.max", "1", 3)
		ms.At(1).Gauge().DataPoints().At(0).SetTimestamp(otlpNow - pcommon.Timestamp(24*time.Hour))
	})
	a = doOTLP(t, d, otlpProto, nil, protoBody(t, md))
	require.Equal(t, http.StatusOK, a.code, a.message)
}
