package memcachedtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"sync"
	"testing"
	"time"

	"github.com/weft-io/weft/internal/testport"
)

// Binary is where the Debian package installs memcached; PATH is searched
// when it is not there.
const Binary = "/usr/bin/memcached"

// Server is a memcached process on a loopback port.
type Server struct {
	// Addr is the host:port it listens on.
	Addr string
	once sync.Once
	cmd  *exec.Cmd
}

// Start starts memcached (64 MiB, TCP only) and kills it at the test's
// cleanup. When it is not installed the test fails under CI (env CI set)
// and is skipped otherwise.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("memcached")
		if lerr != nil {
			msg := fmt.Sprintf("memcached is not installed (%s): install the Debian package memcached (scripts/test.sh does)", bin)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		bin = p
	}
	args := []string{"-l", "127.0.0.1", "-m", "64", "-U", "0"}
	if u, err := user.Current(); err == nil {
		args = append(args, "-u", u.Username) // memcached refuses to run as root without -u
	}
	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few.
	for range 3 {
		addr := testport.Addr(t)
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(bin, append(args, "-p", port)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("cannot start memcached: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		s := &Server{Addr: addr, cmd: cmd}
		t.Cleanup(func() { s.Kill(); <-done })
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			select {
			case <-done:
				t.Logf("memcached exited: %s", out.String())
			default:
				if c, err := net.Dial("tcp", addr); err == nil {
					_ = c.Close()
					return s
				}
				continue
			}
			break
		}
		s.Kill()
	}
	t.Fatal("cannot start memcached")
	return nil
}

// Kill stops the server at once; it is safe to call twice.
func (s *Server) Kill() {
	s.once.Do(func() { _ = s.cmd.Process.Kill() })
}
