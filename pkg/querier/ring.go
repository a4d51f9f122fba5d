package querier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/weft-io/weft/pkg/limits"
	weftring "github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/wire"
)

// RingReader is a wire.Reader over the ingesters of the ring: it asks every
// ingester that may hold the tenant's series (its shuffle shard), tolerates
// as many failures as the replication set allows, and merges the replicas'
// copies of each series into one, dropping duplicate samples.
type RingReader struct {
	ring     dsring.ReadRing
	clients  func(addr string) (wire.Reader, error)
	limits   *limits.Overrides
	lookback time.Duration
	// static, when set, replaces the ring: every tenant reads from it.
	static *dsring.ReplicationSet
	// everyInstance asks every healthy instance and keeps every answer,
	// skipping the ones that fail: store-gateways each own a shard of the
	// blocks, and a block check after the query finds what was missed.
	everyInstance bool
	// leftOut, when set, counts the replicas a read went on without.
	leftOut *prometheus.CounterVec
}

// WithMetrics registers, with reg, the count of ingester replicas that
// reads went on without, and returns r.
func (r *RingReader) WithMetrics(reg prometheus.Registerer) *RingReader {
	r.leftOut = promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Name: "weft_querier_ingester_replicas_left_out_total",
		Help: "Ingester replicas that a query's select or series count went on without, by ingester address and reason: slow (no answer by the time a quorum of replicas answered, and a grace after: a stopped or cut-off ingester) or failed (an error). The query still answers while the others hold a quorum.",
	}, []string{"ingester", "reason"})
	return r
}

// NewShardedStoreReader reads from every healthy store-gateway of r, each
// answering for the blocks it owns; failures are left to the caller's
// block check (CheckedReader), which fails a query that missed a block.
func NewShardedStoreReader(r dsring.ReadRing, clients func(addr string) (wire.Reader, error)) *RingReader {
	return &RingReader{ring: r, clients: clients, everyInstance: true}
}

// NewRingReader returns a reader over r; clients returns the reader of the
// ingester at an address. lookback widens a tenant's shard to the
// ingesters that were in it that long ago (they may still hold its series).
func NewRingReader(r dsring.ReadRing, clients func(addr string) (wire.Reader, error), lim *limits.Overrides, lookback time.Duration) *RingReader {
	return &RingReader{ring: r, clients: clients, limits: lim, lookback: lookback}
}

// NewStaticReader is a RingReader over a fixed list of replicas that each
// hold all the data (store-gateways that each own every block): a query is
// answered by the first replica that succeeds, so all but one may fail.
func NewStaticReader(addrs []string, clients func(addr string) (wire.Reader, error)) *RingReader {
	rs := &dsring.ReplicationSet{MaxErrors: max(len(addrs)-1, 0)}
	for _, a := range addrs {
		rs.Instances = append(rs.Instances, dsring.InstanceDesc{Addr: a, Id: a})
	}
	return &RingReader{clients: clients, static: rs}
}

func (r *RingReader) replicationSet(tenant string) (dsring.ReplicationSet, error) {
	if r.static != nil {
		return *r.static, nil
	}
	return weftring.ReadReplicationSet(r.ring, tenant, r.limits.For(tenant).IngestionTenantShardSize, r.lookback, time.Now())
}

// do runs f on the tenant's replication set and returns the results of
// enough instances to see every series.
func (r *RingReader) do(ctx context.Context, tenant string, f func(context.Context, wire.Reader) (any, error)) ([]any, error) {
	if r.everyInstance {
		return r.doEvery(ctx, f)
	}
	rs, err := r.replicationSet(tenant)
	if err != nil {
		return nil, wire.Errorf(wire.KindUnavailable, "", "cannot find the ingesters of tenant %s: %v", tenant, err)
	}
	res, err := rs.Do(ctx, 0, func(ctx context.Context, inst *dsring.InstanceDesc) (any, error) {
		c, err := r.clients(inst.Addr)
		if err != nil {
			return nil, err
		}
		return f(ctx, c)
	})
	if err != nil {
		// A storage error makes the query API answer 5xx (retry), not 422.
		return nil, storageError{wire.Errorf(wire.KindUnavailable, "", "cannot read from enough replicas of tenant %s: %w", tenant, err)}
	}
	return res, nil
}

