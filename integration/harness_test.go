package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weft-io/weft/internal/testport"
)

// weftBinary is the path of the weft binary that TestMain builds.
var weftBinary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "weft-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot create the build directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	weftBinary = filepath.Join(dir, "weft")
	start := time.Now()
	// The test runs in integration/; the module root is its parent.
	cmd := exec.Command(goTool(), "build", "-o", weftBinary, "./cmd/weft")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cannot build weft: %v\n%s", err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "built %s in %s\n", weftBinary, time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// goTool finds the go command that runs this test.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
// Another process may take it before we bind it; startWeft retries on that.
func freeAddr(t testing.TB) string { return testport.Addr(t) }

// weftOptions configure one weft process.
type weftOptions struct {
	// Args are extra flags, appended after the ones the harness sets.
	Args []string
}

// weftProcess is one weft OS process (and its restarts, on the same ports
// and directories).
type weftProcess struct {
	t         testing.TB
	name      string
	args      []string
	HTTPAddr  string
	GRPCAddr  string
	DataDir   string
	BucketDir string
	LogPath   string
	// TLS, when set, is the client side of the process's HTTPS: it serves
	// https, and the harness talks to it with this configuration.
	TLS *tls.Config
	// Prefix, when set, is the command that runs weft, its arguments
	// before weft's path: "ip netns exec <ns>" runs it in a network
	// namespace. The command must exec weft (keep its PID) for Signal.
	Prefix []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	runs   int
}

// startWeft starts weft with a fresh data directory and bucket on free
// loopback ports and waits until /ready answers 200. The process is killed
// at the end of the test, and its log is printed if the test failed.
func startWeft(t testing.TB, opts weftOptions) *weftProcess {
	t.Helper()
	root := t.TempDir()
	w := &weftProcess{
		t:         t,
		name:      "weft",
		args:      opts.Args,
		DataDir:   filepath.Join(root, "data"),
		BucketDir: filepath.Join(root, "bucket"),
		LogPath:   filepath.Join(root, "weft.log"),
	}
	t.Cleanup(func() {
		w.mu.Lock()
		running := w.cmd != nil
		w.mu.Unlock()
		if running {
			w.Kill()
		}
		if t.Failed() {
			dumpLog(t, w.name, w.LogPath)
		}
	})
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		w.HTTPAddr, w.GRPCAddr = freeAddr(t), freeAddr(t)
		lastErr = w.start()
		if lastErr == nil {
			return w
		}
		if !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("cannot start weft: %v", lastErr)
	return nil
}

func (w *weftProcess) commandLine() []string {
	args := []string{
		"-http.listen-address", w.HTTPAddr,
		"-grpc.listen-address", w.GRPCAddr,
		"-data.dir", w.DataDir,
		"-bucket.filesystem.dir", w.BucketDir,
	}
	return append(args, w.args...)
}

