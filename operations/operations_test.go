// Package operations holds no code: its tests check weft's own alerting and
// recording rules (rules/*.yml) and Grafana dashboards (dashboards/*.json).
// The rules must pass Debian's promtool, every expression must parse as
// PromQL, and every metric they read must be one weft really exports.
package operations

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/app"
	"github.com/weft-io/weft/pkg/logutil"
)

// runbookURL is the prefix of every alert's runbook_url; the anchor is the
// alert name in lower case, as GitHub names the section "## <AlertName>".
const runbookURL = "https://github.com/weft-io/weft/blob/main/docs/runbooks.md#"

// needActivity lists the metrics the rules and dashboards read that a fresh
// weft does not expose yet: a vector shows up with its first label set, after
// the event it counts. Each must still appear as a string literal in weft's
// code (checked below), so the list cannot hide a misspelt name.
var needActivity = map[string]string{
	"weft_alertmanager_notifications_total":            "first notification of a tenant",
	"weft_alertmanager_notifications_failed_total":     "first notification of a tenant",
	"weft_distributor_ha_deduplicated_samples_total":   "first HA-pair push",
	"weft_distributor_otlp_translation_warnings_total": "first OTLP push with untranslatable data",
	"weft_ingester_block_ship_failures_total":          "first failed block upload",
	"weft_ingester_blocks_shipped_total":               "first block upload (after the head is compacted)",
	"weft_ingester_discarded_samples_total":            "first sample the ingester refuses",
	"weft_ingester_refused_pushes_total":               "first push refused for a full disk or a failed WAL write",
	"weft_query_scheduler_cancelled_requests_total":    "first query queued in a query-scheduler",
	"weft_query_scheduler_discarded_requests_total":    "first query queued in a query-scheduler",
	"weft_query_scheduler_queue_length":                "first query queued in a query-scheduler",
	"weft_storegateway_block_unloads_total":            "first block unloaded",
	"weft_storegateway_bucket_read_bytes_total":        "first block read from the bucket",
	"weft_storegateway_bucket_reads_total":             "first block read from the bucket",
	"weft_auth_tokens_file_last_reload_successful":     "-auth.type=tokens only",
	"weft_tls_certificate_expiry_timestamp_seconds":    "TLS configured",
	"weft_tls_certificate_reloads_total":               "TLS configured, and its files changed",
	"weft_ingester_wal_sync_failures_total":            "-ingester.wal-sync-before-ack only",
	"weft_querier_ingester_replicas_left_out_total":    "distributed querier, first ingester left out of a read",
}

func ruleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("rules", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no rule files in operations/rules")
	return files
}

func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards in operations/dashboards")
	return files
}

// TestPromtoolCheckRules runs Debian's promtool (package prometheus, which
// scripts/test.sh installs) on every rule file, then on the rules' unit
// tests.
func TestPromtoolCheckRules(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed (apt-get install prometheus): %v", err)
	}
	for _, f := range ruleFiles(t) {
		out, err := exec.Command(bin, "check", "rules", f).CombinedOutput()
		require.NoError(t, err, "promtool check rules %s:\n%s", f, out)
	}
	// Unit tests of some alerts, on synthetic series.
	tests, err := filepath.Glob(filepath.Join("tests", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, tests, "no rule unit tests in operations/tests")
	for _, f := range tests {
		out, err := exec.Command(bin, "test", "rules", f).CombinedOutput()
		require.NoError(t, err, "promtool test rules %s:\n%s", f, out)
	}
}

// expr is one PromQL expression of the rules or dashboards, with where it
// comes from for the failure messages.
type expr struct {
	where, query string
}

// loadRules parses the rule files and returns their expressions, the names
// of the recording rules and the alerts (name → runbook_url).
func loadRules(t *testing.T) (exprs []expr, recorded map[string]bool, alerts map[string]string) {
	t.Helper()
	recorded, alerts = map[string]bool{}, map[string]string{}
	for _, f := range ruleFiles(t) {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
		require.Empty(t, errs, "cannot parse %s", f)
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				name := r.Alert
				if r.Record != "" {
					name = r.Record
					recorded[r.Record] = true
				} else {
					require.NotContains(t, alerts, r.Alert, "alert %s is defined twice", r.Alert)
					alerts[r.Alert] = r.Annotations["runbook_url"]
					require.NotEmpty(t, r.Labels["severity"], "alert %s has no severity label", r.Alert)
					require.NotEmpty(t, r.Annotations["summary"], "alert %s has no summary", r.Alert)
				}
				exprs = append(exprs, expr{fmt.Sprintf("%s: %s", f, name), r.Expr})
			}
		}
	}
	return exprs, recorded, alerts
}

