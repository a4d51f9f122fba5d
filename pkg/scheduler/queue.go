package scheduler

import (
	"cmp"
	"container/list"
	"context"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/weft-io/weft/pkg/wire"
)

// errStopped answers the requests of a scheduler that stops: the caller
// retries on another one.
var errStopped = wire.Errorf(wire.KindUnavailable, "", "the query-scheduler is stopping")

// errIDTooManyOutstanding is the stable ID of the per-tenant queue limit.
const errIDTooManyOutstanding = "err-weft-max-outstanding-requests-per-tenant"

// activeWindow is how long a tenant counts as active after its last
// query. While another tenant is active, a tenant's queries occupy at most
// its max_query_capacity share of the workers; a tenant alone may use
// every worker, so a single tenant's dashboards are not held to a share of
// the machine that nobody else wants.
const activeWindow = time.Minute

// request is one query waiting in the queue or running on a querier.
type request struct {
	ctx      context.Context
	req      *Request
	enqueued time.Time

	// Guarded by queue.mu.
	elem       *list.Element // in its tenant's list while queued
	dispatched bool          // taken by a querier worker

	// resp and err are set once, before done is closed.
	done chan struct{}
	resp *Response
	err  error
}

// tenantQueue is one tenant's FIFO of requests and what the queue knows
// of its shard of queriers.
type tenantQueue struct {
	reqs    list.List
	running int // dispatched and not yet finished
	pos     int // index in queue.order

	// shard is the set of querier IDs that may run the tenant's queries
	// (nil: every querier), computed for shardGen and shardSize.
	shard     map[string]bool
	shardGen  uint64
	shardSize int
}

// tenantLimits are the per-tenant limits the queue applies; the
// scheduler reads them from pkg/limits at each decision, so a change of
// the runtime file applies at once.
type tenantLimits interface {
	maxOutstanding(tenant string) int
	maxQueriers(tenant string) int
	maxCapacity(tenant string) float64
}

// queue is the fair queue: one FIFO per tenant, and querier workers that
// take the next request of the next tenant in round-robin order, so that
// a tenant with a thousand queued queries waits its turn like one with a
// single query.
type queue struct {
	limits tenantLimits
	m      *metrics

	mu      sync.Mutex
	tenants map[string]*tenantQueue // guarded by mu
	// order is the round-robin order of tenants; "" is a free slot. Each
	// worker keeps the index it served last, and goes on from there.
	order []string // guarded by mu
	// queriers counts the connected workers of each querier ID.
	queriers map[string]int // guarded by mu
	workers  int            // sum of queriers; guarded by mu
	gen      uint64         // bumped when the set of queriers changes; guarded by mu
	// wake is closed, and replaced, whenever a waiting worker may find
	// work: a request arrived, a running one finished, queriers changed.
	wake    chan struct{} // guarded by mu
	stopped bool          // guarded by mu
	// lastSeen is when each tenant last enqueued a query, for
	// activeWindow; older entries of idle tenants are dropped as they are
	// met.
	lastSeen map[string]time.Time // guarded by mu
}

func newQueue(lim tenantLimits, m *metrics) *queue {
	return &queue{limits: lim, m: m, tenants: map[string]*tenantQueue{}, queriers: map[string]int{}, wake: make(chan struct{}), lastSeen: map[string]time.Time{}}
}

func (q *queue) broadcastLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// enqueue appends r to its tenant's queue, or refuses it when the tenant
// has its limit of queued requests.
func (q *queue) enqueue(r *request) error {
	tenant := r.req.Tenant
	max := q.limits.maxOutstanding(tenant)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return errStopped
	}
	q.lastSeen[tenant] = time.Now()
	tq := q.tenants[tenant]
	if tq == nil {
		tq = &tenantQueue{pos: -1}
		q.tenants[tenant] = tq
		if i := slices.Index(q.order, ""); i >= 0 {
			tq.pos = i
			q.order[i] = tenant
		} else {
			tq.pos = len(q.order)
			q.order = append(q.order, tenant)
		}
	}
	if max > 0 && tq.reqs.Len() >= max {
		q.dropIfIdleLocked(tenant, tq)
		return wire.Errorf(wire.KindLimit, errIDTooManyOutstanding,
			"too many queued queries of tenant %s: %d are queued (raise max_outstanding_requests_per_tenant / -query-scheduler.max-outstanding-requests-per-tenant)", tenant, max)
	}
	r.elem = tq.reqs.PushBack(r)
	q.m.queueLength.WithLabelValues(tenant).Set(float64(tq.reqs.Len()))
	q.broadcastLocked()
	return nil
}

