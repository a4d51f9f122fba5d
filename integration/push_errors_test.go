package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// pushAnswer is what one push got back.
type pushAnswer struct {
	code int
	err  *apiError // nil on 2xx
}

func (c *apiClient) pushAnswer(t *testing.T, body []byte, hdr map[string]string) pushAnswer {
	t.Helper()
	code, b, err := c.PushRaw(context.Background(), body, hdr)
	if err != nil {
		t.Fatalf("push failed: %v", err)
	}
	a := pushAnswer{code: code}
	if code/100 != 2 {
		a.err = newAPIError(code, b)
	}
	return a
}

// wantPushError checks the status and that the body is the Prometheus error
// envelope whose message contains every one of contains.
func wantPushError(t *testing.T, a pushAnswer, code int, errType string, contains ...string) {
	t.Helper()
	if a.code != code {
		t.Errorf("status %d, want %d (body %v)", a.code, code, a.err)
		return
	}
	if a.err == nil {
		return
	}
	if a.err.Status != "error" || a.err.ErrorType == "" || a.err.Message == "" {
		t.Errorf("body is not the Prometheus error envelope {\"status\":\"error\",\"errorType\":...,\"error\":...}: %s", a.err.Body)
		return
	}
	if errType != "" && a.err.ErrorType != errType {
		t.Errorf("errorType %q, want %q (error %q)", a.err.ErrorType, errType, a.err.Message)
	}
	for _, s := range contains {
		if !strings.Contains(a.err.Message, s) {
			t.Errorf("error %q does not contain %q", a.err.Message, s)
		}
	}
	t.Logf("HTTP %d %s: %s", a.code, a.err.ErrorType, a.err.Message)
}

func writeRequest(series ...prompb.TimeSeries) []byte {
	return encodeWriteRequest(&prompb.WriteRequest{Timeseries: series})
}

func oneSample(ls []prompb.Label, ts int64, v float64) prompb.TimeSeries {
	return prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Timestamp: ts, Value: v}}}
}

