package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// TestOTLPDistributed sends OTLP from the OpenTelemetry Go SDK's exporter to
// a distributor process, which translates it and writes it through the ring
// to two ingesters (RF=2) like a remote-write push; a querier process
// answers PromQL with Prometheus 3's names. A malformed request stores
// nothing on any ingester.
func TestOTLPDistributed(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	c := newCluster(t, 4,
		"-distributor.replication-factor=2",
		"-ingester.ring.heartbeat-period=1s",
		"-ingester.ring.heartbeat-timeout=10s",
	)
	ids := []string{"ing-1", "ing-2"}
	var ings []*weftProcess
	for _, id := range ids {
		ings = append(ings, c.startIngester(id))
	}
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), dist, qr)

	const tenant = "otel-team"
	exp, err := otlpmetrichttp.New(ctx,
		otlpmetrichttp.WithEndpointURL(dist.URL()+"/otlp/v1/metrics"),
		otlpmetrichttp.WithHeaders(map[string]string{tenantHeader: tenant}),
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "api"),
			attribute.String("service.instance.id", "api-0"),
			attribute.String("host.name", "node-7"))),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))),
		sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "rpc.size"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})))
	m := mp.Meter("weft.integration")
	calls, err := m.Int64Counter("rpc.calls")
	if err != nil {
		t.Fatal(err)
	}
	calls.Add(ctx, 42, metric.WithAttributes(attribute.String("rpc.method", "Get")))
	size, err := m.Int64Histogram("rpc.size", metric.WithUnit("By"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{10, 20, 30, 40} {
		size.Record(ctx, v)
	}
	if err := mp.ForceFlush(ctx); err != nil {
		t.Fatalf("the SDK's export failed: %v", err)
	}
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	q := qr.Client(tenant)
	for expr, want := range map[string]float64{
		`rpc_calls_total{job="api",instance="api-0",rpc_method="Get"}`:    42,
		`histogram_count(rpc_size_bytes{job="api",instance="api-0"})`:     4,
		`histogram_sum(rpc_size_bytes{job="api",instance="api-0"})`:       100,
		`target_info{job="api",instance="api-0",host_name="node-7"}`:      1,
		`count({__name__=~"rpc_calls_total|rpc_size_bytes|target_info"})`: 3,
	} {
		v, err := q.Query(ctx, expr, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 || float64(vec[0].Value) != want {
			t.Errorf("%s = %v, want %g", expr, v, want)
		}
	}
	counts, err := seriesCounts(ctx, tenant, ings)
	if err != nil {
		t.Fatal(err)
	}
	if counts[0] != 3 || counts[1] != 3 {
		t.Errorf("series per ingester %v, want 3 on each (RF=2 over 2 ingesters)", counts)
	}

	// Malformed: 400, nothing stored anywhere.
	const bad = "otel-bad"
	code, body := postRaw(ctx, t, dist.URL()+"/otlp/v1/metrics", bad, "application/x-protobuf", []byte("\x0a\xff\xff\xff\xff\x0fgarbage"))
	if code != http.StatusBadRequest {
		t.Errorf("malformed protobuf answered %d %q, want 400", code, body)
	}
	code, body = postRaw(ctx, t, dist.URL()+"/otlp/v1/metrics", bad, "application/json", []byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asDouble":1}]}}`))
	if code != http.StatusBadRequest {
		t.Errorf("malformed JSON answered %d %q, want 400", code, body)
	}
	counts, err = seriesCounts(ctx, bad, ings)
	if err != nil {
		t.Fatal(err)
	}
	if counts[0] != 0 || counts[1] != 0 {
		t.Errorf("series of %s per ingester %v after malformed requests, want none", bad, counts)
	}
}

func postRaw(ctx context.Context, t *testing.T, url, tenant, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(tenantHeader, tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, fmt.Sprintf("%q", b)
}
