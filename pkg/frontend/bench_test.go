package frontend

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkRangeQuery compares one range query (3 series, 1 day at a 1m
// step: 1440 points each) answered by the querier directly, through the
// frontend with the cache off (one part: streamed), split in 6h parts and
// merged (cache off), and from the cache.
func BenchmarkRangeQuery(b *testing.B) {
	t := b
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	params := rangeParams(`rate(x_total[5m])`, 24*time.Hour, 48*time.Hour-time.Minute, time.Minute)
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, apiPrefix+"/query_range?"+params.Encode(), nil)
			req.Header.Set("X-Scope-OrgID", "t")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Body.String())
			}
		}
	}
	now := base.Add(72 * time.Hour)
	b.Run("querier", func(b *testing.B) { run(b, q) })
	b.Run("frontend-uncached", func(b *testing.B) {
		f, _ := newFrontend(t, testConfig(t, func(c *Config) { c.ResultsCache.Backend = "" }), q, lim, now)
		run(b, f)
	})
	b.Run("frontend-split-computed", func(b *testing.B) {
		f, _ := newFrontend(t, testConfig(t, func(c *Config) { c.SplitInterval = 6 * time.Hour; c.ResultsCache.Backend = "" }), q, lim, now)
		run(b, f)
	})
	b.Run("frontend-cached", func(b *testing.B) {
		f, _ := newFrontend(t, testConfig(t, nil), q, lim, now)
		run(b, f)
	})
}