// grafanaVars are Grafana's built-in variables, replaced by a duration
// before parsing; the dashboards' own variables ($job, $tenant) only ever
// appear inside label matchers' strings, where they parse as they are.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "${__rate_interval}", "5m",
	"$__interval", "1m", "${__interval}", "1m",
	"$__range", "1h", "${__range}", "1h",
)

var labelValuesRE = regexp.MustCompile(`^label_values\((?:(.*),\s*)?(\w+)\)$`)

// dashboardPanel is the part of a Grafana panel the test reads; rows may
// nest panels.
type dashboardPanel struct {
	Title   string           `json:"title"`
	Type    string           `json:"type"`
	Panels  []dashboardPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// loadDashboards parses the dashboards and returns their expressions,
// including the queries of their template variables.
func loadDashboards(t *testing.T) []expr {
	t.Helper()
	var exprs []expr
	for _, f := range dashboardFiles(t) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d struct {
			UID        string           `json:"uid"`
			Title      string           `json:"title"`
			Panels     []dashboardPanel `json:"panels"`
			Templating struct {
				List []struct {
					Name       string `json:"name"`
					Type       string `json:"type"`
					Definition string `json:"definition"`
				} `json:"list"`
			} `json:"templating"`
		}
		require.NoError(t, json.Unmarshal(b, &d), "%s is not valid JSON", f)
		require.NotEmpty(t, d.UID, "%s has no uid", f)
		// A dashboard is found in Grafana's list by its title.
		require.True(t, strings.HasPrefix(d.Title, "weft / "), "%s is titled %q, not \"weft / <what it shows>\"", f, d.Title)
		targets := 0
		var walk func([]dashboardPanel)
		walk = func(ps []dashboardPanel) {
			for _, p := range ps {
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				require.NotEmpty(t, p.Targets, "%s: panel %q has no targets", f, p.Title)
				for _, tg := range p.Targets {
					require.NotEmpty(t, tg.Expr, "%s: panel %q has an empty target", f, p.Title)
					exprs = append(exprs, expr{fmt.Sprintf("%s: panel %q", f, p.Title), grafanaVars.Replace(tg.Expr)})
					targets++
				}
			}
		}
		walk(d.Panels)
		require.NotZero(t, targets, "%s has no queries", f)
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValuesRE.FindStringSubmatch(v.Definition)
			require.NotNil(t, m, "%s: variable %s: want label_values(<selector>, <label>), got %q", f, v.Name, v.Definition)
			if m[1] != "" {
				exprs = append(exprs, expr{fmt.Sprintf("%s: variable %s", f, v.Name), m[1]})
			}
		}
	}
	return exprs
}

// metricNames returns the metric names that the expressions select.
func metricNames(t *testing.T, exprs []expr) map[string][]string {
	t.Helper()
	promql := parser.NewParser(parser.Options{})
	names := map[string][]string{}
	for _, e := range exprs {
		node, err := promql.ParseExpr(e.query)
		require.NoError(t, err, "%s: cannot parse %q", e.where, e.query)
		parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				require.NotEmpty(t, vs.Name, "%s: selector %s has no metric name", e.where, vs)
				names[vs.Name] = append(names[vs.Name], e.where)
			}
			return nil
		})
	}
	return names
}

