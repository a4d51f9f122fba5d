package testport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowest is the first port handed out: well above the ports of services a
// developer may run (Prometheus' 9090, memcached's 11211...).
const lowest = 20000

var (
	mu     sync.Mutex
	issued = map[int]bool{} // ports handed out by this process
)

// Addr returns a 127.0.0.1:port address whose port was free for TCP and
// UDP (memberlist gossips over both) a moment ago and was not handed out
// before by this process. Another process may still bind it first; the
// callers retry a start that fails with "address already in use".
func Addr(t testing.TB) string {
	t.Helper()
	hi := ephemeralLow()
	if hi-lowest < 1000 {
		return anyAddr(t)
	}
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		p := lowest + rand.IntN(hi-lowest)
		if issued[p] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if !free(addr) {
			continue
		}
		issued[p] = true
		return addr
	}
	t.Fatalf("no free port found in %d-%d", lowest, hi-1)
	return ""
}

func free(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range, or 32768
// (Linux' default) when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// anyAddr lets the kernel choose, when the ephemeral range leaves no room
// below it.
func anyAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
