package distributor

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// countingPusher captures every request and answers with err after
// storing all but refuse samples.
type countingPusher struct {
	capturePusher
	calls  int
	refuse int
	err    error
}

func (p *countingPusher) Push(ctx context.Context, id string, req *wire.PushRequest) (wire.PushResult, error) {
	p.calls++
	res, _ := p.capturePusher.Push(ctx, id, req)
	res.Samples -= p.refuse
	return res, p.err
}

// otlpMetrics builds an OTLP request of one resource with the attributes
// kv (name, value, ...) and the metrics add appends.
func otlpMetrics(kv []string, add func(ms pmetric.MetricSlice)) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	for i := 0; i+1 < len(kv); i += 2 {
		rm.Resource().Attributes().PutStr(kv[i], kv[i+1])
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("test-scope")
	add(sm.Metrics())
	return md
}

var otlpNow = pcommon.NewTimestampFromTime(time.Now())

func addSum(ms pmetric.MetricSlice, name, unit string, temporality pmetric.AggregationTemporality, v float64, attrs ...string) {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(temporality)
	dp := s.DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpNow)
	dp.SetStartTimestamp(otlpNow - 60e9)
	dp.SetDoubleValue(v)
	for i := 0; i+1 < len(attrs); i += 2 {
		dp.Attributes().PutStr(attrs[i], attrs[i+1])
	}
}

func addGauge(ms pmetric.MetricSlice, name, unit string, v float64) {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpNow)
	dp.SetDoubleValue(v)
}

func addHistogram(ms pmetric.MetricSlice, name, unit string) {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpNow)
	dp.SetCount(3)
	dp.SetSum(1.5)
	dp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	dp.BucketCounts().FromRaw([]uint64{1, 1, 1})
}

func addExpHistogram(ms pmetric.MetricSlice, name, unit string) {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	h := m.SetEmptyExponentialHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(otlpNow)
	dp.SetScale(0)
	dp.SetCount(3)
	dp.SetSum(7)
	dp.Positive().SetOffset(0)
	dp.Positive().BucketCounts().FromRaw([]uint64{1, 2})
}

// otlpAnswer is what the OTLP endpoint answered.
type otlpAnswer struct {
	code       int
	retryAfter string
	rejected   int64
	message    string // partial_success.error_message or google.rpc.Status message
	rpcCode    codes.Code
}

func doOTLP(t *testing.T, d *Distributor, contentType string, hdr map[string]string, body []byte) otlpAnswer {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/otlp/v1/metrics", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.Header.Set(tenant.Header, "team-a")
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	d.ServeOTLP(w, r)
	a := otlpAnswer{code: w.Code, retryAfter: w.Header().Get("Retry-After")}
	isJSON := strings.HasPrefix(contentType, otlpJSON)
	require.Equal(t, responseType(isJSON), w.Header().Get("Content-Type"))
	if w.Code == http.StatusOK {
		resp := pmetricotlp.NewExportResponse()
		if isJSON {
			require.NoError(t, resp.UnmarshalJSON(w.Body.Bytes()), w.Body.String())
		} else {
			require.NoError(t, resp.UnmarshalProto(w.Body.Bytes()))
		}
		a.rejected, a.message = resp.PartialSuccess().RejectedDataPoints(), resp.PartialSuccess().ErrorMessage()
		return a
	}
	var st statuspb.Status
	if isJSON {
		require.NoError(t, protojson.Unmarshal(w.Body.Bytes(), &st), w.Body.String())
	} else {
		require.NoError(t, proto.Unmarshal(w.Body.Bytes(), &st), w.Body.String())
	}
	a.message, a.rpcCode = st.Message, codes.Code(st.Code)
	return a
}

func protoBody(t *testing.T, md pmetric.Metrics) []byte {
	t.Helper()
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	return b
}

