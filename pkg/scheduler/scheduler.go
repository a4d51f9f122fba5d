package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/wire"
)

// Request is one HTTP request of a tenant's query, as it travels from a
// frontend through a scheduler to a querier. Its buffers belong to the
// request once enqueued: the caller must not change them.
type Request struct {
	// Tenant is the queue the request waits in: the tenant ID (or IDs,
	// for a federated query) of its X-Scope-OrgID header.
	Tenant string
	Method string
	// URL is the request URI: path and query.
	URL    string
	Header http.Header
	Body   []byte
}

// Response is a querier's answer to a Request.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// QueueTime is how long the request waited in the scheduler for a
	// querier.
	QueueTime time.Duration
}

// Enqueuer runs a request on a querier through a query-scheduler and
// returns the querier's answer: a *Scheduler in the same process, or a
// *Client of remote ones. When ctx is done the request is taken out of
// the queue, or cancelled on the querier that runs it.
type Enqueuer interface {
	Enqueue(ctx context.Context, req *Request) (*Response, error)
}

// Lifecycler registers the scheduler in the query-scheduler ring, where
// frontends and queriers find it.
type Lifecycler interface {
	Activate(ctx context.Context) error
	Leave(ctx context.Context) error
}

// Scheduler is the query-scheduler: a fair queue of the tenants' queries
// that querier workers pull from. It is a dskit service; stopping it
// fails the queued queries (503, retried by the frontend) after the
// workers finished the running ones.
type Scheduler struct {
	services.Service

	q      *queue
	m      *metrics
	lc     Lifecycler
	logger *slog.Logger
	nextID atomic.Uint64
}

// New returns a scheduler whose per-tenant limits (the queue length, the
// shard of queriers, the share of workers) come from lim. lc may be nil
// (no ring: the all-in-one); reg and logger may be nil.
func New(lim *limits.Overrides, lc Lifecycler, reg prometheus.Registerer, logger *slog.Logger) *Scheduler {
	m := newMetrics(reg)
	s := &Scheduler{q: newQueue(overridesLimits{lim}, m), m: m, lc: lc, logger: logutil.OrNop(logger)}
	s.Service = services.NewIdleService(s.starting, s.stopping)
	return s
}

func (s *Scheduler) starting(ctx context.Context) error {
	if s.lc == nil {
		return nil
	}
	return s.lc.Activate(ctx)
}

func (s *Scheduler) stopping(error) error {
	var err error
	if s.lc != nil {
		// Frontends and queriers stop choosing this scheduler.
		err = s.lc.Leave(context.Background())
	}
	for _, r := range s.q.stop() {
		s.m.discarded.WithLabelValues(r.req.Tenant, "stopping").Inc()
		r.err = errStopped
		close(r.done)
	}
	return err
}

// overridesLimits reads the queue's limits from pkg/limits.
type overridesLimits struct{ o *limits.Overrides }

func (l overridesLimits) maxOutstanding(t string) int {
	return l.o.For(t).MaxOutstandingRequestsPerTenant
}
func (l overridesLimits) maxQueriers(t string) int { return l.o.For(t).MaxQueriersPerTenant }
func (l overridesLimits) maxCapacity(t string) float64 {
	return l.o.For(t).MaxQueryCapacity
}

// Enqueue queues req in its tenant's queue and waits for a querier's
// answer. It fails at once with a limit error (429) when the tenant has
// max_outstanding_requests_per_tenant queries queued already.
func (s *Scheduler) Enqueue(ctx context.Context, req *Request) (*Response, error) {
	r := &request{ctx: ctx, req: req, enqueued: time.Now(), done: make(chan struct{})}
	if err := s.q.enqueue(r); err != nil {
		reason := "stopping"
		if wire.KindOf(err) == wire.KindLimit {
			reason = "too_many_outstanding_requests"
		}
		s.m.discarded.WithLabelValues(req.Tenant, reason).Inc()
		return nil, err
	}
	select {
	case <-r.done:
		return r.resp, r.err
	case <-ctx.Done():
	}
	stage := "running"
	if s.q.remove(r) {
		stage = "queued"
	}
	// A running request is cancelled on its querier by the worker's loop,
	// which watches the same context.
	s.m.cancelled.WithLabelValues(req.Tenant, stage).Inc()
	return nil, fmt.Errorf("cannot run the query: %w", ctx.Err())
}

// finish hands the answer of a dispatched request to its caller.
func (s *Scheduler) finish(r *request, resp *Response, err error) {
	s.q.finished(r)
	r.resp, r.err = resp, err
	close(r.done)
}

// errQuerierGone fails a request whose querier went away while running it:
// a retry runs it on another.
func errQuerierGone(querierID string, err error) error {
	return wire.Errorf(wire.KindUnavailable, "", "the querier %s went away while running the query: %v", querierID, err)
}

