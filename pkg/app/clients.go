package app

import (
	"sync"

	"google.golang.org/grpc"

	"github.com/weft-io/weft/pkg/grpcclient"
	"github.com/weft-io/weft/pkg/wire"
)

// clientPool keeps one gRPC connection per address of an ingester or a
// store-gateway; gRPC reconnects by itself, so a connection outlives
// restarts of its peer. A process that runs both roles has one address,
// on which the clients of the ingester and of the store-gateway name the
// store they read.
type clientPool struct {
	conns *grpcclient.Pool
	mu    sync.Mutex
	cls   map[string]*wire.IngesterClient // guarded by mu
	sgs   map[string]*wire.StoreClient    // guarded by mu
}

func newClientPool(maxMsg int, opts ...grpc.DialOption) *clientPool {
	return &clientPool{conns: grpcclient.NewPool(2*maxMsg, opts...), cls: map[string]*wire.IngesterClient{}, sgs: map[string]*wire.StoreClient{}}
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

func (p *clientPool) connLocked(addr string) (*grpc.ClientConn, error) { return p.conns.Get(addr) }

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
	p.conns.Close()
	clear(p.cls)
	clear(p.sgs)
}