func jsonBody(t *testing.T, md pmetric.Metrics) []byte {
	t.Helper()
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
	require.NoError(t, err)
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// seriesNames returns the label sets of the captured series, sorted.
func seriesNames(req wire.PushRequest) []string {
	var out []string
	for _, s := range req.Series {
		out = append(out, s.Labels.String())
	}
	sort.Strings(out)
	return out
}

// The translation is Prometheus 3's, with the tenant's settings: names get
// unit and type suffixes and underscores, service.name/namespace become job,
// service.instance.id instance, and the rest of the resource target_info.
func TestOTLPTranslation(t *testing.T) {
	resource := []string{"service.name", "checkout", "service.namespace", "shop", "service.instance.id", "pod-1", "deployment.environment.name", "prod"}
	f := func(limitFlags []string, add func(ms pmetric.MetricSlice), want ...string) {
		t.Helper()
		p := &countingPusher{}
		d := testDistributor(t, p, limitFlags...)
		a := doOTLP(t, d, otlpProto, nil, protoBody(t, otlpMetrics(resource, add)))
		require.Equal(t, http.StatusOK, a.code, a.message)
		require.Zero(t, a.rejected, a.message)
		require.Equal(t, want, seriesNames(p.last))
	}
	targetInfo := `{__name__="target_info", deployment_environment_name="prod", instance="pod-1", job="shop/checkout"}`

	// Counters get _total, units are spelled out.
	f(nil, func(ms pmetric.MetricSlice) {
		addSum(ms, "http.server.requests", "", pmetric.AggregationTemporalityCumulative, 5, "http.route", "/pay")
		addSum(ms, "net.io", "By", pmetric.AggregationTemporalityCumulative, 5)
	},
		`{__name__="http_server_requests_total", http_route="/pay", instance="pod-1", job="shop/checkout"}`,
		`{__name__="net_io_bytes_total", instance="pod-1", job="shop/checkout"}`,
		targetInfo)
	// Gauges get their unit, classic histograms their series, exponential
	// histograms become native histograms.
	f(nil, func(ms pmetric.MetricSlice) {
		addGauge(ms, "room.temperature", "Cel", 21)
		addHistogram(ms, "rpc.duration", "s")
		addExpHistogram(ms, "payload.size", "By")
	},
		`{__name__="payload_size_bytes", instance="pod-1", job="shop/checkout"}`,
		`{__name__="room_temperature_celsius", instance="pod-1", job="shop/checkout"}`,
		`{__name__="rpc_duration_seconds_bucket", instance="pod-1", job="shop/checkout", le="+Inf"}`,
		`{__name__="rpc_duration_seconds_bucket", instance="pod-1", job="shop/checkout", le="0.1"}`,
		`{__name__="rpc_duration_seconds_bucket", instance="pod-1", job="shop/checkout", le="1"}`,
		`{__name__="rpc_duration_seconds_count", instance="pod-1", job="shop/checkout"}`,
		`{__name__="rpc_duration_seconds_sum", instance="pod-1", job="shop/checkout"}`,
		targetInfo)
	// Promoted resource attributes are labels of every series.
	f([]string{"-distributor.otlp-promote-resource-attributes=deployment.environment.name"}, func(ms pmetric.MetricSlice) {
		addGauge(ms, "room.temperature", "Cel", 21)
	},
		`{__name__="room_temperature_celsius", deployment_environment_name="prod", instance="pod-1", job="shop/checkout"}`,
		targetInfo)
	// NoTranslation keeps the OTLP names, UTF-8 and all.
	f([]string{"-distributor.otlp-translation-strategy=NoTranslation"}, func(ms pmetric.MetricSlice) {
		addSum(ms, "http.server.requests", "", pmetric.AggregationTemporalityCumulative, 5, "http.route", "/pay")
	},
		`{__name__="http.server.requests", "http.route"="/pay", instance="pod-1", job="shop/checkout"}`,
		`{__name__="target_info", "deployment.environment.name"="prod", instance="pod-1", job="shop/checkout"}`)
}

// The metadata of each metric family arrives with its samples, and
// exponential histograms are integer native histograms.
func TestOTLPMetadataAndHistograms(t *testing.T) {
	p := &countingPusher{}
	d := testDistributor(t, p)
	a := doOTLP(t, d, otlpJSON, nil, jsonBody(t, otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addSum(ms, "jobs.done", "", pmetric.AggregationTemporalityCumulative, 3)
		addExpHistogram(ms, "payload.size", "By")
	})))
	require.Equal(t, http.StatusOK, a.code, a.message)
	var types []string
	for _, m := range p.last.Metadata {
		types = append(types, m.MetricFamily+":"+m.Type+":"+m.Unit)
	}
	sort.Strings(types)
	// No target_info: the resource has no attribute besides job.
	require.Equal(t, []string{"jobs_done_total:counter:", "payload_size_bytes:histogram:bytes"}, types)
	for _, s := range p.last.Series {
		if s.Labels.Get(labels.MetricName) == "payload_size_bytes" {
			require.Len(t, s.Histograms, 1)
			require.NotNil(t, s.Histograms[0].H)
			require.Equal(t, uint64(3), s.Histograms[0].H.Count)
		}
	}
}

