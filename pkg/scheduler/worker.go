package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"google.golang.org/grpc"

	"github.com/weft-io/weft/pkg/logutil"
)

// WorkerConfig configures a querier's workers.
type WorkerConfig struct {
	// QuerierID names the querier to the schedulers, which shard tenants
	// over querier IDs (max_queriers_per_tenant); stable across restarts.
	QuerierID string
	// Parallelism is how many queries the querier runs at once from the
	// schedulers: its workers, spread over the schedulers (at least one
	// each).
	Parallelism int
	// LookupPeriod is how often the schedulers' addresses are looked up.
	LookupPeriod time.Duration
}

// Worker pulls a querier's queries from the query-schedulers: for each
// scheduler it keeps streams open (one per concurrent query), receives
// HTTP requests on them, runs each through the querier's handler and
// sends the answer back. A request whose client leaves is cancelled on
// the scheduler's word. Stopping the worker lets the running queries
// finish. It is a dskit service.
type Worker struct {
	services.Service

	cfg     WorkerConfig
	addrs   func() ([]string, error)
	dial    func(ctx context.Context, addr string) (querierConn, error)
	handler http.Handler
	logger  *slog.Logger
	conns   *conns // gRPC only

	targets map[string]*target // by address; only the running loop touches it
	// stopped is one WaitGroup per stream ever started, to wait for them
	// all on stop. Touched by the running loop, then by stopping.
	stopped []*sync.WaitGroup
}

// NewWorker returns the workers of a querier that serve handler for the
// schedulers whose gRPC addresses addrs returns, looked up again every
// LookupPeriod. logger may be nil; opts are added to the dial options
// (TLS).
func NewWorker(cfg WorkerConfig, addrs func() ([]string, error), handler http.Handler, logger *slog.Logger, opts ...grpc.DialOption) *Worker {
	c := newConns(opts...)
	w := newWorker(cfg, addrs, c.dial, handler, logger)
	w.conns = c
	return w
}

// NewLocalWorker returns the workers of a querier that serve handler for
// the scheduler s of the same process (the all-in-one), with no gRPC.
func NewLocalWorker(cfg WorkerConfig, s *Scheduler, handler http.Handler, logger *slog.Logger) *Worker {
	return newWorker(cfg, func() ([]string, error) { return []string{"local"}, nil },
		func(ctx context.Context, _ string) (querierConn, error) { return s.connectLocal(ctx), nil }, handler, logger)
}

func newWorker(cfg WorkerConfig, addrs func() ([]string, error), dial func(context.Context, string) (querierConn, error), handler http.Handler, logger *slog.Logger) *Worker {
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 1
	}
	if cfg.LookupPeriod <= 0 {
		cfg.LookupPeriod = 5 * time.Second
	}
	w := &Worker{cfg: cfg, addrs: addrs, dial: dial, handler: handler, logger: logutil.OrNop(logger), targets: map[string]*target{}}
	w.Service = services.NewBasicService(nil, w.running, w.stopping)
	return w
}

