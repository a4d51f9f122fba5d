package querier

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// A costly regex in a series or label lookup stops at the tenant's query
// timeout. Go's regexp (RE2) never backtracks, so no regex is exponential,
// but (.*a.*b){30}[^ab] still costs about 10 ms on each 4 KiB label value:
// over 1000 values, about 10 s unbounded. The lookups run no PromQL,
// so the engine's timeout does not apply to them: the querier bounds them.
func TestNastyRegexStopsAtQueryTimeout(t *testing.T) {
	r := newFakeReader(t, "a")
	for i := range 1000 {
		v := fmt.Sprintf("%04d", i) + strings.Repeat("ab", 2048)
		r.add(t, labels.FromStrings(labels.MetricName, "m", "v", v), func(int64) float64 { return 1 }, 1000)
	}
	q, err := New(testConfig(t), r, testOverrides(t, map[string]func(*limits.Limits){
		"a": func(l *limits.Limits) { l.QueryTimeout = model.Duration(500 * time.Millisecond) },
	}), tenant.Resolver{MultiTenancy: true}, Version{Version: "test"}, nil, nil)
	require.NoError(t, err)
	h := q.Handler()

	sel := `m{v=~"(.*a.*b){30}[^ab]"}`
	// One match costs this much; the whole lookup would cost 1000 times more.
	m, err := labels.NewFastRegexMatcher(`(.*a.*b){30}[^ab]`)
	require.NoError(t, err)
	start := time.Now()
	for i := range 50 {
		m.MatchString(fmt.Sprintf("%04d", i) + strings.Repeat("ab", 2048))
	}
	one := time.Since(start) / 50

	for _, c := range []struct {
		path   string
		params url.Values
	}{
		{"/series", url.Values{"match[]": {sel}}},
		{"/labels", url.Values{"match[]": {sel}}},
		{"/label/v/values", url.Values{"match[]": {sel}}},
	} {
		start := time.Now()
		code, resp := get(t, h, "a", c.path, c.params)
		took := time.Since(start)
		t.Logf("%s answered in %s; one match takes %s", c.path, took, one)
		// Prometheus' API answers a storage error, this deadline among
		// them, 422 "execution".
		require.Equal(t, http.StatusUnprocessableEntity, code, "%s: %+v", c.path, resp)
		require.Contains(t, resp.Error, "context deadline exceeded", c.path)
		// Stopped well before the unbounded cost (the TSDB checks its
		// context every 100 values).
		require.Less(t, took, 1000*one/2, "%s took %s; one match takes %s", c.path, took, one)
	}
}
