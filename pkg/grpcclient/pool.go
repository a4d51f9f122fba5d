package grpcclient

import (
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Keepalive pings find a connection whose peer vanished without a word (a
// network partition drops the packets, a stopped process answers none):
// the connection is closed and dialled again, so that new calls fail
// fast rather than each wait for its deadline on a dead connection. The
// servers of weft accept pings this often (ServerKeepalive).
const (
	KeepaliveTime    = 10 * time.Second
	KeepaliveTimeout = 5 * time.Second
)

// ServerKeepalive returns the server options that go with the pool's
// keepalive: the server accepts the clients' pings (gRPC's default
// refuses pings more often than every 5 minutes, closing the connection
// with "too many pings"), and pings quiet clients itself, so that the
// streams of a client that vanished are freed.
func ServerKeepalive() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveTime / 2, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout}),
	}
}

// Pool keeps one connection per address. gRPC reconnects by itself, so a
// connection outlives restarts of its peer. It is safe for concurrent use.
type Pool struct {
	maxMsg int
	opts   []grpc.DialOption // after the pool's own: TLS credentials

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // guarded by mu
}

// NewPool returns a Pool whose connections send and receive messages of
// up to maxMsg bytes. opts come after the pool's own options and win over
// them: grpc.WithTransportCredentials(credentials.NewTLS(...)) replaces
// plain text with TLS.
func NewPool(maxMsg int, opts ...grpc.DialOption) *Pool {
	return &Pool{maxMsg: maxMsg, opts: opts, conns: map[string]*grpc.ClientConn{}}
}

// Get returns the connection to addr, opening it on first use (gRPC
// connects lazily, so this does not wait for the peer).
func (p *Pool) Get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Reconnect quickly: a peer that restarts is back within
		// seconds, and gRPC's default backoff (up to 2 minutes) would
		// leave it unused for longer than it was down.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(p.maxMsg), grpc.MaxCallRecvMsgSize(p.maxMsg))}
	c, err := grpc.NewClient(addr, append(opts, p.opts...)...)
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

// Close closes every connection; a later Get opens a new one.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, c := range p.conns {
		_ = c.Close()
		delete(p.conns, addr)
	}
}