// Every answer follows OTLP/HTTP: what can never succeed is 400 (413 when
// too large) and stores nothing, refused points are a partial success, and
// 429 and 503 carry Retry-After.
func TestOTLPAnswers(t *testing.T) {
	good := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addSum(ms, "jobs.done", "", pmetric.AggregationTemporalityCumulative, 3)
		addGauge(ms, "queue.length", "", 2)
	})
	withDelta := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addSum(ms, "jobs.done", "", pmetric.AggregationTemporalityCumulative, 3)
		addSum(ms, "bytes.sent", "By", pmetric.AggregationTemporalityDelta, 3)
	})
	onlyDelta := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addSum(ms, "bytes.sent", "By", pmetric.AggregationTemporalityDelta, 3)
	})
	large := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addSum(ms, "jobs.done", "", pmetric.AggregationTemporalityCumulative, 3, "id", strings.Repeat("x", 5000))
		addGauge(ms, "queue.length", "", 2)
	})
	type tc struct {
		name        string
		contentType string
		hdr         map[string]string
		body        []byte
		limitFlags  []string
		pusherErr   error
		refuse      int
		code        int
		rpcCode     codes.Code
		rejected    int64
		retryAfter  bool
		contains    string
		stored      bool
	}
	f := func(c tc) {
		t.Run(c.name, func(t *testing.T) {
			p := &countingPusher{err: c.pusherErr, refuse: c.refuse}
			d := testDistributor(t, p, c.limitFlags...)
			if c.contentType == "" {
				c.contentType = otlpProto
			}
			a := doOTLP(t, d, c.contentType, c.hdr, c.body)
			require.Equal(t, c.code, a.code, a.message)
			require.Equal(t, c.rejected, a.rejected, a.message)
			require.Equal(t, c.retryAfter, a.retryAfter != "", "Retry-After %q", a.retryAfter)
			require.Contains(t, a.message, c.contains)
			if a.code != http.StatusOK {
				require.Equal(t, c.rpcCode, a.rpcCode)
			}
			require.Equal(t, c.stored, p.calls > 0, "pushed to the ingesters")
		})
	}
	f(tc{name: "protobuf", body: protoBody(t, good), code: 200, stored: true})
	f(tc{name: "json", contentType: otlpJSON, body: jsonBody(t, good), code: 200, stored: true})
	f(tc{name: "gzip", hdr: map[string]string{"Content-Encoding": "gzip"}, body: gzipped(t, protoBody(t, good)), code: 200, stored: true})
	f(tc{name: "content type with parameters", contentType: "application/json; charset=utf-8", body: jsonBody(t, good), code: 200, stored: true})

	f(tc{name: "malformed protobuf", body: []byte("\x0a\xff\xff\xff\xff\x0fgarbage"), code: 400, rpcCode: codes.InvalidArgument, contains: "err-weft-otlp-malformed"})
	f(tc{name: "malformed json", contentType: otlpJSON, body: []byte(`{"resourceMetrics": [{"scopeMetrics": [`), code: 400, rpcCode: codes.InvalidArgument, contains: "cannot decode OTLP metrics request"})
	f(tc{name: "malformed gzip", hdr: map[string]string{"Content-Encoding": "gzip"}, body: []byte("not gzip"), code: 400, rpcCode: codes.InvalidArgument, contains: "cannot decompress gzip body"})
	f(tc{name: "truncated protobuf", body: protoBody(t, good)[:40], code: 400, rpcCode: codes.InvalidArgument, contains: "err-weft-otlp-malformed"})
	f(tc{name: "too large", body: protoBody(t, good), limitFlags: []string{"-distributor.otlp-max-request-bytes=50"}, code: 413, rpcCode: codes.InvalidArgument, contains: "otlp_max_request_bytes"})
	f(tc{name: "too large after gzip", hdr: map[string]string{"Content-Encoding": "gzip"}, body: gzipped(t, protoBody(t, large)), code: 413, rpcCode: codes.InvalidArgument, contains: "-distributor.max-recv-msg-size"})
	f(tc{name: "unsupported content type", contentType: "text/plain", body: protoBody(t, good), code: 415, rpcCode: codes.Unimplemented, contains: "application/x-protobuf"})
	f(tc{name: "unsupported encoding", hdr: map[string]string{"Content-Encoding": "snappy"}, body: protoBody(t, good), code: 415, rpcCode: codes.Unimplemented, contains: "gzip"})
	f(tc{name: "no tenant", hdr: map[string]string{tenant.Header: ""}, body: protoBody(t, good), code: 401, rpcCode: codes.Unauthenticated})

	f(tc{name: "delta refused, the rest stored", body: protoBody(t, withDelta), code: 200, rejected: 1, contains: "otlp_delta_temporality: convert", stored: true})
	f(tc{name: "only delta", body: protoBody(t, onlyDelta), code: 400, rpcCode: codes.InvalidArgument, contains: "err-weft-otlp-delta-temporality"})
	f(tc{name: "series limit refuses some", body: protoBody(t, good), pusherErr: wire.Errorf(wire.KindLimit, "err-weft-max-series-per-tenant", "too many series"), refuse: 1, code: 200, rejected: 1, contains: "err-weft-max-series-per-tenant", stored: true})
	f(tc{name: "ingesters unavailable", body: protoBody(t, good), pusherErr: wire.Errorf(wire.KindUnavailable, "", "no quorum"), code: 503, rpcCode: codes.Unavailable, retryAfter: true, contains: "no quorum", stored: true})
	f(tc{name: "rate limited", body: protoBody(t, good), limitFlags: []string{"-distributor.ingestion-rate-limit=1", "-distributor.ingestion-burst-size=1"}, code: 429, rpcCode: codes.ResourceExhausted, retryAfter: true, contains: "err-weft-ingestion-rate-limited"})
}