// remove takes r out of the queue if it is still queued, and reports
// whether it never reached a querier.
func (q *queue) remove(r *request) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r.elem == nil {
		return !r.dispatched
	}
	tenant := r.req.Tenant
	tq := q.tenants[tenant]
	tq.reqs.Remove(r.elem)
	r.elem = nil
	q.m.queueLength.WithLabelValues(tenant).Set(float64(tq.reqs.Len()))
	q.dropIfIdleLocked(tenant, tq)
	return true
}

// dropIfIdleLocked forgets a tenant with nothing queued or running.
func (q *queue) dropIfIdleLocked(tenant string, tq *tenantQueue) {
	if tq.reqs.Len() > 0 || tq.running > 0 {
		return
	}
	delete(q.tenants, tenant)
	q.order[tq.pos] = ""
	q.m.queueLength.DeleteLabelValues(tenant)
}

// dequeue waits for a request that the worker of querierID may run and
// returns it, dispatched. last is the worker's position in the round
// robin, updated. It fails when ctx is done or the queue stops.
func (q *queue) dequeue(ctx context.Context, querierID string, last *int) (*request, error) {
	for {
		q.mu.Lock()
		if q.stopped {
			q.mu.Unlock()
			return nil, errStopped
		}
		if r := q.nextLocked(querierID, last); r != nil {
			q.mu.Unlock()
			return r, nil
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

// nextLocked takes the first request of the first tenant after *last, in
// round-robin order, that has one queued, whose shard holds querierID,
// and that does not already occupy its share of the workers.
func (q *queue) nextLocked(querierID string, last *int) *request {
	active, only := q.activeLocked()
	n := len(q.order)
	for i := 1; i <= n; i++ {
		idx := (*last + i) % n
		if idx < 0 {
			idx += n
		}
		tenant := q.order[idx]
		if tenant == "" {
			continue
		}
		tq := q.tenants[tenant]
		if tq.reqs.Len() == 0 {
			continue
		}
		shard := q.shardLocked(tenant, tq)
		if shard != nil && !shard[querierID] {
			continue
		}
		alone := active == 0 || (active == 1 && only == tenant)
		if !alone && tq.running >= q.maxRunningLocked(tenant, shard) {
			continue
		}
		for tq.reqs.Len() > 0 {
			r := tq.reqs.Remove(tq.reqs.Front()).(*request)
			r.elem = nil
			if r.ctx.Err() != nil {
				// Its client left; Enqueue returns on its own.
				continue
			}
			r.dispatched = true
			tq.running++
			*last = idx
			q.m.queueLength.WithLabelValues(tenant).Set(float64(tq.reqs.Len()))
			return r
		}
		q.m.queueLength.WithLabelValues(tenant).Set(0)
		q.dropIfIdleLocked(tenant, tq)
	}
	return nil
}

// maxRunningLocked is how many of a tenant's requests may run at once:
// its share (max_query_capacity) of the workers of its shard, at least
// one. A tenant that floods queries thereby leaves workers idle for the
// others, whose queries start at once instead of waiting for one of the
// flood's to finish.
func (q *queue) maxRunningLocked(tenant string, shard map[string]bool) int {
	c := q.limits.maxCapacity(tenant)
	if c <= 0 || c >= 1 {
		return int(^uint(0) >> 1)
	}
	workers := q.workers
	if shard != nil {
		workers = 0
		for id := range shard {
			workers += q.queriers[id]
		}
	}
	return max(1, int(c*float64(workers)))
}

// activeLocked counts the active tenants: those with queries queued or
// running, and those that queried within activeWindow; only is one of
// them.
func (q *queue) activeLocked() (n int, only string) {
	now := time.Now()
	for t, seen := range q.lastSeen {
		if _, busy := q.tenants[t]; !busy && now.Sub(seen) > activeWindow {
			delete(q.lastSeen, t)
			continue
		}
		n++
		only = t
	}
	return n, only
}

// shardLocked returns the queriers that may run tenant's queries, nil for
// all: with max_queriers_per_tenant = n below the number of connected
// queriers, the first n of the sorted querier IDs shuffled with a seed of
// the tenant, so every scheduler that sees the same queriers picks the
// same shard, and two tenants seldom share all of theirs.
func (q *queue) shardLocked(tenant string, tq *tenantQueue) map[string]bool {
	size := q.limits.maxQueriers(tenant)
	if size <= 0 || size >= len(q.queriers) {
		return nil
	}
	if tq.shard != nil && tq.shardGen == q.gen && tq.shardSize == size {
		return tq.shard
	}
	tq.shard, tq.shardGen, tq.shardSize = shuffleShard(tenant, q.querierIDsLocked(), size), q.gen, size
	return tq.shard
}

func (q *queue) querierIDsLocked() []string {
	ids := make([]string, 0, len(q.queriers))
	for id := range q.queriers {
		ids = append(ids, id)
	}
	return ids
}

// shuffleShard picks size of ids for tenant, the same for the same set of
// ids whatever their order.
func shuffleShard(tenant string, ids []string, size int) map[string]bool {
	slices.SortFunc(ids, cmp.Compare[string])
	h := fnv.New64a()
	_, _ = h.Write([]byte(tenant))
	seed := h.Sum64()
	rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	shard := make(map[string]bool, size)
	for _, id := range ids[:size] {
		shard[id] = true
	}
	return shard
}

// finished records that a dispatched request is done.
func (q *queue) finished(r *request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	tenant := r.req.Tenant
	if tq := q.tenants[tenant]; tq != nil {
		tq.running--
		q.dropIfIdleLocked(tenant, tq)
	}
	q.broadcastLocked()
}

// addWorker and removeWorker count the connected workers of a querier.
func (q *queue) addWorker(querierID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queriers[querierID] == 0 {
		q.gen++
	}
	q.queriers[querierID]++
	q.workers++
	q.m.connectedQueriers.Set(float64(len(q.queriers)))
	q.m.connectedWorkers.Set(float64(q.workers))
	q.broadcastLocked()
}

func (q *queue) removeWorker(querierID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queriers[querierID]--
	q.workers--
	if q.queriers[querierID] <= 0 {
		delete(q.queriers, querierID)
		q.gen++
	}
	q.m.connectedQueriers.Set(float64(len(q.queriers)))
	q.m.connectedWorkers.Set(float64(q.workers))
	q.broadcastLocked()
}

// stop refuses new requests and returns those still queued, taken out.
func (q *queue) stop() []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return nil
	}
	q.stopped = true
	var out []*request
	for tenant, tq := range q.tenants {
		for e := tq.reqs.Front(); e != nil; e = e.Next() {
			r := e.Value.(*request)
			r.elem = nil
			out = append(out, r)
		}
		tq.reqs.Init()
		q.m.queueLength.DeleteLabelValues(tenant)
	}
	q.broadcastLocked()
	return out
}

// queueStatus is a snapshot of the queue for the status page.
type queueStatus struct {
	Tenants  []tenantStatus  `json:"tenants"`
	Queriers []querierStatus `json:"queriers"`
}

type tenantStatus struct {
	Tenant  string `json:"tenant"`
	Queued  int    `json:"queued"`
	Running int    `json:"running"`
}

type querierStatus struct {
	ID      string `json:"id"`
	Workers int    `json:"workers"`
}

func (q *queue) status() queueStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := queueStatus{Tenants: []tenantStatus{}, Queriers: []querierStatus{}}
	for t, tq := range q.tenants {
		st.Tenants = append(st.Tenants, tenantStatus{Tenant: t, Queued: tq.reqs.Len(), Running: tq.running})
	}
	for id, n := range q.queriers {
		st.Queriers = append(st.Queriers, querierStatus{ID: id, Workers: n})
	}
	slices.SortFunc(st.Tenants, func(a, b tenantStatus) int { return cmp.Compare(a.Tenant, b.Tenant) })
	slices.SortFunc(st.Queriers, func(a, b querierStatus) int { return cmp.Compare(a.ID, b.ID) })
	return st
}