// doEvery runs f on every healthy instance and returns the answers of
// those that succeeded.
func (r *RingReader) doEvery(ctx context.Context, f func(context.Context, wire.Reader) (any, error)) ([]any, error) {
	rs, err := r.ring.GetAllHealthy(dsring.Read)
	if err != nil || len(rs.Instances) == 0 {
		return nil, nil // no store-gateway: the block check decides
	}
	type answer struct {
		v   any
		err error
	}
	ch := make(chan answer, len(rs.Instances))
	for _, inst := range rs.Instances {
		go func(addr string) {
			c, err := r.clients(addr)
			if err != nil {
				ch <- answer{nil, err}
				return
			}
			v, err := f(ctx, c)
			ch <- answer{v, err}
		}(inst.Addr)
	}
	var out []any
	for range rs.Instances {
		if a := <-ch; a.err == nil {
			out = append(out, a.v)
		}
	}
	return out, nil
}

// Querier implements wire.Reader.
func (r *RingReader) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	return &ringQuerier{r: r, tenant: tenant, mint: mint, maxt: maxt}, nil
}

type ringQuerier struct {
	r          *RingReader
	tenant     string
	mint, maxt int64

	mu     sync.Mutex
	opened []storage.Querier // the replicas' queriers of its selects; guarded by mu
	closed bool              // guarded by mu
}

// Select streams the series of every instance of the tenant's replication
// set at once and merges them as they arrive, sorted: no replica's answer
// is read whole before the merge starts, and the merge holds one series
// per replica at a time (plus what each stream buffers). A replica that
// fails, when it opens or halfway through, leaves the merge: the other
// replicas hold its series as long as no more fail than the set
// tolerates, beyond which the query fails rather than return a partial
// answer.
//
// The merge starts once a quorum of the set has answered (its first
// series, or the end of its answer): all but MaxErrors instances, or every
// instance of all but MaxUnavailableZones zones. A write was acknowledged
// by a quorum too, so the two meet on at least one replica of every
// acknowledged sample. The others get a grace as long as the quorum took
// (see minStragglerGrace); those that have not answered by then are
// cancelled and left out, counted as failed: a stopped or partitioned
// ingester, which never answers, holds the query at most about twice as
// long as the slowest replica of the quorum (and no more than a second
// longer).
func (q *ringQuerier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	rs, tolerant, err := q.r.selectSet(q.tenant)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	f := &replicaFailures{rs: rs, tolerant: tolerant, tenant: q.tenant, report: wire.BlockReportFrom(ctx), leftOut: q.r.leftOut}
	if !tolerant {
		return q.selectQuorum(ctx, rs, f, hints, ms)
	}
	sets := make([]storage.SeriesSet, 0, len(rs.Instances))
	for i := range rs.Instances {
		inst := &rs.Instances[i]
		c, err := q.r.clients(inst.Addr)
		if err == nil {
			var qr storage.Querier
			if qr, err = c.Querier(q.tenant, q.mint, q.maxt); err == nil {
				q.track(qr)
				sets = append(sets, &replicaSet{SeriesSet: qr.Select(ctx, true, hints, ms...), inst: inst, f: f})
				continue
			}
		}
		if err := f.add(inst, err); err != nil {
			return storage.ErrSeriesSet(err)
		}
	}
	return mergeReplicas(sets)
}

// track keeps qr to close with q; after Close it closes qr at once.
func (q *ringQuerier) track(qr storage.Querier) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		_ = qr.Close()
		return
	}
	q.opened = append(q.opened, qr)
}

