package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxErrorSamples is how many error descriptions a report keeps.
const maxErrorSamples = 5

// maxErrorBody is how much of an error response body is kept.
const maxErrorBody = 512

// stats collects request outcomes from many goroutines. All fields are guarded by mu.
type stats struct {
	mu       sync.Mutex
	ok       int64
	failed   int64
	byStatus map[string]int64
	errs     []string
	lat      latencyHist // since the start
	latIntv  latencyHist // since the last progress line
	okIntv   int64
	failIntv int64
}

func newStats() *stats { return &stats{byStatus: map[string]int64{}} }

// statusKey is "200", "429", ... or "error" for transport failures.
func statusKey(code int) string {
	if code == 0 {
		return "error"
	}
	return strconv.Itoa(code)
}

// record counts one request. errText is kept (as one of the first few) when the
// request failed.
func (s *stats) recordLocked(code int, ok bool, d time.Duration, errText string) {
	s.byStatus[statusKey(code)]++
	s.lat.observe(d)
	s.latIntv.observe(d)
	if ok {
		s.ok++
		s.okIntv++
		return
	}
	s.failed++
	s.failIntv++
	if len(s.errs) < maxErrorSamples && errText != "" {
		s.errs = append(s.errs, errText)
	}
}

// takeIntervalLocked returns and resets the per-interval counters.
func (s *stats) takeIntervalLocked() (ok, failed int64, lat LatencySummary) {
	ok, failed, lat = s.okIntv, s.failIntv, s.latIntv.summary()
	s.okIntv, s.failIntv, s.latIntv = 0, 0, latencyHist{}
	return ok, failed, lat
}

// readErrorBody reads (at most maxErrorBody bytes of) a failed response's body and
// drains the rest so the connection can be reused.
func readErrorBody(code int, body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	_, _ = io.Copy(io.Discard, body)
	return fmt.Sprintf("HTTP %d: %s", code, strings.TrimSpace(string(b)))
}

// sortedStatus formats a status-code count map as "200=10 429=2".
func sortedStatus(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

func newHTTPClient(concurrency int, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = concurrency * 2
	tr.MaxIdleConnsPerHost = concurrency * 2
	tr.DisableCompression = true
	return &http.Client{Transport: tr, Timeout: timeout}
}

// sleepUntil waits until t or until ctx or stop ends; it reports whether t was reached.
func sleepUntil(ctx context.Context, stop <-chan struct{}, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