// start launches the process and waits for /ready.
func (w *weftProcess) start() error {
	w.mu.Lock()
	if w.cmd != nil {
		w.mu.Unlock()
		return errors.New("weft is already running")
	}
	w.runs++
	run := w.runs
	logf, err := os.OpenFile(w.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	args := w.commandLine()
	fmt.Fprintf(logf, "=== run %d at %s: weft %s\n", run, time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	name, argv := weftBinary, args
	if len(w.Prefix) > 0 {
		name = w.Prefix[0]
		argv = append(append(append([]string(nil), w.Prefix[1:]...), weftBinary), args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		w.mu.Unlock()
		return err
	}
	exited := make(chan struct{})
	w.cmd, w.exited = cmd, exited
	w.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		fmt.Fprintf(logf, "=== run %d ended: %s\n", run, cmd.ProcessState)
		logf.Close()
		close(exited)
	}()

	deadline := time.Now().Add(60 * time.Second)
	client := w.httpClient(2 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			w.mu.Lock()
			w.cmd = nil
			w.mu.Unlock()
			return fmt.Errorf("weft exited before it was ready (%s): %s", cmd.ProcessState, tail(w.LogPath, 2000))
		default:
		}
		resp, err := client.Get(w.URL() + "/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("weft was not ready after 60s")
}

// URL is the base URL of the HTTP server.
func (w *weftProcess) URL() string {
	if w.TLS != nil {
		return "https://" + w.HTTPAddr
	}
	return "http://" + w.HTTPAddr
}

// httpClient returns a client of the process's HTTP server (its TLS, if
// any).
func (w *weftProcess) httpClient(timeout time.Duration) *http.Client {
	if w.TLS == nil {
		return &http.Client{Timeout: timeout}
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: w.TLS}}
}

// Client returns a client of the query API and push endpoint for tenant
// ("" sends no X-Scope-OrgID header).
func (w *weftProcess) Client(tenant string) *apiClient {
	c := newAPIClient(w.URL(), w.URL()+"/prometheus/api/v1", tenant)
	if w.TLS != nil {
		c.hc.Transport = &http.Transport{MaxIdleConnsPerHost: 16, TLSClientConfig: w.TLS}
	}
	return c
}

// Restart starts the process again on the same ports and directories after
// Stop or Kill.
func (w *weftProcess) Restart() {
	w.t.Helper()
	if err := w.start(); err != nil {
		w.t.Fatalf("cannot restart weft: %v", err)
	}
}

// Stop sends SIGTERM, waits for the process to exit and fails the test
// unless it exited with status 0.
func (w *weftProcess) Stop() {
	w.t.Helper()
	if err := w.StopErr(); err != nil {
		w.t.Fatal(err)
	}
}

// StopErr is Stop that returns, rather than fails the test with, an exit
// status other than 0.
func (w *weftProcess) StopErr() error {
	w.t.Helper()
	cmd, exited := w.running()
	if cmd == nil {
		w.t.Fatalf("weft is not running")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		w.t.Fatalf("cannot send SIGTERM to weft: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		w.t.Fatalf("weft did not exit within 90s of SIGTERM")
	}
	w.clear()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("weft exited with %s after SIGTERM, want exit status 0", cmd.ProcessState)
	}
	return nil
}

// Kill kills the process with SIGKILL (no chance to flush or close
// anything) and waits until it is gone.
func (w *weftProcess) Kill() {
	cmd, exited := w.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	w.clear()
}

// Signal sends sig to the running process.
func (w *weftProcess) Signal(sig os.Signal) error {
	cmd, _ := w.running()
	if cmd == nil {
		return errors.New("weft is not running")
	}
	return cmd.Process.Signal(sig)
}

func (w *weftProcess) running() (*exec.Cmd, chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cmd, w.exited
}

func (w *weftProcess) clear() {
	w.mu.Lock()
	w.cmd = nil
	w.mu.Unlock()
}

// Log returns everything the process (all its runs) wrote so far.
func (w *weftProcess) Log() string {
	b, _ := os.ReadFile(w.LogPath)
	return string(b)
}

// dumpLog prints a log file into the test output, at most its last 256 KiB.
func dumpLog(t testing.TB, name, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("cannot read the log of %s: %v", name, err)
		return
	}
	const max = 256 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	t.Logf("---- log of %s (%s) ----\n%s---- end of log of %s ----", name, path, b, name)
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// eventually polls cond every interval until it returns nil or the
// deadline passes, then fails the test with the last error.
func eventually(t testing.TB, timeout, interval time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v", what, timeout, err)
		}
		time.Sleep(interval)
	}
}

// testContext returns a context that ends with the test (or after d).
func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// background runs a test's load (pushers, readers) in goroutines that
// return when their stop channel closes.
type background struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// startBackground returns a background that the test's cleanup stops.
func startBackground(t testing.TB) *background {
	b := &background{stop: make(chan struct{})}
	t.Cleanup(b.Stop)
	return b
}

// Go runs f in a goroutine until Stop.
func (b *background) Go(f func(stop <-chan struct{})) {
	b.wg.Add(1)
	go func() { defer b.wg.Done(); f(b.stop) }()
}

// Stop closes the stop channel and waits for every goroutine to return;
// it may be called more than once.
func (b *background) Stop() { b.once.Do(func() { close(b.stop); b.wg.Wait() }) }
