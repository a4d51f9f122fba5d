package bucket

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

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore/providers/s3"
)

// s3ServerBinary is the S3-compatible server the tests run: versitygw with
// its posix backend, installed by scripts/s3server.sh.
const s3ServerBinary = "versitygw"

const (
	s3TestAccessKey = "weft-test-access"
	s3TestSecretKey = "weft-test-secret-key"
)

// findS3Server returns the path of versitygw: on PATH, else in
// $(go env GOPATH)/bin where scripts/s3server.sh installs it. When it is
// missing the test fails under CI (env CI set) and is skipped otherwise.
func findS3Server(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath(s3ServerBinary); err == nil {
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
		p := filepath.Join(d, s3ServerBinary)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("the S3 test server %q is neither on PATH nor in %v: install it with scripts/s3server.sh (or run .ci/run)", s3ServerBinary, dirs)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// s3Server is a versitygw process serving a temporary directory on a
// loopback port; it can be stopped and started again on the same port and
// data, to inject a real outage.
type s3Server struct {
	t    testing.TB
	bin  string
	root string // posix backend root: one directory per bucket
	addr string // 127.0.0.1:port
	logs string

	mu   sync.Mutex
	cmd  *exec.Cmd     // guarded by mu
	done chan struct{} // closed when cmd exits; guarded by mu
}

// startS3Server starts a server for the test and stops it at cleanup.
func startS3Server(t testing.TB) *s3Server {
	t.Helper()
	s := &s3Server{t: t, bin: findS3Server(t)}
	dir := t.TempDir()
	s.root = filepath.Join(dir, "root")
	s.logs = filepath.Join(dir, "versitygw.log")
	require.NoError(t, os.MkdirAll(s.root, 0o755))
	t.Cleanup(func() {
		s.stop()
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
		s.addr = freeLoopbackAddr(t)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("cannot start versitygw: %v", err)
	return nil
}

func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// start runs the server on s.addr and waits until it accepts connections.
func (s *s3Server) start() error {
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
	cmd := exec.Command(s.bin,
		"--access", s3TestAccessKey, "--secret", s3TestSecretKey,
		"--port", s.addr, "--quiet",
		"posix", "--sidecar", filepath.Join(filepath.Dir(s.root), "meta"), s.root)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := os.MkdirAll(filepath.Join(filepath.Dir(s.root), "meta"), 0o755); err != nil {
		return err
	}
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
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			s.cmd, s.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("versitygw does not listen on %s: %w", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (as a crash would) and waits for it to exit; it
// is a no-op when the server is not running.
func (s *s3Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// restart starts the server again on the same port and data.
func (s *s3Server) restart(t testing.TB) {
	var err error
	for range 50 { // the port may linger a moment after the kill
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("cannot restart versitygw: %v", err)
}

// createBucket creates a bucket on the server and returns the weft config
// that reaches it.
func (s *s3Server) createBucket(t testing.TB, name string) Config {
	t.Helper()
	cfg := s3.DefaultConfig
	cfg.Endpoint = s.addr
	cfg.Bucket = name
	cfg.AccessKey = s3TestAccessKey
	cfg.SecretKey = s3TestSecretKey
	cfg.Insecure = true
	cfg.BucketLookupType = s3.PathLookup
	// objstore's helper creates the bucket with minio's MakeBucket; its
	// cleanup (emptying the bucket) is not needed: the directory goes
	// away with the test.
	b, _, err := s3.NewTestBucketFromConfig(t, "", cfg, false)
	require.NoError(t, err, "cannot create bucket %s", name)
	require.NoError(t, b.Close())

	c := defaultConfig(t)
	c.Backend = S3
	c.S3.Endpoint = s.addr
	c.S3.BucketName = name
	c.S3.AccessKeyID = s3TestAccessKey
	c.S3.SecretAccessKey = s3TestSecretKey
	c.S3.Insecure = true
	return c
}
