package integration

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
)

// uiSeries pushes the series that web/ui/e2e/e2e.mjs expects for tenant:
// three counters of weft_e2e_requests_total (jobs api and db) over the last
// 30 minutes, with metadata for the metrics explorer.
func uiSeries(ctx context.Context, t *testing.T, c *apiClient) {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	req := &prompb.WriteRequest{Metadata: []prompb.MetricMetadata{{
		Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "weft_e2e_requests_total", Help: "Requests served, for the UI's end-to-end test.",
	}}}
	for i, inst := range [][2]string{{"api", "a"}, {"api", "b"}, {"db", "c"}} {
		ts := prompb.TimeSeries{Labels: lbls("weft_e2e_requests_total", "job", inst[0], "instance", inst[1])}
		for at := now.Add(-30 * time.Minute); !at.After(now); at = at.Add(15 * time.Second) {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: at.UnixMilli(), Value: float64(len(ts.Samples) * (i + 1))})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	if err := c.Push(ctx, req); err != nil {
		t.Fatalf("cannot push the UI's series: %v", err)
	}
}

// TestUIInBrowser drives the web UI in Debian's chromium (playwright-core,
// installed in web/ui by npm ci) against a real all-in-one weft with
// multi-tenancy: autocompletion, graph, annotations, explorer, explain tree,
// cardinality, notebooks (sanitised markdown, reload, isolation between
// tenants, Grafana export, 409 on a stale save, restore). It fails, rather
// than skips, without node or chromium: scripts/test.sh installs them.
// WEFT_E2E_STOP_AFTER=explain stops before the cardinality and notebook
// steps.
func TestUIInBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: scripts/test.sh installs it (Debian package nodejs)")
	}
	browser := os.Getenv("CHROMIUM")
	if browser == "" {
		browser = "/usr/bin/chromium"
	}
	if !fileExists(browser) {
		t.Fatalf("%s is not installed: scripts/test.sh installs Debian's chromium", browser)
	}
	if !fileExists(filepath.Join("..", "web", "ui", "node_modules", "playwright-core", "package.json")) {
		t.Fatal("playwright-core is not installed in web/ui: run npm ci there (scripts/test.sh does)")
	}
	run := func(t *testing.T, ctx context.Context, url string, env ...string) {
		artifacts := t.TempDir()
		cmd := exec.CommandContext(ctx, node, filepath.Join("e2e", "e2e.mjs"))
		cmd.Dir = filepath.Join("..", "web", "ui")
		cmd.Env = append(append(os.Environ(), "WEFT_URL="+url, "CHROMIUM="+browser, "WEFT_E2E_ARTIFACTS="+artifacts), env...)
		out, err := cmd.CombinedOutput()
		t.Logf("e2e.mjs:\n%s", out)
		if err != nil {
			t.Fatalf("the browser test failed: %v", err)
		}
	}
	t.Run("all-in-one", func(t *testing.T) {
		ctx := testContext(t, 4*time.Minute)
		w := startWeft(t, weftOptions{Args: []string{"-auth.multitenancy-enabled=true"}})
		uiSeries(ctx, t, w.Client("team-a"))
		run(t, ctx, w.URL())
	})
	// The distributed query path: the UI and its notebooks served by a
	// process that runs the ui role beside a query-frontend, in front of
	// a querier, an ingester and a distributor, each its own process.
	t.Run("distributed", func(t *testing.T) {
		ctx := testContext(t, 4*time.Minute)
		c := newCluster(t, 4, "-distributor.replication-factor=1", "-auth.multitenancy-enabled=true")
		c.startIngester("ing-1")
		dist := c.start("distributor", "distributor")
		qr := c.start("querier", "querier")
		waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), dist, qr)
		fe := c.start("frontend-ui", "query-frontend,ui", "-query-frontend.downstream-url="+qr.URL())
		uiSeries(ctx, t, dist.Client("team-a"))
		run(t, ctx, fe.URL())
	})
	// With -auth.type=tokens the UI logs in with a bearer token first and
	// sends it on every call (up to the explain steps: the notebook steps
	// open a second tab, which has no session).
	t.Run("tokens", func(t *testing.T) {
		ctx := testContext(t, 4*time.Minute)
		tokens := filepath.Join(t.TempDir(), "tokens.yaml")
		file := "credentials:\n" +
			"- token_sha256: " + hexSHA256("ui-writer") + "\n  tenants: [team-a]\n  scopes: [write]\n" +
			"- token_sha256: " + hexSHA256("ui-reader") + "\n  tenants: [team-a]\n  scopes: [read]\n"
		if err := os.WriteFile(tokens, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		w := startWeft(t, weftOptions{Args: []string{"-auth.type=tokens", "-auth.tokens-file=" + tokens}})
		writer := w.Client("team-a")
		writer.hc = &http.Client{Timeout: 60 * time.Second, Transport: bearerTransport{token: "ui-writer"}}
		uiSeries(ctx, t, writer)
		run(t, ctx, w.URL(), "WEFT_E2E_TOKEN=ui-reader", "WEFT_E2E_STOP_AFTER=explain")
	})
}

// bearerTransport adds a bearer token to every request.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
