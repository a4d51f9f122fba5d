package ingester

import (
	"context"
	"fmt"
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/weft-io/weft/pkg/wire"
)

var _ wire.CardinalityReader = (*Ingester)(nil)

// TSDBStatus implements wire.CardinalityReader: the head statistics of the
// tenant's TSDB, as Prometheus computes them for its own /status/tsdb. A
// tenant without a TSDB here has an empty head.
func (i *Ingester) TSDBStatus(_ context.Context, id string, limit int) (*wire.TSDBStatus, error) {
	if err := i.acquire(); err != nil {
		return nil, err
	}
	defer i.inflight.Done()
	t := i.get(id)
	if t == nil {
		return &wire.TSDBStatus{MinTime: math.MaxInt64, MaxTime: math.MinInt64}, nil
	}
	st := t.db.Head().Stats(labels.MetricName, limit)
	ps := st.IndexPostingStats
	return &wire.TSDBStatus{
		NumSeries:                   st.NumSeries,
		NumLabelPairs:               uint64(ps.NumLabelPairs),
		ChunkCount:                  t.headChunks(),
		MinTime:                     st.MinTime,
		MaxTime:                     st.MaxTime,
		SeriesCountByMetricName:     stats(ps.CardinalityMetricsStats),
		LabelValueCountByLabelName:  stats(ps.CardinalityLabelStats),
		MemoryInBytesByLabelName:    stats(ps.LabelValueStats),
		SeriesCountByLabelValuePair: stats(ps.LabelValuePairsStats),
	}, nil
}

func stats(in []index.Stat) []wire.Stat {
	out := make([]wire.Stat, len(in))
	for i, s := range in {
		out[i] = wire.Stat{Name: s.Name, Value: s.Count}
	}
	return out
}

// headChunks returns the number of chunks in the head, which the TSDB
// keeps only as its metric (Prometheus' /status/tsdb reads it the same
// way, from its registry).
func (t *tenantDB) headChunks() uint64 {
	mfs, err := t.reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "prometheus_tsdb_head_chunks" && len(mf.GetMetric()) > 0 {
			return uint64(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return 0
}

// LabelCardinality implements wire.CardinalityReader over the tenant's
// head: the in-memory series, as the cardinality API of Mimir counts them.
func (i *Ingester) LabelCardinality(ctx context.Context, id string, req *wire.CardinalityRequest) (*wire.LabelCardinality, error) {
	if err := i.acquire(); err != nil {
		return nil, err
	}
	defer i.inflight.Done()
	t := i.get(id)
	if t == nil {
		return &wire.LabelCardinality{}, nil
	}
	head := t.db.Head()
	ix, err := head.Index()
	if err != nil {
		return nil, fmt.Errorf("cannot read the head index of tenant %s: %w", id, err)
	}
	defer ix.Close()

	// The series that match the selector, once, to intersect with the
	// postings of each label value; nil without a selector.
	var (
		matching []storage.SeriesRef
		out      = &wire.LabelCardinality{SeriesCount: head.NumSeries()}
	)
	if len(req.Matchers) > 0 {
		p, err := tsdb.PostingsForMatchers(ctx, ix, req.Matchers...)
		if err != nil {
			return nil, fmt.Errorf("cannot select the series of tenant %s: %w", id, err)
		}
		if matching, err = index.ExpandPostings(p); err != nil {
			return nil, fmt.Errorf("cannot select the series of tenant %s: %w", id, err)
		}
		out.SeriesCount = uint64(len(matching))
		if len(matching) == 0 {
			return out, nil
		}
	}

	if len(req.LabelNames) == 0 {
		names, err := ix.LabelNames(ctx, req.Matchers...)
		if err != nil {
			return nil, fmt.Errorf("cannot read the label names of tenant %s: %w", id, err)
		}
		for _, name := range names {
			values, err := ix.LabelValues(ctx, name, nil, req.Matchers...)
			if err != nil {
				return nil, fmt.Errorf("cannot read the values of label %s of tenant %s: %w", name, id, err)
			}
			hashes := make([]uint64, len(values))
			for k, v := range values {
				hashes[k] = xxhash.Sum64String(v)
			}
			out.Labels = append(out.Labels, wire.LabelStats{Name: name, ValueHashes: hashes})
		}
		return out, nil
	}

	for _, name := range req.LabelNames {
		values, err := ix.LabelValues(ctx, name, nil, req.Matchers...)
		if err != nil {
			return nil, fmt.Errorf("cannot read the values of label %s of tenant %s: %w", name, id, err)
		}
		ls := wire.LabelStats{Name: name, Values: make([]wire.Stat, 0, len(values))}
		for _, v := range values {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			p, err := ix.Postings(ctx, name, v)
			if err != nil {
				return nil, fmt.Errorf("cannot read the series of %s=%q of tenant %s: %w", name, v, id, err)
			}
			if matching != nil {
				p = index.Intersect(p, index.NewListPostings(matching))
			}
			var n uint64
			for p.Next() {
				n++
			}
			if err := p.Err(); err != nil {
				return nil, fmt.Errorf("cannot read the series of %s=%q of tenant %s: %w", name, v, id, err)
			}
			if n == 0 {
				continue
			}
			ls.Values = append(ls.Values, wire.Stat{Name: v, Value: n})
			ls.SeriesCount += n
		}
		out.Labels = append(out.Labels, ls)
	}
	return out, nil
}