// Points refused by validation are a partial success; the valid ones are
// stored.
func TestOTLPPartialValidation(t *testing.T) {
	p := &countingPusher{}
	d := testDistributor(t, p, "-validation.max-length-label-value=100")
	md := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addSum(ms, "jobs.done", "", pmetric.AggregationTemporalityCumulative, 3, "id", strings.Repeat("x", 200))
		addGauge(ms, "queue.length", "", 2)
	})
	a := doOTLP(t, d, otlpProto, nil, protoBody(t, md))
	require.Equal(t, http.StatusOK, a.code, a.message)
	require.Equal(t, int64(1), a.rejected)
	require.Contains(t, a.message, "err-weft-label-value-too-long")
	require.Equal(t, []string{`{__name__="queue_length", job="svc"}`}, seriesNames(p.last))
}

// A metric the translator refuses is refused whole, and counted; the other
// metrics of the request are stored.
func TestOTLPUntranslatableMetric(t *testing.T) {
	p := &countingPusher{}
	d := testDistributor(t, p)
	md := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addGauge(ms, "queue.length", "", 2)
		m := ms.AppendEmpty()
		m.SetName("bad.sum")
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityUnspecified)
		s.DataPoints().AppendEmpty().SetTimestamp(otlpNow)
		s.DataPoints().AppendEmpty().SetTimestamp(otlpNow)
	})
	a := doOTLP(t, d, otlpProto, nil, protoBody(t, md))
	require.Equal(t, http.StatusOK, a.code, a.message)
	require.Equal(t, int64(2), a.rejected)
	require.Contains(t, a.message, `"bad.sum"`)
	require.Contains(t, a.message, "err-weft-otlp-untranslatable-metric")
	require.True(t, slices.Contains(seriesNames(p.last), `{__name__="queue_length", job="svc"}`))
}

