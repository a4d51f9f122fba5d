package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhook is a receiver of Alertmanager notifications that the test runs:
// it records each alert of each notification as "<status> <alertname>
// <instance>" (without the instance when the alert has none).
type webhook struct {
	*httptest.Server
	mu  sync.Mutex
	got []string // guarded by mu
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []struct {
				Status string            `json:"status"`
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		_ = json.NewDecoder(r.Body).Decode(&msg)
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, a := range msg.Alerts {
			h.got = append(h.got, strings.TrimSpace(a.Status+" "+a.Labels["alertname"]+" "+a.Labels["instance"]))
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// all returns every alert notified so far.
func (h *webhook) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

// count returns how many times what was notified.
func (h *webhook) count(what string) int {
	n := 0
	for _, s := range h.all() {
		if s == what {
			n++
		}
	}
	return n
}

// waitFor waits until what was notified once at least.
func (h *webhook) waitFor(t *testing.T, timeout time.Duration, what string) {
	t.Helper()
	eventually(t, timeout, 100*time.Millisecond, "the webhook gets "+what, func() error {
		if h.count(what) == 0 {
			return fmt.Errorf("got %q", h.all())
		}
		return nil
	})
}
