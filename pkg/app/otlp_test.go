package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// postOTLP sends body to /otlp/v1/metrics as tenant.
func postOTLP(t *testing.T, base, tenantID, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/otlp/v1/metrics", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Scope-OrgID", tenantID)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// seriesCount is the number of series matching sel of tenant, now.
func seriesCount(t *testing.T, base, tenantID, sel string) string {
	t.Helper()
	code, ans := query(t, base, tenantID, "count("+sel+")")
	require.Equal(t, http.StatusOK, code, ans)
	return vectorValue(t, ans)
}

// The OpenTelemetry Go SDK's OTLP/HTTP exporter is the client: counters,
// gauges, histograms and exponential histograms arrive, and PromQL finds
// them under the names Prometheus 3 gives them by default
// (UnderscoreEscapingWithSuffixes), with service.namespace/service.name as
// job, service.instance.id as instance, the rest of the resource in
// target_info, and the tenant's promoted resource attribute on every series.
func TestOTLPFromTheOpenTelemetrySDK(t *testing.T) {
	base := startApp(t, "-distributor.otlp-promote-resource-attributes=deployment.environment.name")
	ctx := context.Background()

	for _, compression := range []otlpmetrichttp.Compression{otlpmetrichttp.NoCompression, otlpmetrichttp.GzipCompression} {
		tenantID := fmt.Sprintf("otel-%d", compression)
		exp, err := otlpmetrichttp.New(ctx,
			otlpmetrichttp.WithEndpointURL(base+"/otlp/v1/metrics"),
			otlpmetrichttp.WithHeaders(map[string]string{"X-Scope-OrgID": tenantID}),
			otlpmetrichttp.WithCompression(compression),
			otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
		require.NoError(t, err)
		res := resource.NewSchemaless(
			attribute.String("service.name", "checkout"),
			attribute.String("service.namespace", "shop"),
			attribute.String("service.instance.id", "pod-1"),
			attribute.String("deployment.environment.name", "prod"),
			attribute.String("telemetry.sdk.language", "go"))
		mp := sdkmetric.NewMeterProvider(
			sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))),
			sdkmetric.WithView(sdkmetric.NewView(
				sdkmetric.Instrument{Name: "app.payload.size"},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})))
		m := mp.Meter("weft.test/otlp")

		requests, err := m.Int64Counter("app.requests", metric.WithUnit("{request}"))
		require.NoError(t, err)
		requests.Add(ctx, 5, metric.WithAttributes(attribute.String("http.route", "/pay")))
		sent, err := m.Int64Counter("app.sent", metric.WithUnit("By"))
		require.NoError(t, err)
		sent.Add(ctx, 1024)
		queue, err := m.Int64UpDownCounter("app.queue.depth")
		require.NoError(t, err)
		queue.Add(ctx, 3)
		temp, err := m.Float64Gauge("app.temperature", metric.WithUnit("Cel"))
		require.NoError(t, err)
		temp.Record(ctx, 21.5)
		latency, err := m.Float64Histogram("app.latency", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.1, 1))
		require.NoError(t, err)
		// A measurement within a sampled span carries an exemplar.
		traced := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
		}))
		for _, v := range []float64{0.05, 0.5, 2} {
			latency.Record(traced, v)
		}
		size, err := m.Float64Histogram("app.payload.size", metric.WithUnit("By"))
		require.NoError(t, err)
		for _, v := range []float64{100, 200, 300} {
			size.Record(ctx, v)
		}
		require.NoError(t, mp.ForceFlush(ctx), "the export succeeds with no partial_success")
		require.NoError(t, mp.Shutdown(ctx))

		ids := `job="shop/checkout",instance="pod-1",deployment_environment_name="prod"`
		for q, want := range map[string]string{
			`app_requests_total{` + ids + `,http_route="/pay"}`:    "5",
			`app_sent_bytes_total{` + ids + `}`:                    "1024",
			`app_queue_depth{` + ids + `}`:                         "3",
			`app_temperature_celsius{` + ids + `}`:                 "21.5",
			`app_latency_seconds_count{` + ids + `}`:               "3",
			`app_latency_seconds_sum{` + ids + `}`:                 "2.55",
			`app_latency_seconds_bucket{` + ids + `,le="1"}`:       "2",
			`app_latency_seconds_bucket{` + ids + `,le="+Inf"}`:    "3",
			`histogram_count(app_payload_size_bytes{` + ids + `})`: "3",
			`histogram_sum(app_payload_size_bytes{` + ids + `})`:   "600",
			`target_info{` + ids + `,telemetry_sdk_language="go"}`: "1",
		} {
			code, ans := query(t, base, tenantID, q)
			require.Equal(t, http.StatusOK, code, ans)
			require.Equal(t, want, vectorValue(t, ans), "%s (tenant %s)", q, tenantID)
		}
		// Exemplars arrive with their trace and span IDs as labels.
		now := time.Now().Unix()
		code, ex := tenantJSON(t, fmt.Sprintf("%s/prometheus/api/v1/query_exemplars?query=app_latency_seconds_bucket&start=%d&end=%d", base, now-300, now+60), tenantID)
		require.Equal(t, http.StatusOK, code, ex)
		require.Contains(t, fmt.Sprint(ex["data"]), "trace_id:01020300000000000000000000000000", ex)
		// The metadata arrives too, with Prometheus' types.
		code, md := tenantJSON(t, base+"/prometheus/api/v1/metadata?metric=app_requests_total", tenantID)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, fmt.Sprint(md["data"]), "counter", md)
	}
}

