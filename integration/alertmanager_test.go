package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// amtool runs Debian's amtool (0.25) against weft's Alertmanager and
// returns its output; a failure of the command fails the test. amtool must
// be installed (scripts/test.sh installs prometheus-alertmanager): the
// test fails, not skips, without it.
func amtool(t *testing.T, w *weftProcess, args ...string) string {
	t.Helper()
	return amtoolAt(t, w.URL(), args...)
}

// amtoolAt is amtool against the weft (or the proxy in front of one) at
// base.
func amtoolAt(t *testing.T, base string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("amtool")
	if err != nil {
		t.Fatalf("amtool is not installed (apt-get install prometheus-alertmanager): %v", err)
	}
	args = append([]string{"--alertmanager.url=" + base + "/alertmanager"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// stderr has amtool's warnings (its version is not weft's); stdout
	// is what the assertions read.
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// amRequest sends a request to weft as the anonymous tenant.
func amRequest(t *testing.T, method, url, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAlertmanagerWithAmtool runs the all-in-one with multi-tenancy off,
// uploads an Alertmanager configuration with curl's request, pushes an
// alert through the v2 API as a ruler does, and drives the rest with the
// real amtool: list alerts, add a silence, list it, expire it. The
// webhook receiver gets the alert, and nothing once it is silenced.
func TestAlertmanagerWithAmtool(t *testing.T) {
	hook := newWebhook(t)
	notified := hook.all

	w := startWeft(t, weftOptions{Args: []string{"-auth.multitenancy-enabled=false"}})
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
    - url: ` + hook.URL + `
template_files:
  extra.tmpl: |
    {{ define "weft.title" }}[{{ .Status }}] {{ .CommonLabels.alertname }}{{ end }}
`
	code, body := amRequest(t, http.MethodPost, w.URL()+"/api/v1/alerts", "application/yaml", cfg)
	if code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	code, body = amRequest(t, http.MethodPost, w.URL()+"/api/v1/alerts", "application/yaml", "alertmanager_config: x\nnot_a_key: 1\n")
	if code != http.StatusBadRequest || !strings.Contains(body, "not_a_key") {
		t.Fatalf("a bad upload: %d %s", code, body)
	}
	code, body = amRequest(t, http.MethodGet, w.URL()+"/api/v1/alerts", "", "")
	if code != http.StatusOK || !strings.Contains(body, hook.URL) || !strings.Contains(body, "extra.tmpl") {
		t.Fatalf("the stored configuration: %d %s", code, body)
	}

	// The upload takes effect at once: an alert sent right after it is
	// routed to the webhook.
	alert := fmt.Sprintf(`[{"labels":{"alertname":"DiskFull","severity":"page"},"annotations":{"summary":"the disk is full"},"startsAt":%q,"generatorURL":"%s/prometheus/graph"}]`,
		time.Now().Add(-time.Minute).Format(time.RFC3339), w.URL())
	code, body = amRequest(t, http.MethodPost, w.URL()+"/alertmanager/api/v2/alerts", "application/json", alert)
	if code != http.StatusOK {
		t.Fatalf("post alert: %d %s", code, body)
	}
	eventually(t, 10*time.Second, 100*time.Millisecond, "the webhook gets the alert", func() error {
		if n := notified(); len(n) != 1 || n[0] != "firing DiskFull" {
			return fmt.Errorf("got %q", n)
		}
		return nil
	})

	out := amtool(t, w, "alert", "query")
	if !strings.Contains(out, "DiskFull") || !strings.Contains(out, "the disk is full") {
		t.Fatalf("amtool alert query does not list the alert:\n%s", out)
	}
	out = amtool(t, w, "alert", "query", "-o", "json")
	if !strings.Contains(out, `"alertname":"DiskFull"`) {
		t.Fatalf("amtool alert query -o json:\n%s", out)
	}

	id := strings.TrimSpace(amtool(t, w, "silence", "add", "alertname=DiskFull", "--author=weft", "--comment=maintenance", "--duration=1h"))
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
		t.Fatalf("amtool silence add printed %q, want a silence ID", id)
	}
	out = amtool(t, w, "silence", "query")
	if !strings.Contains(out, id) || !strings.Contains(out, "alertname=\"DiskFull\"") || !strings.Contains(out, "maintenance") {
		t.Fatalf("amtool silence query does not list the silence %s:\n%s", id, out)
	}
	if out := strings.TrimSpace(amtool(t, w, "silence", "query", "-q")); out != id {
		t.Fatalf("amtool silence query -q = %q, want %q", out, id)
	}
	out = amtool(t, w, "alert", "query", "--silenced")
	if !strings.Contains(out, "DiskFull") {
		t.Fatalf("amtool alert query --silenced does not list the silenced alert:\n%s", out)
	}

	amtool(t, w, "silence", "expire", id)
	if out := strings.TrimSpace(amtool(t, w, "silence", "query", "-q")); out != "" {
		t.Fatalf("after expire, amtool silence query -q = %q, want nothing", out)
	}
	if out := amtool(t, w, "silence", "query", "--expired", "-q"); !strings.Contains(out, id) {
		t.Fatalf("amtool silence query --expired does not list %s:\n%s", id, out)
	}
	if n := notified(); len(n) != 1 {
		t.Fatalf("the webhook got %q, want one notification", n)
	}
	assertOnlyHTTPPort(t, w)
}

// listeningPorts returns the TCP ports pid listens on and the UDP ports it
// has bound, read from /proc: sockets are matched by inode.
func listeningPorts(t *testing.T, pid int) (tcp, udp []int) {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("cannot list the sockets of weft: %v", err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	read := func(file string, listenOnly bool) []int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			return nil
		}
		var ports []int
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] || (listenOnly && f[3] != "0A") {
				continue
			}
			_, portHex, _ := strings.Cut(f[1], ":")
			port, err := strconv.ParseInt(portHex, 16, 32)
			if err == nil {
				ports = append(ports, int(port))
			}
		}
		return ports
	}
	tcp = append(read("tcp", true), read("tcp6", true)...)
	udp = append(read("udp", false), read("udp6", false)...)
	return tcp, udp
}

// The all-in-one, with its Alertmanager running, listens on its HTTP port
// only: no gossip port (TCP or UDP), so two of them run on one host.
func assertOnlyHTTPPort(t *testing.T, w *weftProcess) {
	t.Helper()
	cmd, _ := w.running()
	tcp, udp := listeningPorts(t, cmd.Process.Pid)
	_, httpPort, _ := strings.Cut(w.HTTPAddr, ":")
	if len(tcp) != 1 || strconv.Itoa(tcp[0]) != httpPort || len(udp) != 0 {
		t.Fatalf("the all-in-one listens on TCP %v and UDP %v, want TCP %s only", tcp, udp, httpPort)
	}
}
