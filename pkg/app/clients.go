package app

import (
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-io/weft/pkg/wire"
)

// clientPool keeps one gRPC connection per address of an ingester or a
// store-gateway; gRPC reconnects by itself, so a connection outlives
// restarts of its peer. A process that runs both roles has one address,
// on which the clients of the ingester and of the store-gateway name the
// store they read.
type clientPool struct {
	maxMsg int
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn     // guarded by mu
	cls    map[string]*wire.IngesterClient // guarded by mu
	sgs    map[string]*wire.StoreClient    // guarded by mu
}

func newClientPool(maxMsg int) *clientPool {
	return &clientPool{maxMsg: 2 * maxMsg, conns: map[string]*grpc.ClientConn{}, cls: map[string]*wire.IngesterClient{}, sgs: map[string]*wire.StoreClient{}}
}

func (p *clientPool) get(addr string) (*wire.IngesterClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.cls[addr]; ok {
		return c, nil
	}
	conn, err := p.connLocked(addr)
	if err != nil {
		return nil, err
	}
	c := wire.NewIngesterClient(conn)
	p.cls[addr] = c
	return c, nil
}

func (p *clientPool) connLocked(addr string) (*grpc.ClientConn, error) {
	if conn, ok := p.conns[addr]; ok {
		return conn, nil
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Reconnect quickly: an ingester that restarts is back in the ring
		// within seconds, and gRPC's default backoff (up to 2 minutes)
		// would leave it unwritten for longer than it was down.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(p.maxMsg), grpc.MaxCallRecvMsgSize(p.maxMsg)))
	if err != nil {
		return nil, err
	}
	p.conns[addr] = conn
	return conn, nil
}

func (p *clientPool) pusher(addr string) (wire.Pusher, error) { return p.get(addr) }
func (p *clientPool) reader(addr string) (wire.Reader, error) { return p.get(addr) }

// storeGateway returns the reader of the store-gateway at addr.
func (p *clientPool) storeGateway(addr string) (wire.Reader, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.sgs[addr]; ok {
		return c, nil
	}
	conn, err := p.connLocked(addr)
	if err != nil {
		return nil, err
	}
	c := wire.NewStoreClient(conn, wire.StoreGateway)
	p.sgs[addr] = c
	return c, nil
}

func (p *clientPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, c := range p.conns {
		_ = c.Close()
		delete(p.conns, addr)
		delete(p.cls, addr)
		delete(p.sgs, addr)
	}
}