// tenantJSON GETs url as tenant and decodes the answer.
func tenantJSON(t *testing.T, url, tenantID string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", tenantID)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return resp.StatusCode, out
}

// The SDK's exporter sends only protobuf: JSON is sent by hand, as the
// OTLP/HTTP JSON mapping spells it, and is answered in JSON. Malformed and
// oversized requests get 400 and 413 with a google.rpc.Status and store
// nothing; the size limit is the tenant's.
func TestOTLPJSONAndBadInput(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "runtime.yaml")
	require.NoError(t, os.WriteFile(rc, []byte("overrides:\n  small:\n    otlp_max_request_bytes: 400\n    otlp_translation_strategy: NoUTF8EscapingWithSuffixes\n"), 0o644))
	base := startApp(t, "-runtime-config.file="+rc)

	doc := func(name string, value float64, pad int) []byte {
		return fmt.Appendf(nil, `{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},
"scopeMetrics":[{"metrics":[{"name":%q,"unit":"s","gauge":{"dataPoints":[{"timeUnixNano":"%d","asDouble":%g,
"attributes":[{"key":"pad","value":{"stringValue":%q}}]}]}}]}]}]}`, name, time.Now().UnixNano(), value, strings.Repeat("x", pad))
	}

	code, hdr, body := postOTLP(t, base, "json", "application/json", doc("json.wait", 7, 0))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	require.NotContains(t, string(body), "rejected", "no partial_success")
	code, ans := query(t, base, "json", `json_wait_seconds{job="json-svc"}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "7", vectorValue(t, ans))

	// Malformed: nothing stored, never retried.
	for _, c := range []struct{ contentType, body string }{
		{"application/x-protobuf", "\x0a\xff\xff\xff\xff\x0fgarbage"},
		{"application/json", `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"json.broken","gauge":{"dataPoints":[{"asDouble":1}`},
		{"application/json", `{"resourceMetrics": "not a list"}`},
	} {
		code, hdr, body := postOTLP(t, base, "bad", c.contentType, []byte(c.body))
		require.Equal(t, http.StatusBadRequest, code, string(body))
		require.Empty(t, hdr.Get("Retry-After"))
		st := decodeStatus(t, c.contentType, body)
		require.Equal(t, int32(3), st.Code, "INVALID_ARGUMENT")
		require.Contains(t, st.Message, "err-weft-otlp-malformed")
	}
	require.Empty(t, seriesCount(t, base, "bad", `{__name__=~".+"}`), "a malformed request stores nothing")

	// Over the tenant's limit: 413, nothing stored; other tenants are not
	// bound by it.
	code, _, body = postOTLP(t, base, "small", "application/json", doc("json.big", 1, 500))
	require.Equal(t, http.StatusRequestEntityTooLarge, code, string(body))
	st := decodeStatus(t, "application/json", body)
	require.Contains(t, st.Message, "otlp_max_request_bytes")
	require.Contains(t, st.Message, "err-weft-otlp-request-too-large")
	require.Empty(t, seriesCount(t, base, "small", `{__name__=~".+"}`), "an oversized request stores nothing")
	code, _, body = postOTLP(t, base, "json", "application/json", doc("json.big", 1, 500))
	require.Equal(t, http.StatusOK, code, string(body))
	// A small one passes, named by the tenant's translation strategy.
	code, _, body = postOTLP(t, base, "small", "application/json", doc("json.small", 1, 0))
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "1", seriesCount(t, base, "small", `{"json.small_seconds"}`))
}

func decodeStatus(t *testing.T, contentType string, body []byte) *statuspb.Status {
	t.Helper()
	var st statuspb.Status
	if contentType == "application/json" {
		require.NoError(t, protojson.Unmarshal(body, &st), string(body))
	} else {
		require.NoError(t, proto.Unmarshal(body, &st), string(body))
	}
	return &st
}
