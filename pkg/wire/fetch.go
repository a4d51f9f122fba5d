package wire

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// FetchStats counts what one query fetched from the stores — its series and
// the bytes of their chunks — and fails the query once either passes its
// tenant's per-query limit.
//
// The querier puts one in the query's context (WithFetchStats) and counts
// the series it selects; each store counts the chunks it reads into the
// stats of the context it was called with (FetchStatsFrom(ctx)): a
// StoreClient as it decodes a remote store's answer, a store-gateway or a
// TSDB opened with CountingBlockQuerier in the same process as it reads a
// chunk. A store that serves a remote querier counts nothing: its context
// carries no stats, and the querier counts what arrives.
//
// Counting is per series and per chunk, never per sample. The limit error is
// sticky: once a count passed its limit, every later Add and Err return it,
// so the querier can answer with it whatever error a store wrapped it in.
// A FetchStats is safe for concurrent use, and its methods do nothing on a
// nil one.
type FetchStats struct {
	maxSeries, maxChunkBytes int64 // 0: no limit

	series, chunkBytes atomic.Int64
	err                atomic.Pointer[FetchLimitError]
}

// NewFetchStats returns stats that fail past maxSeries series or
// maxChunkBytes bytes of chunks; 0 (or less) is no limit.
func NewFetchStats(maxSeries, maxChunkBytes int64) *FetchStats {
	return &FetchStats{maxSeries: max(maxSeries, 0), maxChunkBytes: max(maxChunkBytes, 0)}
}

type fetchStatsKey struct{}

// WithFetchStats returns a context that carries s.
func WithFetchStats(ctx context.Context, s *FetchStats) context.Context {
	return context.WithValue(ctx, fetchStatsKey{}, s)
}

// FetchStatsFrom returns the stats that ctx carries, nil when it carries
// none.
func FetchStatsFrom(ctx context.Context) *FetchStats {
	s, _ := ctx.Value(fetchStatsKey{}).(*FetchStats)
	return s
}

// AddSeries counts n series and returns the limit error once the series or
// the chunk bytes are over their limit.
func (s *FetchStats) AddSeries(n int) error {
	if s == nil {
		return nil
	}
	if total := s.series.Add(int64(n)); s.maxSeries > 0 && total > s.maxSeries {
		s.exceed(FetchLimitError{Limit: LimitFetchedSeries, Max: s.maxSeries})
	}
	return s.Err()
}

// AddChunkBytes counts n bytes of chunks and returns the limit error once
// the series or the chunk bytes are over their limit.
func (s *FetchStats) AddChunkBytes(n int) error {
	if s == nil {
		return nil
	}
	if total := s.chunkBytes.Add(int64(n)); s.maxChunkBytes > 0 && total > s.maxChunkBytes {
		s.exceed(FetchLimitError{Limit: LimitFetchedChunkBytes, Max: s.maxChunkBytes})
	}
	return s.Err()
}

// exceed keeps the first limit passed.
func (s *FetchStats) exceed(e FetchLimitError) { s.err.CompareAndSwap(nil, &e) }

// Err returns the limit error once a count passed its limit, nil before.
func (s *FetchStats) Err() error {
	if s == nil {
		return nil
	}
	if e := s.err.Load(); e != nil {
		return e
	}
	return nil
}

// Series returns the series counted so far.
func (s *FetchStats) Series() int64 {
	if s == nil {
		return 0
	}
	return s.series.Load()
}

// ChunkBytes returns the bytes of chunks counted so far.
func (s *FetchStats) ChunkBytes() int64 {
	if s == nil {
		return 0
	}
	return s.chunkBytes.Load()
}

// FetchLimit names a per-query fetch limit.
type FetchLimit int

// The per-query fetch limits.
const (
	LimitFetchedSeries FetchLimit = iota + 1
	LimitFetchedChunkBytes
)

// FetchLimitError is the failure of a query that fetched more than a
// per-query limit of its tenant allows. A retry cannot help: the query API
// answers it 422 (execution), as Prometheus answers its own query limits.
type FetchLimitError struct {
	Limit FetchLimit
	Max   int64
}

func (e *FetchLimitError) Error() string {
	switch e.Limit {
	case LimitFetchedSeries:
		return fmt.Sprintf("the query fetched more series than the limit of %d: narrow its selectors or time range, or raise max_fetched_series_per_query / -querier.max-fetched-series-per-query (err-weft-max-fetched-series-per-query)", e.Max)
	default:
		return fmt.Sprintf("the query fetched more bytes of chunks than the limit of %d: narrow its selectors or time range, or raise max_fetched_chunk_bytes_per_query / -querier.max-fetched-chunk-bytes-per-query (err-weft-max-fetched-chunk-bytes-per-query)", e.Max)
	}
}

// CountingBlockQuerier is a tsdb.BlockQuerierFunc (tsdb.Options) that
// counts the bytes of the chunks each query reads from a TSDB's head and
// blocks into the FetchStats of its Select's context, failing the read
// once the query is over its limit. The head's chunks of a query whose
// range reaches the head's out-of-order samples are not counted: the TSDB
// reads the head through its own out-of-order querier then, which merges
// chunks into iterables whose size is not known without encoding them.
func CountingBlockQuerier(b tsdb.BlockReader, mint, maxt int64) (storage.Querier, error) {
	cr := &countingChunkReader{}
	q, err := tsdb.NewBlockQuerier(countingBlock{BlockReader: b, cr: cr}, mint, maxt)
	if err != nil {
		return nil, err
	}
	return &countingQuerier{Querier: q, cr: cr}, nil
}

// countingQuerier points its chunk reader at the stats of each Select's
// context. The selects of one querier belong to one query.
type countingQuerier struct {
	storage.Querier
	cr *countingChunkReader
}

func (q *countingQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	if s := FetchStatsFrom(ctx); s != nil {
		q.cr.stats.Store(s)
	}
	return q.Querier.Select(ctx, sortSeries, hints, ms...)
}

// countingBlock is a block whose chunk reader counts.
type countingBlock struct {
	tsdb.BlockReader
	cr *countingChunkReader
}

func (b countingBlock) Chunks() (tsdb.ChunkReader, error) {
	inner, err := b.BlockReader.Chunks()
	if err != nil {
		return nil, err
	}
	b.cr.ChunkReader = inner
	return b.cr, nil
}

type countingChunkReader struct {
	tsdb.ChunkReader
	stats atomic.Pointer[FetchStats]
}

func (c *countingChunkReader) ChunkOrIterable(meta chunks.Meta) (chunkenc.Chunk, chunkenc.Iterable, error) {
	chk, it, err := c.ChunkReader.ChunkOrIterable(meta)
	if err != nil || chk == nil {
		return chk, it, err
	}
	if err := c.stats.Load().AddChunkBytes(len(chk.Bytes())); err != nil {
		return nil, nil, err
	}
	return chk, it, nil
}

// EnableChunkCache keeps the head's chunk cache, which the TSDB turns on
// through an interface of its chunk reader for range queries.
func (c *countingChunkReader) EnableChunkCache() {
	if e, ok := c.ChunkReader.(interface{ EnableChunkCache() }); ok {
		e.EnableChunkCache()
	}
}
