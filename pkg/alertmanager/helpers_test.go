package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// testConfig is a Config for tests: fast polls, short peer timeout.
func testConfig() Config {
	return Config{
		ExternalURL:     "http://weft.example/alertmanager",
		PollInterval:    time.Hour, // tests sync by hand
		PeerTimeout:     time.Second,
		PersistInterval: time.Hour,
		Retention:       time.Hour,
		SettleTimeout:   2 * time.Second,
	}
}

// defaultLimits are the flag defaults of the limits.
func defaultLimits() limits.Limits {
	return limits.Limits{
		AlertmanagerMaxConfigSizeBytes:   1 << 20,
		AlertmanagerMaxTemplateSizeBytes: 1 << 20,
		AlertmanagerMaxTemplatesCount:    100,
	}
}

// memTransport connects Alertmanagers of one test process by address.
type memTransport struct {
	mu    sync.Mutex
	peers map[string]*Alertmanager
}

func (t *memTransport) get(addr string) (*Alertmanager, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	am := t.peers[addr]
	if am == nil || am.State() != services.Running {
		return nil, fmt.Errorf("replica %s is down", addr)
	}
	return am, nil
}

func (t *memTransport) update(_ context.Context, addr, tenantID string, p statePart) error {
	am, err := t.get(addr)
	if err != nil {
		return err
	}
	am.mergeState(tenantID, []statePart{p})
	return nil
}

func (t *memTransport) readState(_ context.Context, addr, tenantID string) ([]statePart, error) {
	am, err := t.get(addr)
	if err != nil {
		return nil, err
	}
	parts, ok, err := am.readState(tenantID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("not running")
	}
	return parts, nil
}

func (t *memTransport) forward(_ context.Context, addr, tenantID string, req *httpMsg) (*httpMsg, error) {
	am, err := t.get(addr)
	if err != nil {
		return nil, err
	}
	return am.serveForwarded(tenantID, req), nil
}

// server is one Alertmanager behind an HTTP server, as the app mounts it.
type server struct {
	am  *Alertmanager
	srv *httptest.Server
}

// startAM starts an Alertmanager over bkt; with tr and addrs it is the
// replica addrs[self] of every tenant.
func startAM(t *testing.T, bkt objstore.Bucket, lim limits.Limits, rc *limits.RuntimeConfig, tr *memTransport, addrs []string, self int) *server {
	t.Helper()
	var replicas Replicas
	if tr != nil {
		replicas = func(string) ([]string, int, error) { return addrs, self, nil }
	}
	ov := limits.NewOverrides(lim, func() *limits.RuntimeConfig { return rc })
	am, err := New(testConfig(), bkt, ov, tenant.Resolver{MultiTenancy: true}.FromRequest, replicas, nil, nil, nil)
	require.NoError(t, err)
	if tr != nil {
		am.tr = tr
		name := "not-a-replica"
		if self >= 0 {
			name = addrs[self]
		}
		tr.mu.Lock()
		tr.peers[name] = am
		tr.mu.Unlock()
	}
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), am))
	mux := http.NewServeMux()
	mux.Handle(ConfigPath, am.ConfigHandler())
	mux.Handle(Prefix+"/", am.APIHandler())
	s := &server{am: am, srv: httptest.NewServer(mux)}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) stop(t *testing.T) {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
	if s.am.State() == services.Running {
		require.NoError(t, services.StopAndAwaitTerminated(context.Background(), s.am))
	}
}

// do sends a request as tenantID and returns the status and body.
func (s *server) do(t *testing.T, tenantID, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if tenantID != "" {
		req.Header.Set(tenant.Header, tenantID)
	}
	if method == http.MethodPost && strings.HasPrefix(path, Prefix) {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// upload posts a configuration and requires it to be taken.
func (s *server) upload(t *testing.T, tenantID, body string) {
	t.Helper()
	code, resp := s.do(t, tenantID, http.MethodPost, ConfigPath, body)
	require.Equal(t, http.StatusCreated, code, resp)
}

// pushAlert posts one firing alert as a ruler does.
func (s *server) pushAlert(t *testing.T, tenantID, name string) {
	t.Helper()
	alerts := []map[string]any{{
		"labels":       map[string]string{"alertname": name, "severity": "page"},
		"annotations":  map[string]string{"summary": name + " fires"},
		"startsAt":     time.Now().Add(-time.Minute).Format(time.RFC3339),
		"generatorURL": "http://weft.example/graph",
	}}
	b, err := json.Marshal(alerts)
	require.NoError(t, err)
	code, resp := s.do(t, tenantID, http.MethodPost, Prefix+"/api/v2/alerts", string(b))
	require.Equal(t, http.StatusOK, code, resp)
}

// alertNames returns the names of the tenant's alerts.
func (s *server) alertNames(t *testing.T, tenantID string) []string {
	t.Helper()
	code, resp := s.do(t, tenantID, http.MethodGet, Prefix+"/api/v2/alerts", "")
	require.Equal(t, http.StatusOK, code, resp)
	var got []struct {
		Labels map[string]string `json:"labels"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp), &got))
	var names []string
	for _, a := range got {
		names = append(names, a.Labels["alertname"])
	}
	return names
}

// addSilence silences alertname=name and returns the silence ID.
func (s *server) addSilence(t *testing.T, tenantID, name string) string {
	t.Helper()
	sil := map[string]any{
		"matchers":  []map[string]any{{"name": "alertname", "value": name, "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().Add(-time.Second).Format(time.RFC3339),
		"endsAt":    time.Now().Add(time.Hour).Format(time.RFC3339),
		"createdBy": "test",
		"comment":   "test",
	}
	b, err := json.Marshal(sil)
	require.NoError(t, err)
	code, resp := s.do(t, tenantID, http.MethodPost, Prefix+"/api/v2/silences", string(b))
	require.Equal(t, http.StatusOK, code, resp)
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp), &out))
	return out.SilenceID
}

// silenceIDs returns the IDs of the tenant's active silences.
func (s *server) silenceIDs(t *testing.T, tenantID string) []string {
	t.Helper()
	code, resp := s.do(t, tenantID, http.MethodGet, Prefix+"/api/v2/silences", "")
	require.Equal(t, http.StatusOK, code, resp)
	var got []struct {
		ID     string `json:"id"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp), &got))
	var ids []string
	for _, s := range got {
		if s.Status.State == "active" {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// hook is a webhook receiver that records what it gets.
type hook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []hookMsg
}

type hookMsg struct {
	Status string `json:"status"`
	Alerts []struct {
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m hookMsg
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &m)
		h.mu.Lock()
		h.got = append(h.got, m)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

// hookConfig routes every alert to url, at once, repeating after an hour.
func hookConfig(url string) string {
	return `alertmanager_config: |
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 100ms
    group_interval: 1s
    repeat_interval: 1h
  receivers:
  - name: hook
    webhook_configs:
    - url: ` + url + `
`
}

// yamlBody renders an upload with one template file.
func yamlBody(amConfig string, templates map[string]string) string {
	var b bytes.Buffer
	b.WriteString("alertmanager_config: |\n")
	for _, l := range strings.Split(strings.TrimRight(amConfig, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	if len(templates) > 0 {
		b.WriteString("template_files:\n")
		for name, content := range templates {
			b.WriteString("  " + name + ": |\n")
			for _, l := range strings.Split(strings.TrimRight(content, "\n"), "\n") {
				b.WriteString("    " + l + "\n")
			}
		}
	}
	return b.String()
}

func counterValue(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}