// serve is the scheduler's end of one querier worker's stream: it reads
// the querier's ID, then hands the worker one request at a time, waits
// for its answer and tells the worker when the request's client left.
// It returns when the worker says goodbye (after its last answer), when
// the stream breaks, or when the scheduler stops.
func (s *Scheduler) serve(ctx context.Context, conn schedulerConn) error {
	hello, err := conn.Recv()
	if err != nil {
		return err
	}
	if hello.kind != kindHello || hello.querierID == "" {
		return errors.New("cannot serve the querier: its stream does not start with its ID")
	}
	querierID := hello.querierID
	s.q.addWorker(querierID)
	defer s.q.removeWorker(querierID)

	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	answers := make(chan *frame)
	served := make(chan struct{}) // closed when serve returns
	defer close(served)
	var recvErr error // set before answers is closed
	go func() {
		defer close(answers)
		for {
			f, err := conn.Recv()
			if err != nil {
				recvErr = err
				stopLoop()
				return
			}
			switch f.kind {
			case kindBye:
				// No new request; the one running, if any, still answers.
				stopLoop()
			case kindResponse:
				select {
				case answers <- f:
				case <-served:
					// The stream ends: Recv fails next.
				}
			}
		}
	}()

	last := -1
	for {
		r, err := s.q.dequeue(loopCtx, querierID, &last)
		if err != nil {
			if errors.Is(err, errStopped) || loopCtx.Err() != nil {
				return nil
			}
			return err
		}
		queueTime := time.Since(r.enqueued)
		s.m.queueDuration.Observe(queueTime.Seconds())
		id := s.nextID.Add(1)
		if err := conn.Send(&frame{kind: kindRequest, id: id, req: r.req}); err != nil {
			s.finish(r, nil, errQuerierGone(querierID, err))
			return err
		}
		cancelled := r.ctx.Done()
		for waiting := true; waiting; {
			select {
			case f, ok := <-answers:
				if !ok {
					s.finish(r, nil, errQuerierGone(querierID, recvErr))
					return recvErr
				}
				if f.id != id {
					continue
				}
				f.resp.QueueTime = queueTime
				s.finish(r, f.resp, nil)
				waiting = false
			case <-cancelled:
				// The client left: the querier stops the query, and
				// answers (with the handler's error), which frees the
				// worker.
				cancelled = nil
				if err := conn.Send(&frame{kind: kindCancel, id: id}); err != nil {
					s.finish(r, nil, errQuerierGone(querierID, err))
					return err
				}
			}
		}
	}
}

// ServeHTTP serves the scheduler's status page: the tenants with queued
// or running queries and the connected queriers; JSON with ?format=json.
func (s *Scheduler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := s.q.status()
	if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, st)
}

var statusPage = template.Must(template.New("scheduler").Parse(`<!doctype html><html><head><title>weft query-scheduler</title></head><body>
<h1>Query-scheduler</h1>
<h2>Tenants</h2><table border="1" cellpadding="4"><tr><th>tenant</th><th>queued</th><th>running</th></tr>
{{range .Tenants}}<tr><td>{{.Tenant}}</td><td>{{.Queued}}</td><td>{{.Running}}</td></tr>{{end}}</table>
<h2>Queriers</h2><table border="1" cellpadding="4"><tr><th>querier</th><th>connected workers</th></tr>
{{range .Queriers}}<tr><td>{{.ID}}</td><td>{{.Workers}}</td></tr>{{end}}</table>
<p><a href="?format=json">JSON</a></p></body></html>`))

// metrics are the scheduler's own.
type metrics struct {
	queueLength       *prometheus.GaugeVec
	queueDuration     prometheus.Histogram
	connectedQueriers prometheus.Gauge
	connectedWorkers  prometheus.Gauge
	discarded         *prometheus.CounterVec
	cancelled         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		queueLength: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_query_scheduler_queue_length",
			Help: "Queries queued in the query-scheduler, by tenant.",
		}, []string{"tenant"}),
		queueDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:                        "weft_query_scheduler_queue_duration_seconds",
			Help:                        "Time queries waited in the query-scheduler for a querier.",
			Buckets:                     prometheus.ExponentialBuckets(0.001, 4, 9),
			NativeHistogramBucketFactor: 1.1,
		}),
		connectedQueriers: f.NewGauge(prometheus.GaugeOpts{
			Name: "weft_query_scheduler_connected_queriers",
			Help: "Queriers with at least one worker connected to this query-scheduler.",
		}),
		connectedWorkers: f.NewGauge(prometheus.GaugeOpts{
			Name: "weft_query_scheduler_connected_querier_workers",
			Help: "Querier workers connected to this query-scheduler; each runs one query at a time.",
		}),
		discarded: f.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_query_scheduler_discarded_requests_total",
			Help: "Queries the query-scheduler refused or dropped, by tenant and reason (too_many_outstanding_requests, stopping).",
		}, []string{"tenant", "reason"}),
		cancelled: f.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_query_scheduler_cancelled_requests_total",
			Help: "Queries whose client went away, by tenant and by stage: queued (taken out of the queue) or running (cancelled on the querier).",
		}, []string{"tenant", "stage"}),
	}
}

// discardBody drains and closes a request body.
func discardBody(rc io.ReadCloser) {
	if rc != nil {
		_, _ = io.Copy(io.Discard, rc)
		_ = rc.Close()
	}
}