// TestPushErrorsOverHTTP sends bad pushes to the real binary and checks the
// status (401, 415, 400, 429), the Prometheus error envelope, that the
// message names the offending series, and that the valid series of a
// partly invalid request are stored anyway.
func TestPushErrorsOverHTTP(t *testing.T) {
	t.Parallel()
	rc := filepath.Join(t.TempDir(), "runtime.yaml")
	if err := os.WriteFile(rc, []byte(`overrides:
  limited:
    ingestion_rate: 10
    ingestion_burst_size: 100
    max_series_per_tenant: 5
`), 0o644); err != nil {
		t.Fatal(err)
	}
	w := startWeft(t, weftOptions{Args: []string{"-runtime-config.file", rc, "-runtime-config.reload-period=200ms"}})
	ctx := testContext(t, 2*time.Minute)
	c := w.Client("errors")
	now := time.Now().Truncate(time.Second).UnixMilli()
	ts := now - 60_000
	good := writeRequest(oneSample(lbls("good_metric", "job", "e"), ts, 1))

	// stored checks that the series has exactly the want samples (in ms).
	stored := func(t *testing.T, c *apiClient, ls []prompb.Label, want ...int64) {
		t.Helper()
		got, err := c.RawSamples(ctx, selectorOf(ls), now-10*60_000, now+60_000)
		if err != nil {
			t.Fatalf("cannot query %s: %v", selectorOf(ls), err)
		}
		pts := got[metricKey(ls)]
		if len(pts) != len(want) {
			t.Errorf("%s has %d samples, want %d: %v", selectorOf(ls), len(pts), len(want), pts)
			return
		}
		for _, ts := range want {
			if _, ok := pts[ts]; !ok {
				t.Errorf("%s has no sample at %d: %v", selectorOf(ls), ts, pts)
			}
		}
	}

	t.Run("no tenant header", func(t *testing.T) {
		wantPushError(t, c.WithTenant("").pushAnswer(t, good, nil), http.StatusUnauthorized, "", tenantHeader)
	})
	t.Run("invalid tenant", func(t *testing.T) {
		wantPushError(t, c.WithTenant("../etc").pushAnswer(t, good, nil), http.StatusBadRequest, "bad_data", "tenant")
	})
	t.Run("wrong content type", func(t *testing.T) {
		wantPushError(t, c.pushAnswer(t, good, map[string]string{"Content-Type": "application/json"}), http.StatusUnsupportedMediaType, "", "application/json")
	})
	t.Run("unknown proto", func(t *testing.T) {
		wantPushError(t, c.pushAnswer(t, good, map[string]string{"Content-Type": "application/x-protobuf;proto=foo.Bar"}), http.StatusUnsupportedMediaType, "", "foo.Bar")
	})
	t.Run("GET", func(t *testing.T) {
		code, body, err := c.rawGetURL(ctx, c.pushURL)
		if err != nil {
			t.Fatal(err)
		}
		wantPushError(t, pushAnswer{code: code, err: newAPIError(code, body)}, http.StatusMethodNotAllowed, "", "POST")
	})
	t.Run("not snappy", func(t *testing.T) {
		wantPushError(t, c.pushAnswer(t, []byte("this is not a snappy block, it is plain text"), nil), http.StatusBadRequest, "bad_data", "snappy")
	})
	t.Run("snappy of garbage", func(t *testing.T) {
		// Field 1 with wire type 7, which does not exist.
		wantPushError(t, c.pushAnswer(t, snappy.Encode(nil, []byte{0x0f, 0xff, 0xff, 0x01, 0x02}), nil), http.StatusBadRequest, "bad_data", "protobuf")
		// A time series (field 1, length-delimited) longer than the body.
		wantPushError(t, c.pushAnswer(t, snappy.Encode(nil, []byte{0x0a, 0x64, 0x0a, 0x02}), nil), http.StatusBadRequest, "bad_data", "protobuf")
	})

	// Invalid series next to a valid one: 400 naming the invalid series;
	// the valid series is stored.
	invalid := []struct {
		name     string
		series   []prompb.Label
		contains []string
	}{
		{"unsorted labels", []prompb.Label{{Name: "__name__", Value: "unsorted_metric"}, {Name: "zone", Value: "z"}, {Name: "app", Value: "a"}}, []string{"unsorted_metric", "labels are not sorted", "err-weft-unsorted-labels"}},
		// The metric name after another label: the fault is the order, not
		// a missing name.
		{"metric name after a label", []prompb.Label{{Name: "job", Value: "a"}, {Name: "__name__", Value: "late_name_metric"}}, []string{"late_name_metric", `labels are not sorted: "__name__" comes after "job"`, "err-weft-unsorted-labels"}},
		{"duplicate label names", []prompb.Label{{Name: "__name__", Value: "dup_metric"}, {Name: "app", Value: "a"}, {Name: "app", Value: "b"}}, []string{"dup_metric", `"app"`, "err-weft-duplicate-label-names"}},
		// In the default utf8 name validation any valid UTF-8 is a valid
		// name, so the invalid name has bytes that are not UTF-8.
		{"metric name not UTF-8", []prompb.Label{{Name: "__name__", Value: "bad_utf8_\xff_metric"}, {Name: "job", Value: "e"}}, []string{"bad_utf8_", "err-weft-invalid-metric-name"}},
		{"label value not UTF-8", []prompb.Label{{Name: "__name__", Value: "bad_value_metric"}, {Name: "job", Value: "\xfe\xff"}}, []string{"bad_value_metric", "err-weft-invalid-label-value"}},
		{"no metric name", []prompb.Label{{Name: "job", Value: "nameless"}}, []string{"nameless", "err-weft-missing-metric-name"}},
	}
	for i, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			ok := lbls("partial_ok_metric", "case", fmt.Sprint(i))
			body := writeRequest(oneSample(tc.series, ts, 1), oneSample(ok, ts, 2))
			wantPushError(t, c.pushAnswer(t, body, nil), http.StatusBadRequest, "bad_data", tc.contains...)
			stored(t, c, ok, ts)
		})
	}
	// Names outside the legacy charset: valid in the default utf8 scheme
	// (and queryable with quoted names), refused with -validation.name-validation-scheme=legacy.
	dotted := []prompb.Label{{Name: "__name__", Value: "http.requests"}, {Name: "job", Value: "e"}, {Name: "k8s.pod", Value: "p"}}
	t.Run("utf8 names", func(t *testing.T) {
		if a := c.pushAnswer(t, writeRequest(oneSample(dotted, ts, 7)), nil); a.code/100 != 2 {
			t.Fatalf("push of a UTF-8 metric name in utf8 mode: %v", a.err)
		}
		v, err := c.Query(ctx, `{"http.requests", "k8s.pod"="p"}`, time.UnixMilli(now))
		if err != nil {
			t.Fatal(err)
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || vec[0].Value != 7 || vec[0].Metric["k8s.pod"] != "p" {
			t.Errorf(`{"http.requests"} = %v, want the pushed sample`, v)
		}
	})
	t.Run("legacy names", func(t *testing.T) {
		lw := startWeft(t, weftOptions{Args: []string{"-validation.name-validation-scheme=legacy"}})
		lc := lw.Client("legacy")
		ok := lbls("legacy_ok_metric", "job", "e")
		wantPushError(t, lc.pushAnswer(t, writeRequest(oneSample(dotted, ts, 1), oneSample(ok, ts, 1)), nil),
			http.StatusBadRequest, "bad_data", "http.requests", "err-weft-invalid-metric-name")
		stored(t, lc, ok, ts)
		badLabel := []prompb.Label{{Name: "__name__", Value: "legacy_metric"}, {Name: "k8s.pod", Value: "p"}}
		wantPushError(t, lc.pushAnswer(t, writeRequest(oneSample(badLabel, ts, 1)), nil),
			http.StatusBadRequest, "bad_data", "legacy_metric", `"k8s.pod"`, "err-weft-invalid-label-name")
		lw.Stop()
	})
	t.Run("too far in the future", func(t *testing.T) {
		ls := lbls("future_metric", "job", "e")
		future := now + time.Hour.Milliseconds()
		body := writeRequest(prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Timestamp: ts, Value: 1}, {Timestamp: future, Value: 2}}})
		wantPushError(t, c.pushAnswer(t, body, nil), http.StatusBadRequest, "bad_data", "future_metric", "future", "err-weft-sample-too-far-in-future")
		stored(t, c, ls, ts) // the valid sample of the same series is kept
	})
	t.Run("out of order", func(t *testing.T) {
		ls := lbls("ooo_metric", "job", "e")
		if a := c.pushAnswer(t, writeRequest(oneSample(ls, ts, 1)), nil); a.code/100 != 2 {
			t.Fatalf("valid push: %v", a.err)
		}
		wantPushError(t, c.pushAnswer(t, writeRequest(oneSample(ls, ts-10_000, 1)), nil), http.StatusBadRequest, "bad_data", "ooo_metric")
	})

	// Limits of the tenant "limited" from the runtime file.
	lc := c.WithTenant("limited")
	var limited [][]prompb.Label
	for i := 0; i < 6; i++ {
		limited = append(limited, lbls("limited_metric", "i", fmt.Sprint(i)))
	}
	t.Run("series limit", func(t *testing.T) {
		var first []prompb.TimeSeries
		for _, ls := range limited[:5] {
			first = append(first, oneSample(ls, ts, 1))
		}
		if a := lc.pushAnswer(t, writeRequest(first...), nil); a.code/100 != 2 {
			t.Fatalf("5 series of a tenant limited to 5: %v", a.err)
		}
		a := lc.pushAnswer(t, writeRequest(oneSample(limited[5], ts, 1)), nil)
		wantPushError(t, a, http.StatusTooManyRequests, "", `i="5"`, "limit of 5 series", "err-weft-max-series-per-tenant")
		// Existing series still take samples.
		if a := lc.pushAnswer(t, writeRequest(oneSample(limited[0], ts+1000, 1)), nil); a.code/100 != 2 {
			t.Fatalf("new sample of an existing series of a tenant at its series limit: %v", a.err)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		// 150 samples in one request can never fit a burst of 100.
		var big []prompb.TimeSeries
		for _, ls := range limited[1:4] {
			s := prompb.TimeSeries{Labels: ls}
			for j := 0; j < 50; j++ {
				s.Samples = append(s.Samples, prompb.Sample{Timestamp: ts + 1000 + int64(j)*100, Value: float64(j)})
			}
			big = append(big, s)
		}
		wantPushError(t, lc.pushAnswer(t, writeRequest(big...), nil), http.StatusTooManyRequests, "", "rate limit", "err-weft-ingestion-rate-limited")
		// Nothing of a refused request is stored.
		stored(t, lc, limited[1], ts)
		// 60 samples fit what is left of the burst (about 93 tokens), a
		// second 60 right after do not (the rate refills 10 per second).
		sixty := func(from int64) []byte {
			var ss []prompb.TimeSeries
			for _, ls := range limited[1:4] {
				s := prompb.TimeSeries{Labels: ls}
				for j := 0; j < 20; j++ {
					s.Samples = append(s.Samples, prompb.Sample{Timestamp: from + int64(j)*100, Value: float64(j)})
				}
				ss = append(ss, s)
			}
			return writeRequest(ss...)
		}
		if a := lc.pushAnswer(t, sixty(ts+10_000), nil); a.code/100 != 2 {
			t.Fatalf("60 samples within the burst: %v", a.err)
		}
		wantPushError(t, lc.pushAnswer(t, sixty(ts+20_000), nil), http.StatusTooManyRequests, "", "rate limit")
	})
	t.Run("runtime config reload", func(t *testing.T) {
		if err := os.WriteFile(rc, []byte(`overrides:
  limited:
    ingestion_rate: 10
    ingestion_burst_size: 100
    max_series_per_tenant: 6
`), 0o644); err != nil {
			t.Fatal(err)
		}
		// The 6th series is refused until the new limit is in force.
		eventually(t, 30*time.Second, 300*time.Millisecond, "the raised series limit in force", func() error {
			if a := lc.pushAnswer(t, writeRequest(oneSample(limited[5], ts, 1)), nil); a.err != nil {
				return a.err
			}
			return nil
		})
		body, err := httpGet(ctx, w.URL()+"/runtime_config")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(body, "max_series_per_tenant: 6") {
			t.Errorf("/runtime_config does not show the new limit:\n%s", body)
		}
	})
	t.Run("other tenants are not limited", func(t *testing.T) {
		var many []prompb.TimeSeries
		for i := 0; i < 20; i++ {
			many = append(many, oneSample(lbls("unlimited_metric", "i", fmt.Sprint(i)), ts, 1))
		}
		if a := c.pushAnswer(t, writeRequest(many...), nil); a.code/100 != 2 {
			t.Fatalf("20 series of a tenant with default limits: %v", a.err)
		}
	})
	t.Run("nothing crosses tenants", func(t *testing.T) {
		v, err := c.WithTenant("limited").Query(ctx, "count({__name__=~\"good_metric|partial_ok_metric|unlimited_metric\"})", time.UnixMilli(now))
		if err != nil {
			t.Fatal(err)
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) != 0 {
			t.Errorf("tenant limited sees another tenant's series: %v", v)
		}
	})
}

// rawGetURL fetches an absolute URL with the client's tenant.
func (c *apiClient) rawGetURL(ctx context.Context, u string) (int, []byte, error) {
	cc := *c
	cc.apiURL = u
	return cc.rawGet(ctx, "", nil, nil)
}
