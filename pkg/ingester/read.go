package ingester

import (
	"context"
	"sync"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/wire"
)

// Querier implements wire.Reader: the tenant's head and local blocks.
func (i *Ingester) Querier(id string, mint, maxt int64) (storage.Querier, error) {
	if err := i.acquire(); err != nil {
		return nil, err
	}
	t, err := i.getForRead(id)
	if err != nil {
		i.inflight.Done()
		return nil, err
	}
	if t == nil {
		i.inflight.Done()
		return storage.NoopQuerier(), nil
	}
	q, err := t.db.Querier(mint, maxt)
	if err != nil {
		i.inflight.Done()
		return nil, err
	}
	return &trackedQuerier{Querier: q, done: i.inflight.Done}, nil
}

// getForRead returns the TSDB of tenant, nil when it has none, or an
// error when the ingester closed it after a failed WAL write and could
// not reopen it yet: its data is here, but cannot be read now.
func (i *Ingester) getForRead(id string) (*tenantDB, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if err, ok := i.unopened[id]; ok {
		return nil, wire.Errorf(wire.KindUnavailable, "", "the TSDB of tenant %s is closed after a failed write of its WAL, until the disk has room to reopen it (%v)", id, err)
	}
	return i.tenants[id], nil
}

// trackedQuerier and trackedChunkQuerier keep the ingester from closing
// the TSDB under a querier: stopping waits until every one is closed.
type trackedQuerier struct {
	storage.Querier
	done func()
	once sync.Once
}

func (q *trackedQuerier) Close() error {
	err := q.Querier.Close()
	q.once.Do(q.done)
	return err
}

type trackedChunkQuerier struct {
	storage.ChunkQuerier
	done func()
	once sync.Once
}

func (q *trackedChunkQuerier) Close() error {
	err := q.ChunkQuerier.Close()
	q.once.Do(q.done)
	return err
}

// ExemplarQuerier implements wire.Reader.
func (i *Ingester) ExemplarQuerier(_ context.Context, id string) (storage.ExemplarQuerier, error) {
	t := i.get(id)
	if t == nil {
		return noExemplars{}, nil
	}
	return t.db.ExemplarQuerier(context.Background())
}

// Metadata implements wire.Reader.
func (i *Ingester) Metadata(_ context.Context, id, metric string, limit int) ([]wire.Metadata, error) {
	t := i.get(id)
	if t == nil {
		return nil, nil
	}
	return t.meta.get(metric, limit), nil
}

type noExemplars struct{}

func (noExemplars) Select(int64, int64, ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	return nil, nil
}

// ChunkQuerier implements wire.ChunkReader: the gRPC server streams the
// TSDB's own chunks rather than re-encoding samples.
func (i *Ingester) ChunkQuerier(id string, mint, maxt int64) (storage.ChunkQuerier, error) {
	if err := i.acquire(); err != nil {
		return nil, err
	}
	t, err := i.getForRead(id)
	if err != nil {
		i.inflight.Done()
		return nil, err
	}
	if t == nil {
		i.inflight.Done()
		return storage.NoopChunkedQuerier(), nil
	}
	q, err := t.db.ChunkQuerier(mint, maxt)
	if err != nil {
		i.inflight.Done()
		return nil, err
	}
	return &trackedChunkQuerier{ChunkQuerier: q, done: i.inflight.Done}, nil
}

// HeldBlocks returns the blocks of the tenant's TSDB on local disk, shipped
// or not: a querier reads from the bucket the recent blocks that no live
// ingester holds (after a restart on an empty disk, for example).
func (i *Ingester) HeldBlocks(_ context.Context, id string) ([]ulid.ULID, error) {
	if err := i.acquire(); err != nil {
		return nil, err
	}
	defer i.inflight.Done()
	t := i.get(id)
	if t == nil {
		return nil, nil
	}
	blocks := t.db.Blocks()
	out := make([]ulid.ULID, 0, len(blocks))
	for _, b := range blocks {
		out = append(out, b.Meta().ULID)
	}
	return out, nil
}