// Once a quorum of replicas answered a Select, the others get as long
// again, within these bounds, before they are left out.
const (
	minStragglerGrace = 100 * time.Millisecond
	maxStragglerGrace = time.Second
)

// errNoAnswerInTime is the failure of a replica left out of a Select
// because a quorum answered first.
var errNoAnswerInTime = errors.New("no answer by the time a quorum of replicas answered")

// firstAnswer is what one replica's stream gave first: a set whose first
// Next was called (peeked).
type firstAnswer struct{ set *peekedSet }

// instanceResult is the answer of instance i of a replication set.
type instanceResult[T any] struct {
	i   int
	v   T
	err error
	at  time.Time // when it came
}

// untilQuorum receives the results of the instances of rs from results
// (one from each, started at start) until a quorum succeeded, and then
// for a grace as long as the quorum took (within minStragglerGrace and
// maxStragglerGrace): an instance that is only slower is kept, where it
// covers for one that fails later (a stream broken halfway). It returns
// the successful results by instance index, the zero T for the others,
// which it records in f as failed: the caller cancels them. It fails when
// more instances failed than the set tolerates, or when ctx ends first.
func untilQuorum[T any](ctx context.Context, rs *dsring.ReplicationSet, f *replicaFailures, start time.Time, results <-chan instanceResult[T]) ([]T, error) {
	n := len(rs.Instances)
	qu := newQuorum(rs)
	got := make([]T, n)
	take := func(r instanceResult[T]) error {
		if r.err != nil {
			return f.add(&rs.Instances[r.i], r.err)
		}
		got[r.i] = r.v
		qu.add(r.i)
		return nil
	}
	seen := 0 // results received, failures included
	quorumAt := start
	for !qu.reached() {
		select {
		case r := <-results:
			seen++
			quorumAt = r.at
			if err := take(r); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	grace := time.NewTimer(time.Until(quorumAt.Add(min(max(quorumAt.Sub(start), minStragglerGrace), maxStragglerGrace))))
	defer grace.Stop()
stragglers:
	for ; seen < n; seen++ {
		select { // the results already there first, whatever the time
		case r := <-results:
			if err := take(r); err != nil {
				return nil, err
			}
			continue
		default:
		}
		select {
		case r := <-results:
			if err := take(r); err != nil {
				return nil, err
			}
		case <-grace.C:
			break stragglers
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for i := range rs.Instances {
		if !qu.done[i] {
			// Within what the set tolerates: the quorum is there.
			if err := f.add(&rs.Instances[i], errNoAnswerInTime); err != nil {
				return nil, err
			}
		}
	}
	return got, nil
}

// selectQuorum opens a stream on every instance of rs at once, each in a
// goroutine that waits for the stream's first answer, and returns a set
// that, when first read, waits for a quorum of first answers and merges
// those replicas (see Select).
func (q *ringQuerier) selectQuorum(ctx context.Context, rs dsring.ReplicationSet, f *replicaFailures, hints *storage.SelectHints, ms []*labels.Matcher) storage.SeriesSet {
	n := len(rs.Instances)
	cancels := make([]context.CancelFunc, n)
	answers := make(chan instanceResult[firstAnswer], n)
	start := time.Now()
	for i := range rs.Instances {
		rctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		go func(i int, addr string) {
			c, err := q.r.clients(addr)
			if err != nil {
				answers <- instanceResult[firstAnswer]{i: i, err: err, at: time.Now()}
				return
			}
			qr, err := c.Querier(q.tenant, q.mint, q.maxt)
			if err != nil {
				answers <- instanceResult[firstAnswer]{i: i, err: err, at: time.Now()}
				return
			}
			q.track(qr)
			set := qr.Select(rctx, true, hints, ms...)
			p := &peekedSet{SeriesSet: set, peeked: true}
			if p.first = set.Next(); !p.first && set.Err() != nil {
				answers <- instanceResult[firstAnswer]{i: i, err: set.Err(), at: time.Now()}
				return
			}
			answers <- instanceResult[firstAnswer]{i: i, v: firstAnswer{p}, at: time.Now()}
		}(i, rs.Instances[i].Addr)
	}
	wait := func() storage.SeriesSet {
		got, err := untilQuorum(ctx, &rs, f, start, answers)
		if err != nil {
			for _, cancel := range cancels {
				cancel()
			}
			return storage.ErrSeriesSet(err)
		}
		sets := make([]storage.SeriesSet, 0, n)
		for i, a := range got {
			if a.set == nil {
				cancels[i]()
				continue
			}
			sets = append(sets, &replicaSet{SeriesSet: a.set, inst: &rs.Instances[i], f: f, cancel: cancels[i]})
		}
		return mergeReplicas(sets)
	}
	return &lazySet{wait: wait}
}

// quorum tracks which instances of a replication set answered, and says
// when they are enough to hold every acknowledged sample: all but
// MaxErrors instances, or every instance of all but MaxUnavailableZones
// zones.
type quorum struct {
	rs   *dsring.ReplicationSet
	done []bool
	n    int
}

func newQuorum(rs *dsring.ReplicationSet) *quorum {
	return &quorum{rs: rs, done: make([]bool, len(rs.Instances))}
}

// add records that instance i answered.
func (q *quorum) add(i int) {
	if !q.done[i] {
		q.done[i] = true
		q.n++
	}
}

func (q *quorum) reached() bool {
	if q.rs.MaxUnavailableZones == 0 {
		return q.n >= len(q.rs.Instances)-q.rs.MaxErrors
	}
	missing := map[string]bool{} // zones with an instance that has not answered
	zones := map[string]bool{}
	for i, inst := range q.rs.Instances {
		zones[inst.Zone] = true
		if !q.done[i] {
			missing[inst.Zone] = true
		}
	}
	return len(zones)-len(missing) >= len(zones)-q.rs.MaxUnavailableZones
}

// peekedSet is a series set whose first Next was called ahead of the
// merge; its first Next replays that one.
type peekedSet struct {
	storage.SeriesSet
	peeked, first bool
}

func (p *peekedSet) Next() bool {
	if p.peeked {
		p.peeked = false
		return p.first
	}
	return p.SeriesSet.Next()
}

// lazySet runs wait when it is first read, and is then the set wait
// returned: the streams of a query's selects all open before the first is
// read.
type lazySet struct {
	wait func() storage.SeriesSet
	set  storage.SeriesSet
}

func (s *lazySet) Next() bool {
	if s.set == nil {
		s.set = s.wait()
	}
	return s.set.Next()
}

func (s *lazySet) At() storage.Series { return s.set.At() }

func (s *lazySet) Err() error {
	if s.set == nil {
		return nil
	}
	return s.set.Err()
}

func (s *lazySet) Warnings() annotations.Annotations {
	if s.set == nil {
		return nil
	}
	return s.set.Warnings()
}

// selectSet returns the instances a Select reads and whether it tolerates
// any number of failures (the sharded store: the block check decides).
func (r *RingReader) selectSet(tenant string) (dsring.ReplicationSet, bool, error) {
	if r.everyInstance {
		rs, err := r.ring.GetAllHealthy(dsring.Read)
		if err != nil {
			return dsring.ReplicationSet{}, true, nil // no store-gateway: the block check decides
		}
		return rs, true, nil
	}
	rs, err := r.replicationSet(tenant)
	if err != nil {
		return rs, false, wire.Errorf(wire.KindUnavailable, "", "cannot find the ingesters of tenant %s: %v", tenant, err)
	}
	return rs, false, nil
}

// replicaFailures counts the replicas of one Select that failed, against
// what the replication set tolerates: MaxErrors instances, or every
// instance of MaxUnavailableZones zones.
type replicaFailures struct {
	rs       dsring.ReplicationSet
	tolerant bool
	tenant   string
	// report, when tolerant, gets the failures, for the block check to
	// name their cause.
	report *wire.BlockReport

	leftOut *prometheus.CounterVec // may be nil

	mu     sync.Mutex
	failed map[string]struct{} // by instance address (zone when zone-aware); guarded by mu
}

// add records that inst failed with err, and returns the error the Select
// must fail with when the failures are more than the set tolerates.
func (f *replicaFailures) add(inst *dsring.InstanceDesc, err error) error {
	if f.leftOut != nil {
		reason := "failed"
		if errors.Is(err, errNoAnswerInTime) {
			reason = "slow"
		}
		f.leftOut.WithLabelValues(inst.Addr, reason).Inc()
	}
	if f.tolerant {
		f.report.Fail(fmt.Errorf("%s: %w", inst.Addr, err))
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed == nil {
		f.failed = map[string]struct{}{}
	}
	key, allowed := inst.Addr, f.rs.MaxErrors
	if f.rs.MaxUnavailableZones > 0 {
		key, allowed = inst.Zone, f.rs.MaxUnavailableZones
	}
	f.failed[key] = struct{}{}
	if len(f.failed) <= allowed {
		return nil
	}
	// A storage error makes the query API answer 5xx (retry), not 422.
	return storageError{wire.Errorf(wire.KindUnavailable, "", "cannot read from enough replicas of tenant %s: %w", f.tenant, err)}
}

// replicaSet is one replica's stream of series in a Select: it ends
// quietly when the replica fails and the others can answer without it.
type replicaSet struct {
	storage.SeriesSet
	inst *dsring.InstanceDesc
	f    *replicaFailures
	err  error
	// cancel, when set, ends the replica's stream once it is read.
	cancel context.CancelFunc
}

func (s *replicaSet) Next() bool {
	if s.SeriesSet.Next() {
		return true
	}
	if err := s.SeriesSet.Err(); err != nil {
		s.err = s.f.add(s.inst, err)
	}
	if s.cancel != nil {
		s.cancel()
	}
	return false
}

func (s *replicaSet) Err() error { return s.err }

func (q *ringQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.strings(ctx, hints, func(ctx context.Context, qr storage.Querier) ([]string, annotations.Annotations, error) {
		return qr.LabelValues(ctx, name, hints, ms...)
	})
}

func (q *ringQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.strings(ctx, hints, func(ctx context.Context, qr storage.Querier) ([]string, annotations.Annotations, error) {
		return qr.LabelNames(ctx, hints, ms...)
	})
}

// strings unions the sorted string lists of the instances.
func (q *ringQuerier) strings(ctx context.Context, hints *storage.LabelHints, f func(context.Context, storage.Querier) ([]string, annotations.Annotations, error)) ([]string, annotations.Annotations, error) {
	type answer struct {
		vals  []string
		warns annotations.Annotations
	}
	res, err := q.r.do(ctx, q.tenant, func(ctx context.Context, c wire.Reader) (any, error) {
		qr, err := c.Querier(q.tenant, q.mint, q.maxt)
		if err != nil {
			return nil, err
		}
		defer qr.Close()
		vals, warns, err := f(ctx, qr)
		return answer{vals, warns}, err
	})
	if err != nil {
		return nil, nil, err
	}
	var (
		all   []string
		warns annotations.Annotations
	)
	for _, x := range res {
		a := x.(answer)
		all = append(all, a.vals...)
		warns.Merge(a.warns)
	}
	sort.Strings(all)
	all = slices.Compact(all)
	if hints != nil && hints.Limit > 0 && len(all) > hints.Limit {
		all = all[:hints.Limit]
	}
	return all, warns, nil
}

// Close closes the replicas' queriers, once the engine is done with the
// series of its selects.
func (q *ringQuerier) Close() error {
	q.mu.Lock()
	opened := q.opened
	q.opened, q.closed = nil, true
	q.mu.Unlock()
	var errs []error
	for _, qr := range opened {
		errs = append(errs, qr.Close())
	}
	return errors.Join(errs...)
}

// ExemplarQuerier implements wire.Reader: the exemplars of every series
// from enough instances, each exemplar once.
func (r *RingReader) ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error) {
	return ringExemplars{r: r, ctx: ctx, tenant: tenant}, nil
}

type ringExemplars struct {
	r      *RingReader
	ctx    context.Context
	tenant string
}

func (e ringExemplars) Select(start, end int64, ms ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	res, err := e.r.do(e.ctx, e.tenant, func(ctx context.Context, c wire.Reader) (any, error) {
		eq, err := c.ExemplarQuerier(ctx, e.tenant)
		if err != nil {
			return nil, err
		}
		return eq.Select(start, end, ms...)
	})
	if err != nil {
		return nil, err
	}
	bySeries := map[string]*exemplar.QueryResult{}
	var keys []string
	for _, x := range res {
		for _, qr := range x.([]exemplar.QueryResult) {
			k := qr.SeriesLabels.String()
			cur, ok := bySeries[k]
			if !ok {
				c := qr
				c.Exemplars = slices.Clone(qr.Exemplars)
				bySeries[k] = &c
				keys = append(keys, k)
				continue
			}
			cur.Exemplars = append(cur.Exemplars, qr.Exemplars...)
		}
	}
	sort.Strings(keys)
	out := make([]exemplar.QueryResult, 0, len(keys))
	for _, k := range keys {
		qr := bySeries[k]
		sort.Slice(qr.Exemplars, func(i, j int) bool { return qr.Exemplars[i].Ts < qr.Exemplars[j].Ts })
		qr.Exemplars = slices.CompactFunc(qr.Exemplars, func(a, b exemplar.Exemplar) bool { return a.Ts == b.Ts && a.Value == b.Value })
		out = append(out, *qr)
	}
	return out, nil
}

// Metadata implements wire.Reader: the union over enough instances.
func (r *RingReader) Metadata(ctx context.Context, tenant, metric string, limit int) ([]wire.Metadata, error) {
	res, err := r.do(ctx, tenant, func(ctx context.Context, c wire.Reader) (any, error) {
		return c.Metadata(ctx, tenant, metric, 0)
	})
	if err != nil {
		return nil, err
	}
	seen := map[wire.Metadata]bool{}
	var out []wire.Metadata
	for _, x := range res {
		for _, m := range x.([]wire.Metadata) {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MetricFamily < out[j].MetricFamily })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

var _ wire.Reader = (*RingReader)(nil)

// HeldBlocks implements BlockHolder: the blocks that the instances of the
// tenant's replication set hold. An instance that does not answer holds
// nothing, so that its blocks are read from the store instead; the answer
// comes once a quorum of the set has answered (see quorum), so that a
// stopped or partitioned ingester does not hold every query: the others
// are cancelled, and what they hold is read from the store, if at all
// needed (their replicas hold it too).
func (r *RingReader) HeldBlocks(ctx context.Context, tenant string) ([]ulid.ULID, error) {
	rs, err := r.replicationSet(tenant)
	if err != nil {
		return nil, wire.Errorf(wire.KindUnavailable, "", "cannot find the ingesters of tenant %s: %v", tenant, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		i   int
		ids []ulid.ULID
	}
	answers := make(chan answer, len(rs.Instances))
	for i, inst := range rs.Instances {
		go func(i int, addr string) {
			var ids []ulid.ULID
			if c, err := r.clients(addr); err == nil {
				if h, ok := c.(BlockHolder); ok {
					if got, err := h.HeldBlocks(ctx, tenant); err == nil {
						ids = got
					}
				}
			}
			answers <- answer{i, ids}
		}(i, inst.Addr)
	}
	qu := newQuorum(&rs)
	var out []ulid.ULID
	for !qu.reached() {
		select {
		case a := <-answers:
			qu.add(a.i)
			out = append(out, a.ids...)
		case <-ctx.Done():
			return out, nil
		}
	}
	return out, nil
}
