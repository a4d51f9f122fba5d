package distributor

import (
	"context"
	"errors"
	"sync"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/weft-io/weft/pkg/limits"
	weftring "github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/wire"
)

// RingPusher is a wire.Pusher that writes each series to the replication
// factor's ingesters on the ring (or the tenant's shuffle shard of it) and
// succeeds once every series has a quorum of acknowledgements.
type RingPusher struct {
	ring    dsring.ReadRing
	clients func(addr string) (wire.Pusher, error)
	limits  *limits.Overrides
	// timeout bounds pushes to the replicas that answer after the quorum;
	// they continue after Push returned.
	timeout time.Duration
	keys    sync.Pool // *[]uint32
	encoded sync.Pool // *encodedPush
}

// encodedPusher is a remote ingester that takes pre-encoded series.
type encodedPusher interface {
	PushEncoded(ctx context.Context, tenant string, parts ...[]byte) (wire.PushResult, error)
}

// encodedPush holds every series of a request encoded once, back to back;
// ends[i] is where entry i (series, then metadata) ends.
type encodedPush struct {
	buf  []byte
	ends []int
}

func (e *encodedPush) reset() { e.buf, e.ends = e.buf[:0], e.ends[:0] }

func (e *encodedPush) part(i int) []byte {
	start := 0
	if i > 0 {
		start = e.ends[i-1]
	}
	return e.buf[start:e.ends[i]]
}

// NewRingPusher returns a pusher over r; clients returns the pusher of the
// ingester at an address (a pooled gRPC client).
func NewRingPusher(r dsring.ReadRing, clients func(addr string) (wire.Pusher, error), lim *limits.Overrides, timeout time.Duration) *RingPusher {
	p := &RingPusher{ring: r, clients: clients, limits: lim, timeout: timeout}
	p.keys.New = func() any { return new([]uint32) }
	p.encoded.New = func() any { return &encodedPush{} }
	return p
}

// Push implements wire.Pusher; it returns only when every replica has
// answered, so req can be reused by the caller afterwards.
func (p *RingPusher) Push(ctx context.Context, tenant string, req *wire.PushRequest) (wire.PushResult, error) {
	done := make(chan struct{})
	res, err := p.PushAsync(ctx, tenant, req, func() { close(done) })
	<-done
	return res, err
}

// PushAsync returns as soon as every series has a quorum (or cannot get
// one); the remaining replicas are still written in the background, and
// release is called when the last of them is done and req may be reused.
func (p *RingPusher) PushAsync(ctx context.Context, tenant string, req *wire.PushRequest, release func()) (wire.PushResult, error) {
	r := weftring.TenantShard(p.ring, tenant, p.limits.For(tenant).IngestionTenantShardSize)
	kp := p.keys.Get().(*[]uint32)
	keys := (*kp)[:0]
	for i := range req.Series {
		keys = append(keys, weftring.TokenFor(tenant, req.Series[i].Labels))
	}
	// Metadata goes where its metric name hashes, as one more key each.
	for i := range req.Metadata {
		keys = append(keys, weftring.TokenFor(tenant, labels.FromStrings(labels.MetricName, req.Metadata[i].MetricFamily)))
	}
	*kp = keys
	nSeries := len(req.Series)

	// Encode each series once; every replica gets the same bytes.
	ep := p.encoded.Get().(*encodedPush)
	ep.reset()
	for i := range req.Series {
		ep.buf = wire.AppendSeriesMessage(ep.buf, &req.Series[i])
		ep.ends = append(ep.ends, len(ep.buf))
	}
	for i := range req.Metadata {
		ep.buf = wire.AppendMetadataMessage(ep.buf, &req.Metadata[i])
		ep.ends = append(ep.ends, len(ep.buf))
	}

	// The replicas answering after the quorum must not be cancelled with
	// the client's request. DoBatch itself watches the client's context:
	// the cleanup cancels bctx once the last replica answered, which may
	// be before DoBatch looks at the answers (a busy machine), and DoBatch
	// would then take bctx's end for the push's failure.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	cleanup := func() {
		cancel()
		p.keys.Put(kp)
		p.encoded.Put(ep)
		release()
	}
	err := dsring.DoBatchWithOptions(ctx, dsring.WriteNoExtend, r, keys, func(inst dsring.InstanceDesc, idx []int) error {
		c, err := p.clients(inst.Addr)
		if err != nil {
			return wire.Errorf(wire.KindUnavailable, "", "cannot reach ingester %s: %v", inst.Id, err)
		}
		if ec, ok := c.(encodedPusher); ok {
			parts := make([][]byte, len(idx))
			for j, i := range idx {
				parts[j] = ep.part(i)
			}
			_, err = ec.PushEncoded(bctx, tenant, parts...)
			return err
		}
		sub := &wire.PushRequest{}
		for _, i := range idx {
			if i < nSeries {
				sub.Series = append(sub.Series, req.Series[i])
			} else {
				sub.Metadata = append(sub.Metadata, req.Metadata[i-nSeries])
			}
		}
		_, err = c.Push(bctx, tenant, sub)
		return err
	}, dsring.DoBatchOptions{
		Cleanup: cleanup,
		// Bad data and limits are the client's fault: the same answer from
		// a quorum of replicas decides the request.
		IsClientError: func(err error) bool {
			k := wire.KindOf(err)
			return k == wire.KindBadData || k == wire.KindLimit
		},
	})
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) {
			err = wire.Errorf(wire.KindUnavailable, "", "cannot write to a quorum of ingesters: %v", err)
		}
		// Partial results are unknown across replicas; report none.
		return wire.PushResult{}, err
	}
	s, h, e := req.Counts()
	return wire.PushResult{Samples: s, Histograms: h, Exemplars: e}, nil
}
