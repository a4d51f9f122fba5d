package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// amClient sends Alertmanager requests to one process as tenant.
func amDo(t *testing.T, w *weftProcess, tenant, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, w.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Scope-OrgID", tenant)
	if strings.HasPrefix(path, "/alertmanager/") {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAlertmanagerReplicas runs three alertmanager processes, each
// tenant's Alertmanager on all three (replication factor 3): an alert sent
// to one replica reaches all three and is notified once; a silence made on
// one holds on all; with one killed (-9) the others still notify, once;
// and the silence and notification log survive the restart of all three,
// through the bucket.
func TestAlertmanagerReplicas(t *testing.T) {
	hook := newWebhook(t)
	notified := hook.all

	c := newCluster(t, 3, "-alertmanager.ring.heartbeat-period=1s", "-alertmanager.peer-timeout=2s",
		"-alertmanager.poll-interval=1s", "-alertmanager.persist-interval=1s")
	var ams []*weftProcess
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("am%d", i)
		ams = append(ams, c.start(id, "alertmanager", "-alertmanager.ring.instance-id="+id))
	}
	waitAMRing := func(procs ...*weftProcess) {
		t.Helper()
		eventually(t, time.Minute, 200*time.Millisecond, "3 ACTIVE alertmanagers", func() error {
			for _, w := range procs {
				body, err := httpGet(context.Background(), w.URL()+"/alertmanager/ring?format=json")
				if err != nil {
					return err
				}
				var s ringStatus
				if err := json.Unmarshal([]byte(body), &s); err != nil {
					return err
				}
				if err := allActive("am0", "am1", "am2")(s); err != nil {
					return fmt.Errorf("%s: %w", w.name, err)
				}
			}
			return nil
		})
	}
	waitAMRing(ams...)

	cfg := `alertmanager_config: |
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 200ms
    group_interval: 1s
    repeat_interval: 1h
  receivers:
  - name: hook
    webhook_configs:
    - url: ` + hook.URL + "\n"
	if code, body := amDo(t, ams[0], "t1", http.MethodPost, "/api/v1/alerts", cfg); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	waitRunning := func(procs ...*weftProcess) {
		t.Helper()
		eventually(t, 30*time.Second, 200*time.Millisecond, "every replica runs t1's Alertmanager", func() error {
			for _, w := range procs {
				if code, body := amDo(t, w, "t1", http.MethodGet, "/alertmanager/api/v2/status", ""); code != http.StatusOK || !strings.Contains(body, `"status":"ready"`) {
					return fmt.Errorf("%s: %d %.200s", w.name, code, body)
				}
			}
			return nil
		})
	}
	waitRunning(ams...)

	alert := func(name string) string {
		return fmt.Sprintf(`[{"labels":{"alertname":%q},"startsAt":%q}]`, name, time.Now().Add(-time.Minute).Format(time.RFC3339))
	}
	send := func(name string, procs ...*weftProcess) {
		t.Helper()
		for _, w := range procs {
			if code, body := amDo(t, w, "t1", http.MethodPost, "/alertmanager/api/v2/alerts", alert(name)); code != http.StatusOK {
				t.Fatalf("post alert to %s: %d %s", w.name, code, body)
			}
		}
	}
	count := hook.count
	send("Boom", ams[0])
	for _, w := range ams {
		if code, body := amDo(t, w, "t1", http.MethodGet, "/alertmanager/api/v2/alerts", ""); code != http.StatusOK || !strings.Contains(body, "Boom") {
			t.Fatalf("%s does not hold the alert sent to am0: %d %s", w.name, code, body)
		}
	}
	eventually(t, 15*time.Second, 100*time.Millisecond, "the webhook gets Boom", func() error {
		if count("firing Boom") == 0 {
			return fmt.Errorf("got %q", notified())
		}
		return nil
	})
	time.Sleep(6 * time.Second) // two peer timeouts and more: the others had their turn
	if n := count("firing Boom"); n != 1 {
		t.Fatalf("Boom was notified %d times by three replicas, want once: %q", n, notified())
	}

	// A silence made on one replica holds on all.
	sil := fmt.Sprintf(`{"matchers":[{"name":"alertname","value":"Muted","isRegex":false,"isEqual":true}],"startsAt":%q,"endsAt":%q,"createdBy":"test","comment":"test"}`,
		time.Now().Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339))
	code, body := amDo(t, ams[1], "t1", http.MethodPost, "/alertmanager/api/v2/silences", sil)
	if code != http.StatusOK {
		t.Fatalf("add silence: %d %s", code, body)
	}
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	_ = json.Unmarshal([]byte(body), &created)
	hasSilence := func(procs ...*weftProcess) func() error {
		return func() error {
			for _, w := range procs {
				code, body := amDo(t, w, "t1", http.MethodGet, "/alertmanager/api/v2/silences", "")
				if code != http.StatusOK || !strings.Contains(body, created.SilenceID) {
					return fmt.Errorf("%s: %d %.300s", w.name, code, body)
				}
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, 100*time.Millisecond, "the silence on every replica", hasSilence(ams...))
	send("Muted", ams[2])

	// kill -9 of one replica: the others notify, once.
	ams[0].Kill()
	send("Second", ams[1])
	eventually(t, 20*time.Second, 100*time.Millisecond, "the webhook gets Second", func() error {
		if count("firing Second") == 0 {
			return fmt.Errorf("got %q", notified())
		}
		return nil
	})
	time.Sleep(6 * time.Second)
	if n := count("firing Second"); n != 1 {
		t.Fatalf("Second was notified %d times, want once: %q", n, notified())
	}
	if n := count("firing Muted"); n != 0 {
		t.Fatalf("the silenced alert was notified: %q", notified())
	}

	// All three restart: the silence and the notification log come back
	// from the bucket (and from each other).
	ams[1].Stop()
	ams[2].Stop()
	for _, w := range ams {
		w.Restart()
	}
	waitAMRing(ams...)
	waitRunning(ams...)
	eventually(t, 10*time.Second, 100*time.Millisecond, "the silence after the restart of every replica", hasSilence(ams...))
	before := len(notified())
	send("Boom", ams[0])
	send("Second", ams[2])
	time.Sleep(6 * time.Second)
	if after := notified(); len(after) != before {
		t.Fatalf("after the restart, notified again within the repeat interval: %q", after[before:])
	}
}
