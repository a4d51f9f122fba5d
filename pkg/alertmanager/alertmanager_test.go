package alertmanager

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/notify"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/limits"
)

const simpleAM = `route:
  receiver: default
receivers:
- name: default
`

func TestConfigAPI(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	lim := defaultLimits()
	lim.AlertmanagerMaxConfigSizeBytes = 4096
	lim.AlertmanagerMaxTemplateSizeBytes = 1024
	lim.AlertmanagerMaxTemplatesCount = 2
	rc := &limits.RuntimeConfig{Overrides: map[string]*limits.Limits{}}
	blocked := lim
	blocked.AlertmanagerReceiversBlockPrivateAddresses = true
	rc.Overrides["strict"] = &blocked
	s := startAM(t, bkt, lim, rc, nil, nil, 0)

	code, body := s.do(t, "a", http.MethodGet, ConfigPath, "")
	require.Equal(t, http.StatusNotFound, code, body)
	require.Contains(t, body, "err-weft-alertmanager-not-configured")

	good := yamlBody(simpleAM, map[string]string{"a.tmpl": `{{ define "x" }}hello{{ end }}`})
	s.upload(t, "a", good)
	code, stored := s.do(t, "a", http.MethodGet, ConfigPath, "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, stored, "alertmanager_config:")
	require.Contains(t, stored, "a.tmpl")

	f := func(tenantID, body string, wantCode int, wantErr string) {
		t.Helper()
		code, resp := s.do(t, tenantID, http.MethodPost, ConfigPath, body)
		require.Equal(t, wantCode, code, resp)
		require.Contains(t, resp, wantErr)
		// Nothing stored changed.
		code, now := s.do(t, "a", http.MethodGet, ConfigPath, "")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, stored, now)
	}
	f("a", "", 400, "the body is empty")
	f("a", "alertmanager_config: [unclosed", 400, "cannot parse the configuration")
	f("a", "alertmanager_config: x\nunknown_field: 1\n", 400, "field unknown_field not found")
	f("a", yamlBody("route:\n  receiver: nope\n", nil), 400, `undefined receiver`)
	f("a", yamlBody(simpleAM+"bogus: 1\n", nil), 400, "bogus")
	f("a", yamlBody(simpleAM, map[string]string{"bad.tmpl": `{{ define "x" }}`}), 400, `bad.tmpl`)
	f("a", yamlBody(simpleAM, map[string]string{"../x": `hi`}), 400, "not a plain file name")
	f("a", yamlBody(simpleAM, map[string]string{"a": "a", "b": "b", "c": "c"}), 400, "err-weft-alertmanager-max-templates-count")
	f("a", yamlBody(simpleAM, map[string]string{"big.tmpl": strings.Repeat("x", 2000)}), 400, "err-weft-alertmanager-max-template-size")
	f("a", yamlBody(simpleAM+"# "+strings.Repeat("x", 5000)+"\n", nil), 400, "err-weft-alertmanager-max-config-size")
	f("a", strings.Repeat("x", maxBodyBytes+1), http.StatusRequestEntityTooLarge, "err-weft-alertmanager-body-too-large")
	f("a", yamlBody(`route:
  receiver: hook
receivers:
- name: hook
  webhook_configs:
  - url: http://example.com/
    http_config:
      bearer_token_file: /etc/passwd
`, nil), 400, "credentials_file: settings that read files")

	// Private addresses: refused only for the tenant whose limit says so.
	private := yamlBody(`route:
  receiver: hook
receivers:
- name: hook
  webhook_configs:
  - url: http://127.0.0.1:9/hook
`, nil)
	code, resp := s.do(t, "strict", http.MethodPost, ConfigPath, private)
	require.Equal(t, http.StatusBadRequest, code, resp)
	require.Contains(t, resp, "err-weft-alertmanager-private-address")
	require.Contains(t, resp, "webhook_configs[0].url")
	code, resp = s.do(t, "strict", http.MethodGet, ConfigPath, "")
	require.Equal(t, http.StatusNotFound, code, resp)
	s.upload(t, "other", private)

	// No tenant, and a wrong method.
	code, _ = s.do(t, "", http.MethodGet, ConfigPath, "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = s.do(t, "a", http.MethodPut, ConfigPath, good)
	require.Equal(t, http.StatusMethodNotAllowed, code)

	// Delete removes it and stops the tenant's Alertmanager.
	code, _ = s.do(t, "a", http.MethodDelete, ConfigPath, "")
	require.Equal(t, http.StatusOK, code)
	code, _ = s.do(t, "a", http.MethodGet, ConfigPath, "")
	require.Equal(t, http.StatusNotFound, code)
	code, body = s.do(t, "a", http.MethodGet, Prefix+"/api/v2/alerts", "")
	require.Equal(t, http.StatusNotFound, code, body)
}

func TestBlockedDial(t *testing.T) {
	_, err := blockingDial(context.Background(), "tcp", "127.0.0.1:9")
	require.ErrorContains(t, err, "err-weft-alertmanager-private-address")
	_, err = blockingDial(context.Background(), "tcp", "localhost:9")
	require.ErrorContains(t, err, "err-weft-alertmanager-private-address")
}

func TestTenantIsolation(t *testing.T) {
	s := startAM(t, objstore.NewInMemBucket(), defaultLimits(), nil, nil, nil, 0)
	s.upload(t, "a", yamlBody(simpleAM, nil))
	s.upload(t, "b", yamlBody(simpleAM, nil))
	s.pushAlert(t, "a", "OnlyA")
	s.addSilence(t, "a", "OnlyA")
	require.Equal(t, []string{"OnlyA"}, s.alertNames(t, "a"))
	require.Len(t, s.silenceIDs(t, "a"), 1)
	require.Empty(t, s.alertNames(t, "b"))
	require.Empty(t, s.silenceIDs(t, "b"))
	// A tenant without a configuration has no Alertmanager.
	code, body := s.do(t, "c", http.MethodGet, Prefix+"/api/v2/alerts", "")
	require.Equal(t, http.StatusNotFound, code, body)
	// The v2 status and receivers answer, and the status page.
	code, body = s.do(t, "a", http.MethodGet, Prefix+"/api/v2/status", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "default")
	code, body = s.do(t, "a", http.MethodGet, Prefix+"/api/v2/receivers", "")
	require.Equal(t, http.StatusOK, code, body)
	code, body = s.do(t, "a", http.MethodGet, Prefix+"/", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "1 alerts held")
}

func TestWebhookGetsOneNotification(t *testing.T) {
	h := newHook(t)
	s := startAM(t, objstore.NewInMemBucket(), defaultLimits(), nil, nil, nil, 0)
	s.upload(t, "a", hookConfig(h.srv.URL))
	s.pushAlert(t, "a", "Boom")
	require.Eventually(t, func() bool { return h.count() >= 1 }, 10*time.Second, 50*time.Millisecond)
	s.pushAlert(t, "a", "Boom") // a ruler sends it again at its next evaluation
	time.Sleep(2500 * time.Millisecond)
	require.Equal(t, 1, h.count())
	require.Equal(t, "firing", h.got[0].Status)
	require.Equal(t, "Boom", h.got[0].Alerts[0].Labels["alertname"])
}

func TestLimits(t *testing.T) {
	h := newHook(t)
	lim := defaultLimits()
	lim.AlertmanagerMaxAlertsCount = 2
	lim.AlertmanagerMaxDispatcherAggregationGroups = 1
	lim.AlertmanagerNotificationRateLimit = 0.001 // one notification, then none for a long time
	s := startAM(t, objstore.NewInMemBucket(), lim, nil, nil, nil, 0)
	s.upload(t, "a", hookConfig(h.srv.URL))
	for _, n := range []string{"A1", "A2"} {
		s.pushAlert(t, "a", n)
	}
	code, body := s.do(t, "a", http.MethodPost, Prefix+"/api/v2/alerts", `[{"labels":{"alertname":"A3"}}]`)
	require.Equal(t, http.StatusTooManyRequests, code, body)
	require.Contains(t, body, "err-weft-alertmanager-max-alerts-count")
	s.pushAlert(t, "a", "A1") // an alert it holds is still updated
	require.ElementsMatch(t, []string{"A1", "A2"}, s.alertNames(t, "a"))

	// One aggregation group only: the second alert opens none.
	code, body = s.do(t, "a", http.MethodGet, Prefix+"/api/v2/alerts/groups", "")
	require.Equal(t, http.StatusOK, code)
	var groups []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &groups))
	require.Len(t, groups, 1, body)

	// The rate limit lets the first group's notification through.
	require.Eventually(t, func() bool { return h.count() == 1 }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, 1.0, counterValue(t, s.am.m.notifications.WithLabelValues("a", "webhook")))
}

