package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// TestRulerAllInOne uploads a rule group to the all-in-one with plain HTTP
// (as curl or mimirtool would), and within 10 s its recording rule's
// series is queryable and its alert is listed by /api/v1/rules and
// /api/v1/alerts; a bad upload is refused with the line of the fault.
func TestRulerAllInOne(t *testing.T) {
	w := startWeft(t, weftOptions{})
	ctx := testContext(t, 2*time.Minute)
	const tenant = "team-rules"
	c := w.Client(tenant)
	now := time.Now()
	var req prompb.WriteRequest
	for i, inst := range []string{"a", "b"} {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  lbls("up", "instance", inst, "job", "api"),
			Samples: []prompb.Sample{{Timestamp: now.UnixMilli(), Value: float64(i)}},
		})
	}
	if err := c.Push(ctx, &req); err != nil {
		t.Fatal(err)
	}

	sendAs := func(tenant, method, path, body string) (int, string) {
		t.Helper()
		r, err := http.NewRequestWithContext(ctx, method, w.URL()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set(tenantHeader, tenant)
		r.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	send := func(method, path, body string) (int, string) {
		t.Helper()
		return sendAs(tenant, method, path, body)
	}
	const group = `name: api
interval: 1s
rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: InstanceDown
    expr: up == 0
    labels:
      severity: page
    annotations:
      summary: "{{ $labels.instance }} is down"
`
	if code, body := send(http.MethodPost, "/prometheus/config/v1/rules/team", "name: bad\nrules:\n  - record: x\n    expr: sum(up\n"); code != http.StatusBadRequest || !strings.Contains(body, "4:11") {
		t.Fatalf("a bad group: %d %s", code, body)
	}
	uploaded := time.Now()
	if code, body := send(http.MethodPost, "/prometheus/config/v1/rules/team", group); code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", code, body)
	}
	if code, body := send(http.MethodGet, "/prometheus/config/v1/rules", ""); code != http.StatusOK || !strings.Contains(body, "team:") || !strings.Contains(body, "job:up:sum") {
		t.Fatalf("list: %d %s", code, body)
	}

	eventually(t, 10*time.Second, 200*time.Millisecond, "the recording rule's series", func() error {
		v, err := c.Query(ctx, "job:up:sum", time.Now())
		if err != nil {
			return err
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 || vec[0].Value != 1 || vec[0].Metric["job"] != "api" {
			return fmt.Errorf("job:up:sum is %v", v)
		}
		return nil
	})
	t.Logf("the recording rule's series was queryable %s after the upload", time.Since(uploaded).Round(100*time.Millisecond))

	var rules struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				File  string `json:"file"`
				Rules []struct {
					Name           string    `json:"name"`
					Health         string    `json:"health"`
					Type           string    `json:"type"`
					LastEvaluation time.Time `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	code, body := send(http.MethodGet, "/prometheus/api/v1/rules?type=alert", "")
	if code != http.StatusOK {
		t.Fatalf("/api/v1/rules: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &rules); err != nil {
		t.Fatal(err)
	}
	if len(rules.Data.Groups) != 1 || rules.Data.Groups[0].File != "team" || len(rules.Data.Groups[0].Rules) != 1 ||
		rules.Data.Groups[0].Rules[0].Name != "InstanceDown" || rules.Data.Groups[0].Rules[0].Health != "ok" || rules.Data.Groups[0].Rules[0].LastEvaluation.IsZero() {
		t.Fatalf("/api/v1/rules?type=alert: %s", body)
	}
	eventually(t, 10*time.Second, 200*time.Millisecond, "the alert in /api/v1/alerts", func() error {
		code, body := send(http.MethodGet, "/prometheus/api/v1/alerts", "")
		if code != http.StatusOK || !strings.Contains(body, `"alertname":"InstanceDown"`) || !strings.Contains(body, `"summary":"a is down"`) {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	// Another tenant sees none of it.
	if code, body := sendAs("someone-else", http.MethodGet, "/prometheus/api/v1/rules", ""); code != http.StatusOK || strings.Contains(body, "InstanceDown") {
		t.Fatalf("another tenant's /api/v1/rules: %d %s", code, body)
	}
	if code, body := sendAs("someone-else", http.MethodGet, "/prometheus/config/v1/rules", ""); code != http.StatusNotFound {
		t.Fatalf("another tenant's rule groups: %d %s", code, body)
	}
}
