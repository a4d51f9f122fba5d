package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/prometheus/prompb"
)

// tsdbStatus is the data of /status/tsdb.
type tsdbStatus struct {
	HeadStats struct {
		NumSeries     uint64 `json:"numSeries"`
		NumLabelPairs int    `json:"numLabelPairs"`
		ChunkCount    int64  `json:"chunkCount"`
	} `json:"headStats"`
	SeriesCountByMetricName     []tsdbStat `json:"seriesCountByMetricName"`
	LabelValueCountByLabelName  []tsdbStat `json:"labelValueCountByLabelName"`
	SeriesCountByLabelValuePair []tsdbStat `json:"seriesCountByLabelValuePair"`
}

type tsdbStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// labelNamesCardinality is the answer of /cardinality/label_names.
type labelNamesCardinality struct {
	LabelValuesCountTotal int `json:"label_values_count_total"`
	LabelNamesCount       int `json:"label_names_count"`
	Cardinality           []struct {
		LabelName        string `json:"label_name"`
		LabelValuesCount int    `json:"label_values_count"`
	} `json:"cardinality"`
}

// labelValuesCardinality is the answer of /cardinality/label_values.
type labelValuesCardinality struct {
	SeriesCountTotal int `json:"series_count_total"`
	Labels           []struct {
		LabelName        string `json:"label_name"`
		LabelValuesCount int    `json:"label_values_count"`
		SeriesCount      int    `json:"series_count"`
		Cardinality      []struct {
			LabelValue  string `json:"label_value"`
			SeriesCount int    `json:"series_count"`
		} `json:"cardinality"`
	} `json:"labels"`
}

// getJSON GETs an API path and decodes its 200 answer into out.
func getJSON(ctx context.Context, c *apiClient, path string, params url.Values, out any) error {
	code, body, err := c.rawGet(ctx, path, params, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s: %d %s", path, code, body)
	}
	return json.Unmarshal(body, out)
}

