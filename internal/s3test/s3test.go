package s3test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thanos-io/objstore/providers/s3"

	"github.com/weft-io/weft/internal/testport"
)

// Binary is the S3-compatible server the tests run.
const Binary = "versitygw"

// The credentials the server accepts.
const (
	AccessKey = "weft-test-access"
	SecretKey = "weft-test-secret-key"
)

// Find returns the path of versitygw: on PATH, else in $GOBIN or
// $(go env GOPATH)/bin where scripts/s3server.sh installs it. When it is
// missing the test fails under CI (env CI set) and is skipped otherwise.
func Find(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath(Binary); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, Binary)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("the S3 test server %q is neither on PATH nor in %v: install it with scripts/s3server.sh (or run .ci/run)", Binary, dirs)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Server is a versitygw process serving a temporary directory on a
// loopback port; it can be stopped and started again on the same port and
// data.
type Server struct {
	// Addr is the host:port it listens on.
	Addr string
	// Root is the posix backend's root: one directory per bucket, one
	// file per object, so tests can check what the bucket holds.
	Root string

	bin  string
	logs string

	mu   sync.Mutex
	cmd  *exec.Cmd     // guarded by mu
	done chan struct{} // closed when cmd exits; guarded by mu
}

// Start starts a server for the test and kills it at cleanup; its log is
// printed if the test failed.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{bin: Find(t)}
	dir := t.TempDir()
	s.Root = filepath.Join(dir, "root")
	s.logs = filepath.Join(dir, "versitygw.log")
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(s.logs); err == nil {
				t.Logf("versitygw log:\n%s", b)
			}
		}
	})
	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few.
	var err error
	for range 3 {
		s.Addr = testport.Addr(t)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("cannot start versitygw: %v", err)
	return nil
}

// start runs the server on s.Addr and waits until it accepts connections.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(s.logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	meta := filepath.Join(filepath.Dir(s.Root), "meta")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(s.bin,
		"--access", AccessKey, "--secret", SecretKey,
		"--port", s.Addr, "--quiet",
		"posix", "--sidecar", meta, s.Root)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(s.logs)
			return fmt.Errorf("versitygw exited at start: %s", bytes.TrimSpace(b))
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			s.cmd, s.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("versitygw does not listen on %s: %w", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (as a crash would) and waits for it to exit; it
// is a no-op when the server is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// Restart starts the server again on the same port and data; it fails
// the test (without stopping it) if it cannot.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	var err error
	for range 50 { // the port may linger a moment after the kill
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("cannot restart versitygw: %v", err)
}

// CreateBucket creates a bucket named name on the server.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	cfg := s3.DefaultConfig
	cfg.Endpoint = s.Addr
	cfg.Bucket = name
	cfg.AccessKey = AccessKey
	cfg.SecretKey = SecretKey
	cfg.Insecure = true
	cfg.BucketLookupType = s3.PathLookup
	// objstore's helper creates the bucket with minio's MakeBucket; its
	// cleanup (emptying the bucket) is not needed: the directory goes
	// away with the test.
	b, _, err := s3.NewTestBucketFromConfig(t, "", cfg, false)
	if err != nil {
		t.Fatalf("cannot create bucket %s: %v", name, err)
	}
	_ = b.Close()
}