// A tenant that converts delta temporality gets the running sums, as
// Prometheus' otlp-deltatocumulative feature stores them; a point out of
// order with its stream is refused and counted.
func TestOTLPDeltaToCumulative(t *testing.T) {
	p := &countingPusher{}
	d := testDistributor(t, p, "-distributor.otlp-delta-temporality=convert")
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	t0 := time.Now().Add(-time.Minute)
	send := func(start, end time.Time, v float64) otlpAnswer {
		md := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
			addSum(ms, "bytes.sent", "By", pmetric.AggregationTemporalityDelta, v)
			dp := ms.At(0).Sum().DataPoints().At(0)
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(end))
		})
		return doOTLP(t, d, otlpProto, nil, protoBody(t, md))
	}
	value := func() float64 {
		require.Len(t, p.last.Series, 1)
		require.Equal(t, `{__name__="bytes_sent_total", job="svc"}`, p.last.Series[0].Labels.String())
		return p.last.Series[0].Samples[0].V
	}
	a := send(t0, t0.Add(10*time.Second), 3)
	require.Equal(t, http.StatusOK, a.code, a.message)
	require.Zero(t, a.rejected)
	require.Equal(t, 3.0, value())
	a = send(t0.Add(10*time.Second), t0.Add(20*time.Second), 4)
	require.Equal(t, http.StatusOK, a.code, a.message)
	require.Equal(t, 7.0, value())

	// Another tenant still refuses delta.
	r := httptest.NewRequest(http.MethodPost, "/otlp/v1/metrics", bytes.NewReader(protoBody(t, otlpMetrics(nil, func(ms pmetric.MetricSlice) {
		addSum(ms, "bytes.sent", "By", pmetric.AggregationTemporalityDelta, 1)
	}))))
	r.Header.Set("Content-Type", otlpProto)
	r.Header.Set(tenant.Header, "team-b")
	d2 := testDistributor(t, p)
	w := httptest.NewRecorder()
	d2.ServeOTLP(w, r)
	require.Equal(t, http.StatusBadRequest, w.Code)

	// Out of order with the stream: dropped by the conversion, refused.
	calls := p.calls
	a = send(t0, t0.Add(5*time.Second), 1)
	require.Equal(t, http.StatusBadRequest, a.code, a.message)
	require.Contains(t, a.message, "err-weft-otlp-delta-not-converted")
	require.Equal(t, calls, p.calls, "nothing pushed")
}

// Points refused by validation and by the storage add up, each with its
// reason.
func TestOTLPPartialValidationAndStorage(t *testing.T) {
	p := &countingPusher{refuse: 1, err: wire.Errorf(wire.KindLimit, "err-weft-max-series-per-metric", "too many series")}
	d := testDistributor(t, p, "-validation.max-length-label-value=100")
	md := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addSum(ms, "jobs.done", "", pmetric.AggregationTemporalityCumulative, 3, "id", strings.Repeat("x", 200))
		addGauge(ms, "queue.length", "", 2)
		addGauge(ms, "queue.age", "s", 2)
	})
	a := doOTLP(t, d, otlpProto, nil, protoBody(t, md))
	require.Equal(t, http.StatusOK, a.code, a.message)
	require.Equal(t, int64(2), a.rejected)
	require.Contains(t, a.message, "1 samples were invalid")
	require.Contains(t, a.message, "err-weft-max-series-per-metric")
}

// The translator's warnings are counted by category; they refuse nothing.
func TestOTLPTranslationWarnings(t *testing.T) {
	p := &countingPusher{}
	d := testDistributor(t, p)
	md := otlpMetrics([]string{"service.name", "svc"}, func(ms pmetric.MetricSlice) {
		addGauge(ms, "queue.length", "", 2)
		ms.AppendEmpty().SetName("empty.gauge")
		ms.At(1).SetEmptyGauge()
	})
	a := doOTLP(t, d, otlpProto, nil, protoBody(t, md))
	require.Equal(t, http.StatusOK, a.code, a.message)
	require.Zero(t, a.rejected)
	require.Equal(t, 1.0, testutil.ToFloat64(d.otlpWarnings.WithLabelValues("empty_data_points")))
}