// Three ingesters at RF=3 each hold every series of the tenants; the
// cardinality answers, from the querier and through a query-frontend in
// front of it, count each series once, and one tenant's never include
// the other's.
func TestCardinalityDistributed(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	c := newCluster(t, 6, "-distributor.replication-factor=3", "-auth.multitenancy-enabled=true")
	ids := []string{"ing-1", "ing-2", "ing-3"}
	var ings []*weftProcess
	for _, id := range ids {
		ings = append(ings, c.startIngester(id))
	}
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), dist, qr)
	fe := c.start("query-frontend", "query-frontend", "-query-frontend.downstream-url="+qr.URL())

	// Tenant a: card_requests by method (3) and code (2), 6 series, and
	// card_up by job, 4 series. Tenant b: b_only by pod, 5 series.
	now := time.Now().UnixMilli()
	sample := []prompb.Sample{{Timestamp: now, Value: 1}}
	var a, b prompb.WriteRequest
	for _, m := range []string{"GET", "POST", "PUT"} {
		for _, code := range []string{"200", "500"} {
			a.Timeseries = append(a.Timeseries, prompb.TimeSeries{Labels: lbls("card_requests", "method", m, "code", code), Samples: sample})
		}
	}
	for j := range 4 {
		a.Timeseries = append(a.Timeseries, prompb.TimeSeries{Labels: lbls("card_up", "job", fmt.Sprint("job-", j)), Samples: sample})
	}
	for p := range 5 {
		b.Timeseries = append(b.Timeseries, prompb.TimeSeries{Labels: lbls("b_only", "pod", fmt.Sprint("pod-", p)), Samples: sample})
	}
	if err := dist.Client("a").Push(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := dist.Client("b").Push(ctx, &b); err != nil {
		t.Fatal(err)
	}
	// The distributor answers at quorum: wait for the third copies, so
	// that the ingesters hold 3 copies of every series.
	eventually(t, 10*time.Second, 20*time.Millisecond, "every series on every ingester", func() error {
		for tenant, want := range map[string]int{"a": 10, "b": 5} {
			counts, err := seriesCounts(ctx, tenant, ings)
			if err != nil {
				return err
			}
			for i, n := range counts {
				if n != want {
					return fmt.Errorf("tenant %s has %d series on %s, want %d", tenant, n, ids[i], want)
				}
			}
		}
		return nil
	})

	for _, w := range []*weftProcess{qr, fe} {
		ca, cb := w.Client("a"), w.Client("b")

		var env struct {
			Status string     `json:"status"`
			Data   tsdbStatus `json:"data"`
		}
		st := &env.Data
		if err := getJSON(ctx, ca, "/status/tsdb", nil, &env); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if env.Status != "success" {
			t.Errorf("%s: /status/tsdb answered status %q", w.name, env.Status)
		}
		if st.HeadStats.NumSeries != 10 || st.HeadStats.ChunkCount != 10 {
			t.Errorf("%s: tenant a has %d series in %d chunks, want 10 in 10 (one copy of each)", w.name, st.HeadStats.NumSeries, st.HeadStats.ChunkCount)
		}
		// __name__ 2, method 3, code 2, job 4.
		if st.HeadStats.NumLabelPairs != 11 {
			t.Errorf("%s: tenant a has %d label pairs, want 11", w.name, st.HeadStats.NumLabelPairs)
		}
		if diff := cmp.Diff([]tsdbStat{{"card_requests", 6}, {"card_up", 4}}, st.SeriesCountByMetricName); diff != "" {
			t.Errorf("%s: series by metric name (-want +got):\n%s", w.name, diff)
		}

		var names labelNamesCardinality
		if err := getJSON(ctx, ca, "/cardinality/label_names", url.Values{"limit": {"2"}}, &names); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		gotNames := fmt.Sprintf("%d %d %v", names.LabelValuesCountTotal, names.LabelNamesCount, names.Cardinality)
		if want := "11 4 [{job 4} {method 3}]"; gotNames != want {
			t.Errorf("%s: label names cardinality %s, want %s", w.name, gotNames, want)
		}

		var values labelValuesCardinality
		params := url.Values{"label_names[]": {"code", "method"}, "selector": {`card_requests{method!="PUT"}`}}
		if err := getJSON(ctx, ca, "/cardinality/label_values", params, &values); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		gotValues := fmt.Sprintf("%d %v", values.SeriesCountTotal, values.Labels)
		if want := "4 [{code 2 4 [{200 2} {500 2}]} {method 2 4 [{GET 2} {POST 2}]}]"; gotValues != want {
			t.Errorf("%s: label values cardinality %s, want %s", w.name, gotValues, want)
		}

		// Tenant b's answers hold b's series only.
		env.Data = tsdbStatus{}
		if err := getJSON(ctx, cb, "/status/tsdb", nil, &env); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if diff := cmp.Diff([]tsdbStat{{"b_only", 5}}, st.SeriesCountByMetricName); diff != "" || st.HeadStats.NumSeries != 5 {
			t.Errorf("%s: tenant b has %d series, by metric name (-want +got):\n%s", w.name, st.HeadStats.NumSeries, diff)
		}
		if err := getJSON(ctx, cb, "/cardinality/label_names", nil, &names); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if got := fmt.Sprintf("%d %d %v", names.LabelValuesCountTotal, names.LabelNamesCount, names.Cardinality); got != "6 2 [{pod 5} {__name__ 1}]" {
			t.Errorf("%s: tenant b's label names cardinality %s", w.name, got)
		}
		if err := getJSON(ctx, cb, "/cardinality/label_values", url.Values{"label_names[]": {"__name__", "method"}}, &values); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if got := fmt.Sprintf("%d %v", values.SeriesCountTotal, values.Labels); got != "5 [{__name__ 1 5 [{b_only 5}]} {method 0 0 []}]" {
			t.Errorf("%s: tenant b's label values cardinality %s", w.name, got)
		}
	}
}