// TestRulesAndDashboards checks that every expression parses, that each
// alert links to its own section of docs/runbooks.md, and that every metric
// read is either a recording rule of operations/rules or exported by a
// real weft.
func TestRulesAndDashboards(t *testing.T) {
	ruleExprs, recorded, alerts := loadRules(t)
	dashExprs := loadDashboards(t)

	runbooks, err := os.ReadFile(filepath.Join("..", "docs", "runbooks.md"))
	require.NoError(t, err)
	sections := map[string]bool{}
	for _, line := range strings.Split(string(runbooks), "\n") {
		if name, ok := strings.CutPrefix(line, "## "); ok {
			sections[strings.TrimSpace(name)] = true
		}
	}
	for name, url := range alerts {
		require.True(t, sections[name], "docs/runbooks.md has no section \"## %s\"", name)
		require.Equal(t, runbookURL+strings.ToLower(name), url, "runbook_url of %s", name)
	}
	for name := range sections {
		if strings.HasPrefix(name, "Weft") {
			require.Contains(t, alerts, name, "docs/runbooks.md has a section for %s, which is no alert", name)
		}
	}

	used := metricNames(t, append(ruleExprs, dashExprs...))
	exposed := scrapeWeft(t)
	code := codeLiterals(t)
	var missing []string
	for name, where := range used {
		switch {
		case recorded[name], exposed[name]:
		case needActivity[name] != "":
			if !code[name] {
				missing = append(missing, fmt.Sprintf("%s (allow-listed, but not in weft's code; used by %s)", name, where[0]))
			}
		default:
			missing = append(missing, fmt.Sprintf("%s (used by %s)", name, where[0]))
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "metrics that weft does not export (add them to needActivity only if "+
		"they appear after some activity the test does not do)")
	var stale []string
	for name := range needActivity {
		if used[name] == nil || exposed[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	require.Empty(t, stale, "needActivity lists metrics that no rule or dashboard uses, or that the test's weft exposes: remove them")
}

// scrapeWeft runs two weft processes in-process: an all-in-one, and a
// distributed one (distributor, ingester, querier and store-gateway, with
// their rings in memberlist, as in production). It pushes a few samples to
// each, one of them invalid, runs a query, and returns the names of the
// series their /metrics expose: histograms and summaries also as their
// _bucket, _sum and _count series, as PromQL sees them.
func scrapeWeft(t *testing.T) map[string]bool {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	grpcAddr := lis.Addr().String()
	require.NoError(t, lis.Close())
	names := map[string]bool{}
	for i, args := range [][]string{
		{"-grpc.listen-address=127.0.0.1:0"},
		{
			"-target=distributor,ingester,querier,store-gateway",
			"-grpc.listen-address=" + grpcAddr,
			"-ring.store=memberlist", "-memberlist.bind-addr=127.0.0.1", "-memberlist.bind-port=0",
			"-distributor.replication-factor=1", "-store-gateway.sharding-replication-factor=1",
		},
	} {
		base := runWeft(t, args...)
		exercise(t, base)
		if i == 0 {
			evaluateRules(t, base)
		}
		for name := range scrape(t, base) {
			names[name] = true
		}
	}
	return names
}

// runWeft runs a weft in this process with the given flags and waits until
// it is ready; it stops at the end of the test.
func runWeft(t *testing.T, args ...string) (base string) {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{
		"-http.listen-address=127.0.0.1:0",
		"-data.dir=" + filepath.Join(dir, "data"),
		"-bucket.filesystem.dir=" + filepath.Join(dir, "bucket"),
	}, args...)
	cfg, _, err := app.ParseFlags(args, nil)
	require.NoError(t, err)
	a, err := app.New(cfg, logutil.Nop())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { cancel(); <-done }) })
	base = "http://" + a.Addr()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 10*time.Millisecond, "weft did not become ready")
	return base
}

// exercise pushes a valid sample and one without a metric name, and runs
// a query, so that the metrics counting them appear.
func exercise(t *testing.T, base string) {
	t.Helper()
	now := time.Now().UnixMilli()
	for _, ls := range [][]prompb.Label{
		{{Name: "__name__", Value: "up"}, {Name: "job", Value: "ops"}},
		{{Name: "job", Value: "ops"}},
	} {
		wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: ls, Samples: []prompb.Sample{{Timestamp: now, Value: 1}}}}}
		body, err := wr.Marshal()
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, base+"/api/v1/push", bytes.NewReader(snappy.Encode(nil, body)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Scope-OrgID", "ops")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	req, err := http.NewRequest(http.MethodGet, base+"/prometheus/api/v1/query?query=up", nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", "ops")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "query: %s", b)
}

// evaluateRules uploads a rule group to the all-in-one at base and waits
// until the ruler has evaluated it, so that the ruler's metrics by tenant
// and group appear.
func evaluateRules(t *testing.T, base string) {
	t.Helper()
	group := "name: g\ninterval: 1s\nrules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n"
	req, err := http.NewRequest(http.MethodPost, base+"/prometheus/config/v1/rules/ops", strings.NewReader(group))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/yaml")
	req.Header.Set("X-Scope-OrgID", "ops")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "upload rules: %s", b)
	require.Eventually(t, func() bool {
		names := scrape(t, base)
		return names["weft_ruler_group_evaluations_total"] && names["prometheus_rule_group_iterations_total"]
	}, 20*time.Second, 100*time.Millisecond, "the ruler did not evaluate the uploaded group")
}

// scrape returns the series names of base's /metrics.
func scrape(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	names := map[string]bool{}
	for name, mf := range mfs {
		names[name] = true // a native histogram, or any other type
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}

var weftLiteralRE = regexp.MustCompile(`"(weft_[a-z0-9_]+)"`)

// codeLiterals returns the "weft_..." string literals of weft's non-test Go
// code under pkg/.
func codeLiterals(t *testing.T) map[string]bool {
	t.Helper()
	lits := map[string]bool{}
	err := filepath.WalkDir(filepath.Join("..", "pkg"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range weftLiteralRE.FindAllSubmatch(b, -1) {
			lits[string(m[1])] = true
		}
		return nil
	})
	require.NoError(t, err)
	return lits
}
