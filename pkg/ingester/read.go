package ingester

import (
	"context"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/wire"
)

// Querier implements wire.Reader: the tenant's head and local blocks.
func (i *Ingester) Querier(id string, mint, maxt int64) (storage.Querier, error) {
	t := i.get(id)
	if t == nil {
		return storage.NoopQuerier(), nil
	}
	return t.db.Querier(mint, maxt)
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
	return t.metadataFor(metric, limit), nil
}

type noExemplars struct{}

func (noExemplars) Select(int64, int64, ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	return nil, nil
}

// ChunkQuerier implements wire.ChunkReader: the gRPC server streams the
// TSDB's own chunks rather than re-encoding samples.
func (i *Ingester) ChunkQuerier(id string, mint, maxt int64) (storage.ChunkQuerier, error) {
	t := i.get(id)
	if t == nil {
		return storage.NoopChunkedQuerier(), nil
	}
	return t.db.ChunkQuerier(mint, maxt)
}
