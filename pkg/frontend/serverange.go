package frontend

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/weft-io/weft/pkg/httpapi"
)

// fetch is a range of one split part that the cache did not hold.
type fetch struct {
	part       int
	start, end int64
	res        *Result
}

// serveRange answers a range query from its split parts: each part's
// cached extents, plus what they miss computed downstream (through the
// middleware), at most max_query_parallelism requests at once; then it
// caches what can no longer change.
func (f *Frontend) serveRange(w http.ResponseWriter, r *http.Request, id string, rq *rangeQuery, tm *timings) {
	ctx := r.Context()
	if rq.timeout > 0 {
		// The client's timeout bounds the whole query, every part.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rq.timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	lim := f.limits.For(id)
	if l := time.Duration(lim.MaxQueryLength); l > 0 && time.Duration(rq.origEnd-rq.origStart)*time.Millisecond > l {
		w.Header().Set("Server-Timing", tm.header())
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "the query time range of %s exceeds the limit of %s (raise max_query_length / -querier.max-query-length) (err-weft-max-query-length)",
			time.Duration(rq.origEnd-rq.origStart)*time.Millisecond, l))
		return
	}
	now := f.now().UnixMilli()
	if lb := time.Duration(lim.MaxQueryLookback).Milliseconds(); lb > 0 {
		// Nothing older than the lookback is read: the points before
		// it would be empty.
		minT := now - lb
		if rq.end < minT {
			f.writeResult(w, &Result{}, tm)
			return
		}
		if rq.start < minT {
			rq.start = rq.gridAtOrBefore(minT-1) + rq.step
		}
	}

	t0 := time.Now()
	parts := splitQuery(rq, f.cfg.SplitInterval.Milliseconds())
	f.m.splitParts.Add(float64(len(parts)))
	since(&tm.split, t0)

	// Only answers that cannot change are cached: points older than the
	// freshness limit and the out-of-order window.
	useCache := f.cache != nil && lim.ResultsCacheEnabled && !noStore(r.Header.Values("Cache-Control"))
	bound := now - max(time.Duration(lim.MaxCacheFreshness), time.Duration(lim.OutOfOrderTimeWindow)).Milliseconds()
	if rq.hasFuture && rq.future > bound {
		useCache = false // it reads data that may still change at every point
	}
	extents := make([][]extent, len(parts))
	var keys []string
	if useCache {
		t1 := time.Now()
		gen, err := f.generation(ctx, id)
		if err != nil {
			f.m.cacheErrors.Inc()
			f.logger.Warn("cannot read the results cache generation; not caching", "tenant", id, "err", err)
			useCache = false
		} else {
			keys = make([]string, len(parts))
			for i, p := range parts {
				keys[i] = partKey(id, gen, rq.query, rq.step, rq.offset(), f.cfg.SplitInterval.Milliseconds(), p.index)
			}
			f.m.cacheRequests.Add(float64(len(keys)))
			got := f.cache.GetMulti(ctx, keys)
			for i, k := range keys {
				v, ok := got[k]
				if !ok {
					continue
				}
				es, err := decodeExtents(rq.query, v)
				if err != nil {
					f.m.cacheErrors.Inc()
					continue
				}
				if len(es) > 0 {
					f.m.cacheHits.Inc()
					f.m.cacheHitBytes.Add(float64(len(v)))
				}
				extents[i] = es
			}
		}
		since(&tm.cache, t1)
	}

	var fetches []*fetch
	for i, p := range parts {
		for _, g := range gaps(p.start, p.end, rq.step, extents[i]) {
			fetches = append(fetches, &fetch{part: i, start: g[0], end: g[1]})
		}
	}
	if !useCache && f.middleware == nil && len(fetches) == 1 {
		// One request and nothing to merge or cache: the querier's answer
		// is the answer, streamed without decoding it.
		f.streamRange(w, r, id, RangeRequest{Query: rq.query, Start: fetches[0].start, End: fetches[0].end, Step: rq.step}, tm)
		return
	}
	run := f.runDownstream(make(chan struct{}, max(lim.MaxQueryParallelism, 1)), tm)
	if f.middleware != nil {
		run = f.middleware(run)
	}
	t2 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, fe := range fetches {
		g.Go(func() error {
			res, err := run(gctx, RangeRequest{Query: rq.query, Start: fe.start, End: fe.end, Step: rq.step})
			fe.res = res
			return err
		})
	}
	err := g.Wait()
	since(&tm.eval, t2)
	if err != nil {
		var de *DownstreamError
		if errors.As(err, &de) {
			for k, v := range de.Header {
				w.Header()[k] = v
			}
			w.Header().Set("Server-Timing", tm.header())
			w.WriteHeader(de.Status)
			_, _ = w.Write(de.Body)
			return
		}
		w.Header().Set("Server-Timing", tm.header())
		httpapi.WriteError(w, err)
		return
	}

	t3 := time.Now()
	var pieces []*Result
	for i, p := range parts {
		for _, e := range extents[i] {
			if e.End >= p.start && e.Start <= p.end {
				pieces = append(pieces, &Result{Matrix: trimMatrix(e.Matrix, max(e.Start, p.start), min(e.End, p.end))})
			}
		}
	}
	for _, fe := range fetches {
		pieces = append(pieces, fe.res)
	}
	var res *Result
	if len(pieces) == 0 {
		res = &Result{}
	} else {
		res = mergeResults(pieces)
	}
	since(&tm.split, t3)

	if useCache {
		t4 := time.Now()
		f.store(rq, parts, keys, extents, fetches, bound)
		since(&tm.cache, t4)
	}
	f.writeResult(w, res, tm)
}

// store writes the extents of each part that gained cacheable ones: the
// computed ranges without annotations, cut at bound.
func (f *Frontend) store(rq *rangeQuery, parts []part, keys []string, extents [][]extent, fetches []*fetch, bound int64) {
	lastCacheable := rq.gridAtOrBefore(bound)
	added := make([][]extent, len(parts))
	for _, fe := range fetches {
		if !fe.res.cacheable() {
			continue
		}
		end := min(fe.end, lastCacheable)
		if end < fe.start {
			continue
		}
		m := fe.res.Matrix
		if end < fe.end {
			m = trimMatrix(m, fe.start, end)
		}
		added[fe.part] = append(added[fe.part], extent{Start: fe.start, End: end, Matrix: m})
	}
	data := map[string][]byte{}
	for i := range parts {
		if len(added[i]) == 0 {
			continue
		}
		es := mergeExtents(append(append([]extent(nil), extents[i]...), added[i]...), rq.step)
		v := encodeExtents(rq.query, es)
		data[keys[i]] = v
		f.m.cacheStoredBytes.Add(float64(len(v)))
	}
	if len(data) > 0 {
		f.cache.SetMultiAsync(data, f.cfg.ResultsCache.TTL)
	}
}

// streamRange sends rr downstream and streams its answer to w.
func (f *Frontend) streamRange(w http.ResponseWriter, r *http.Request, id string, rr RangeRequest, tm *timings) {
	t0 := time.Now()
	f.m.downstreamRanges.Inc()
	resp, err := f.roundTrip(r.Context(), tm, f.rangeRequest(r.Context(), id, rr))
	since(&tm.eval, t0)
	if err != nil {
		w.Header().Set("Server-Timing", tm.header())
		httpapi.WriteError(w, err)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Server-Timing", tm.header())
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (f *Frontend) writeResult(w http.ResponseWriter, res *Result, tm *timings) {
	buf := AppendResponse(make([]byte, 0, 4096), res)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Server-Timing", tm.header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}