// countingNotifier counts its notifications.
type countingNotifier struct{ n int }

func (c *countingNotifier) Notify(context.Context, ...*alert.Alert) notify.NotifyVerdict {
	c.n++
	return notify.Success()
}

func (c *countingNotifier) SendResolved() bool { return true }

func TestNotificationRateLimit(t *testing.T) {
	lim := defaultLimits()
	lim.AlertmanagerNotificationRateLimit = 0.001
	inner := &countingNotifier{}
	integ := notify.NewIntegration(inner, inner, "webhook", 0, "hook")
	n := &limitedNotifier{inner: &integ, tenant: "a", limits: func() *limits.Limits { return &lim }, m: newMetrics(nil)}
	require.NoError(t, n.Notify(context.Background()).Err())
	v := n.Notify(context.Background())
	require.ErrorContains(t, v.Err(), "err-weft-alertmanager-notification-rate-limited")
	require.False(t, v.ShouldRetry())
	require.Equal(t, 1, inner.n)
	// Lifting the limit (a new runtime file) lets notifications through.
	lim.AlertmanagerNotificationRateLimit = 0
	require.NoError(t, n.Notify(context.Background()).Err())
	require.Equal(t, 2, inner.n)
}

// A tenant that blocks private addresses cannot notify a receiver on one,
// even when the configuration was taken before the limit was set: the
// limit is checked again when the notification dials.
func TestBlockPrivateAddressesAtDial(t *testing.T) {
	h := newHook(t)
	lim := defaultLimits()
	strict := lim
	strict.AlertmanagerReceiversBlockPrivateAddresses = true
	rc := &limits.RuntimeConfig{Overrides: map[string]*limits.Limits{}}
	var mu sync.Mutex
	ov := limits.NewOverrides(lim, func() *limits.RuntimeConfig { mu.Lock(); defer mu.Unlock(); return rc })
	s := startAM(t, objstore.NewInMemBucket(), lim, nil, nil, nil, 0)
	s.am.lim = ov
	s.upload(t, "a", hookConfig(h.srv.URL))
	mu.Lock()
	rc = &limits.RuntimeConfig{Overrides: map[string]*limits.Limits{"a": &strict}}
	mu.Unlock()
	s.pushAlert(t, "a", "Blocked")
	require.Eventually(t, func() bool {
		return counterValue(t, s.am.m.notificationsFailed.WithLabelValues("a", "webhook")) >= 1
	}, 10*time.Second, 50*time.Millisecond)
	require.Zero(t, h.count())
}