func (w *Worker) running(ctx context.Context) error {
	t := time.NewTicker(w.cfg.LookupPeriod)
	defer t.Stop()
	for {
		w.reconcile()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// reconcile opens streams to new schedulers, closes those to the gone
// ones, and spreads Parallelism over them.
func (w *Worker) reconcile() {
	addrs, err := w.addrs()
	if err != nil {
		w.logger.Warn("cannot look up the query-schedulers", "err", err)
		return
	}
	for addr, t := range w.targets {
		if !slices.Contains(addrs, addr) {
			t.resize(0)
			delete(w.targets, addr)
		}
	}
	if len(addrs) == 0 {
		return
	}
	per := max(1, w.cfg.Parallelism/len(addrs))
	for _, addr := range addrs {
		t := w.targets[addr]
		if t == nil {
			t = &target{w: w, addr: addr}
			w.targets[addr] = t
		}
		t.resize(per)
	}
}

func (w *Worker) stopping(error) error {
	for addr, t := range w.targets {
		t.resize(0)
		delete(w.targets, addr)
	}
	// resize(0) only asks the streams to end: wait for their queries.
	for _, t := range w.stopped {
		t.Wait()
	}
	if w.conns != nil {
		w.conns.Close()
	}
	return nil
}

// target is the streams of a worker to one scheduler.
type target struct {
	w     *Worker
	addr  string
	stops []context.CancelFunc // one per stream
}

// resize runs n streams to the scheduler: new ones start, extra ones end
// once their running query is answered.
func (t *target) resize(n int) {
	for len(t.stops) < n {
		ctx, stop := context.WithCancel(context.Background())
		t.stops = append(t.stops, stop)
		wg := &sync.WaitGroup{}
		t.w.stopped = append(t.w.stopped, wg)
		wg.Go(func() { t.w.loop(ctx, t.addr) })
	}
	for len(t.stops) > n {
		t.stops[len(t.stops)-1]()
		t.stops = t.stops[:len(t.stops)-1]
	}
}

// loop keeps one stream to the scheduler at addr until ctx is done,
// reconnecting after a failure.
func (w *Worker) loop(ctx context.Context, addr string) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := w.dial(context.Background(), addr)
		if err == nil {
			err = w.runStream(ctx, conn)
			conn.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.logger.Debug("the stream to a query-scheduler ended", "addr", addr, "err", err)
		} else {
			delay = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// byeTimeout bounds the wait, after a worker's goodbye, for the scheduler
// to end the stream: a scheduler cut off by the network never does.
const byeTimeout = 10 * time.Second

// runStream serves the requests of one stream until the scheduler ends
// it; when stop is done it says goodbye, answers what the scheduler still
// sent, and returns when the scheduler ends the stream.
func (w *Worker) runStream(stop context.Context, conn querierConn) error {
	if err := conn.Send(&frame{kind: kindHello, querierID: w.cfg.QuerierID}); err != nil {
		return err
	}
	in := make(chan *frame)
	var recvErr error // set before in is closed
	go func() {
		defer close(in)
		for {
			f, err := conn.Recv()
			if err != nil {
				recvErr = err
				return
			}
			in <- f
		}
	}()
	defer func() {
		// Unblock the receiver, which may be sending a last frame.
		conn.Close()
		for range in {
		}
	}()
	stopping := stop.Done()
	var gone <-chan time.Time // after the goodbye: a scheduler that never ends the stream
	for {
		select {
		case <-stopping:
			stopping = nil
			if err := conn.Send(&frame{kind: kindBye}); err != nil {
				return err
			}
			gone = time.After(byeTimeout)
		case <-gone:
			return errors.New("the query-scheduler did not end the stream after the worker's goodbye")
		case f, ok := <-in:
			if !ok {
				if stopping == nil {
					return nil // the scheduler ended the stream after our goodbye
				}
				return recvErr
			}
			if f.kind != kindRequest {
				continue
			}
			resp, ok := w.run(f, in)
			if !ok {
				return recvErr
			}
			if err := conn.Send(&frame{kind: kindResponse, id: f.id, resp: resp}); err != nil {
				return err
			}
		}
	}
}

// run serves one request with the handler while watching the stream for
// its cancel; false when the stream ended meanwhile.
func (w *Worker) run(f *frame, in <-chan *frame) (*Response, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *Response, 1)
	go func() { done <- w.serveHTTP(ctx, f.req) }()
	for {
		select {
		case resp := <-done:
			return resp, true
		case g, ok := <-in:
			if !ok {
				cancel()
				<-done
				return nil, false
			}
			if g.kind == kindCancel && g.id == f.id {
				cancel()
			}
		}
	}
}

// serveHTTP runs req through the handler and returns its answer.
func (w *Worker) serveHTTP(ctx context.Context, req *Request) (resp *Response) {
	rw := &responseWriter{header: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			w.logger.Error("the querier's handler panicked", "url", req.URL, "panic", p)
			resp = &Response{Status: http.StatusInternalServerError, Header: http.Header{}, Body: []byte(fmt.Sprintf("panic: %v", p))}
		}
	}()
	r, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return &Response{Status: http.StatusBadRequest, Header: http.Header{}, Body: []byte(err.Error())}
	}
	r.Header = req.Header
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.RequestURI = req.URL
	w.handler.ServeHTTP(rw, r)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return &Response{Status: rw.status, Header: rw.header, Body: rw.body.Bytes()}
}

// responseWriter keeps a handler's answer in memory, to send it back.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rw *responseWriter) Header() http.Header { return rw.header }

func (rw *responseWriter) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
}

func (rw *responseWriter) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.body.Write(b)
}

// WriteString writes s without converting it to a []byte first.
func (rw *responseWriter) WriteString(s string) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.body.WriteString(s)
}

// Flush is a no-op: the answer goes back whole.
func (rw *responseWriter) Flush() {}
