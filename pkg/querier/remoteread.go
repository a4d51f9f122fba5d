package querier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// remoteReadMaxBytesInFrame is the size a frame of a streamed answer aims
// at, Prometheus' default (-storage.remote.read-max-bytes-in-frame).
const remoteReadMaxBytesInFrame = 1 << 20

// remoteReadMaxRequestBytes bounds a remote read request, compressed and
// decompressed: Prometheus' own bound (decodeReadLimit). A read request is a
// handful of matchers, so this is generous.
const remoteReadMaxRequestBytes = 32 << 20

// decodeReadRequest reads and decodes a snappy-compressed prompb.ReadRequest.
// Unlike remote.DecodeReadRequest, it refuses a body whose Content-Length or
// snappy header announces more than remoteReadMaxRequestBytes before
// allocating anything for it: a few bytes could otherwise claim 4 GiB.
func decodeReadRequest(w http.ResponseWriter, r *http.Request) (*prompb.ReadRequest, error) {
	if r.ContentLength > remoteReadMaxRequestBytes {
		return nil, httpapi.Errorf(http.StatusRequestEntityTooLarge, "remote read request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, remoteReadMaxRequestBytes)
	}
	compressed, err := io.ReadAll(http.MaxBytesReader(w, r.Body, remoteReadMaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, httpapi.Errorf(http.StatusRequestEntityTooLarge, "remote read request body is larger than the limit of %d bytes", remoteReadMaxRequestBytes)
		}
		return nil, httpapi.Errorf(http.StatusBadRequest, "cannot read the remote read request: %w", err)
	}
	n, err := snappy.DecodedLen(compressed)
	if err != nil {
		return nil, httpapi.Errorf(http.StatusBadRequest, "cannot decode the remote read request: %w", err)
	}
	if n > remoteReadMaxRequestBytes {
		return nil, httpapi.Errorf(http.StatusBadRequest, "cannot decode the remote read request: it claims %d bytes decompressed, the limit is %d", n, remoteReadMaxRequestBytes)
	}
	raw, err := snappy.Decode(nil, compressed)
	if err != nil {
		return nil, httpapi.Errorf(http.StatusBadRequest, "cannot decode the remote read request: %w", err)
	}
	var req prompb.ReadRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, httpapi.Errorf(http.StatusBadRequest, "cannot decode the remote read request: %w", err)
	}
	return &req, nil
}

// remoteReadHandler serves Prometheus' remote read protocol
// (POST /read): a snappy-compressed prompb.ReadRequest answered either with
// raw samples (SAMPLES) or with streamed XOR chunks (STREAMED_XOR_CHUNKS),
// whichever the client lists first among those it accepts, as Prometheus'
// own handler (storage/remote/read_handler.go) does. It uses that handler's
// codec and stream helpers, but not the handler itself: each query of the
// request runs under the tenant's query limits, and a limit answers 422 in
// weft's JSON error envelope, as the other query paths do, where
// Prometheus' handler would answer 500.
type remoteReadHandler struct {
	q           tenantQueryable
	limits      *limits.Overrides
	timeout     time.Duration // -querier.timeout
	logger      *slog.Logger
	marshalPool *sync.Pool
	// hold is how much of a streamed answer is held back before the
	// status is sent (remoteReadMaxBytesInFrame; tests lower it).
	hold int
}

func (h *remoteReadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpapi.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed, "remote read takes POST"))
		return
	}
	id, err := tenant.From(r.Context())
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	req, err := decodeReadRequest(w, r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	typ, err := remote.NegotiateResponseType(req.AcceptedResponseTypes)
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "cannot answer the remote read request: %w", err))
		return
	}
	lim := h.limits.For(id)
	// Every query is checked before any is run, so that a refused request
	// has streamed nothing.
	selects := make([]remoteSelect, len(req.Queries))
	for i, q := range req.Queries {
		if selects[i], err = newRemoteSelect(lim, q); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	timeout := h.timeout
	if t := time.Duration(lim.QueryTimeout); t > 0 && t < timeout {
		timeout = t
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if typ == prompb.ReadRequest_STREAMED_XOR_CHUNKS {
		h.serveChunks(ctx, w, lim, selects)
		return
	}
	h.serveSamples(ctx, w, lim, selects)
}

// remoteSelect is one query of a remote read request, checked.
type remoteSelect struct {
	mint, maxt int64
	hints      *storage.SelectHints
	matchers   []*labels.Matcher
}

// newRemoteSelect checks q against the tenant's max_query_length and
// decodes its matchers.
func newRemoteSelect(lim *limits.Limits, q *prompb.Query) (remoteSelect, error) {
	ms, err := remote.FromLabelMatchers(q.Matchers)
	if err != nil {
		return remoteSelect{}, httpapi.Errorf(http.StatusBadRequest, "cannot decode the matchers of the remote read query: %w", err)
	}
	if len(ms) == 0 {
		return remoteSelect{}, httpapi.Errorf(http.StatusBadRequest, "a remote read query needs at least one matcher")
	}
	if q.EndTimestampMs < q.StartTimestampMs {
		return remoteSelect{}, httpapi.Errorf(http.StatusBadRequest, "the remote read query ends (%d) before it starts (%d)", q.EndTimestampMs, q.StartTimestampMs)
	}
	if l := time.Duration(lim.MaxQueryLength); l > 0 {
		if d := time.Duration(q.EndTimestampMs-q.StartTimestampMs) * time.Millisecond; d > l {
			return remoteSelect{}, httpapi.Errorf(http.StatusUnprocessableEntity, "the remote read query time range of %s exceeds the limit of %s (raise max_query_length / -querier.max-query-length) (err-weft-max-query-length)", model.Duration(d), model.Duration(l))
		}
	}
	s := remoteSelect{mint: q.StartTimestampMs, maxt: q.EndTimestampMs, matchers: ms}
	if hq := q.Hints; hq != nil {
		s.hints = &storage.SelectHints{
			Start:    hq.StartMs,
			End:      hq.EndMs,
			Step:     hq.StepMs,
			Func:     hq.Func,
			Grouping: hq.Grouping,
			Range:    hq.RangeMs,
			By:       hq.By,
		}
	}
	return s, nil
}

// run selects s's series under the tenant's per-query limits (a query of
// a remote read request is one query for the limits) and calls f with
// them; it returns the error to answer, the limit's where one was passed.
func (h *remoteReadHandler) run(ctx context.Context, lim *limits.Limits, s remoteSelect, sortSeries bool, f func(storage.SeriesSet) error) error {
	fetch := wire.NewFetchStats(int64(lim.MaxFetchedSeriesPerQuery), int64(lim.MaxFetchedChunkBytesPerQuery))
	ctx = wire.WithFetchStats(ctx, fetch)
	qr, err := withBudget(h.q, lim.MaxSamplesPerQuery).Querier(s.mint, s.maxt)
	if err == nil {
		err = f(qr.Select(ctx, sortSeries, s.hints, s.matchers...))
		if cerr := qr.Close(); cerr != nil {
			h.logger.Warn("cannot close the remote read querier", "err", cerr)
		}
	}
	if err == nil {
		return nil
	}
	if lerr := fetch.Err(); lerr != nil {
		return httpapi.Errorf(http.StatusUnprocessableEntity, "%w", lerr)
	}
	if _, ok := errors.AsType[promql.ErrTooManySamplesRead](err); ok {
		return httpapi.Errorf(http.StatusUnprocessableEntity, "the remote read query read more samples than the limit of %d: narrow its selectors or time range, or raise max_samples_per_query / -querier.max-samples", lim.MaxSamplesPerQuery)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return httpapi.Errorf(http.StatusServiceUnavailable, "the remote read query timed out: narrow it, or raise query_timeout / -querier.timeout (err-weft-query-timeout)")
	}
	return fmt.Errorf("cannot read series: %w", err)
}

// serveSamples answers with every query's samples in one snappy-compressed
// ReadResponse.
func (h *remoteReadHandler) serveSamples(ctx context.Context, w http.ResponseWriter, lim *limits.Limits, selects []remoteSelect) {
	resp := prompb.ReadResponse{Results: make([]*prompb.QueryResult, len(selects))}
	for i, s := range selects {
		err := h.run(ctx, lim, s, false, func(set storage.SeriesSet) error {
			var err error
			// No sample limit of the codec's (it would answer 400):
			// the budget counts them.
			resp.Results[i], _, err = remote.ToQueryResult(set, 0)
			return err
		})
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Encoding", "snappy")
	if err := remote.EncodeReadResponse(&resp, w); err != nil {
		h.logger.Warn("cannot write the remote read answer", "err", err)
	}
}

// serveChunks streams each query's series as XOR (and histogram) chunks,
// at most one series a frame, in the order of the queries.
func (h *remoteReadHandler) serveChunks(ctx context.Context, w http.ResponseWriter, lim *limits.Limits, selects []remoteSelect) {
	hw := &holdingWriter{w: w, rc: http.NewResponseController(w), hold: h.hold}
	cw := remote.NewChunkedWriter(hw, hw)
	for i, s := range selects {
		// The streaming protocol wants each query's series sorted.
		err := h.run(ctx, lim, s, true, func(set storage.SeriesSet) error {
			_, err := remote.StreamChunkedReadResponses(cw, int64(i), storage.NewSeriesSetToChunkSet(noStartTimestamps{set}), nil, remoteReadMaxBytesInFrame, h.marshalPool)
			return err
		})
		if err == nil {
			continue
		}
		if !hw.started {
			httpapi.WriteError(w, err)
			return
		}
		// The status is sent: a normal end would make the client take
		// the cut stream for a whole answer. net/http aborts the
		// connection on this panic, without logging it, as Prometheus'
		// own handler does.
		h.logger.Warn("cannot stream the remote read answer", "query_index", i, "err", err)
		panic(http.ErrAbortHandler)
	}
	hw.finish()
}

// holdingWriter holds the start of a streamed answer back until it has
// hold bytes, so that an answer that fails early (most limits are passed
// early) is answered with the error's status and not with a cut stream.
type holdingWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController // flushes through whatever wraps w
	hold    int
	buf     []byte
	started bool // the status and the held bytes are sent
}

func (hw *holdingWriter) Write(p []byte) (int, error) {
	if hw.started {
		return hw.w.Write(p)
	}
	hw.buf = append(hw.buf, p...)
	if len(hw.buf) < hw.hold {
		return len(p), nil
	}
	if err := hw.start(); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (hw *holdingWriter) start() error {
	hw.started = true
	hw.w.Header().Set("Content-Type", "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
	_, err := hw.w.Write(hw.buf)
	hw.buf = nil
	return err
}

// Flush sends what was written once the hold is over.
func (hw *holdingWriter) Flush() {
	if hw.started {
		_ = hw.rc.Flush()
	}
}

// finish sends what is held, the whole answer of a small one.
func (hw *holdingWriter) finish() {
	if !hw.started {
		_ = hw.start()
	}
}

// noStartTimestamps hides the start timestamps of its series' samples:
// remote read has no field for them, and a chunk that carries them (XOR2)
// is one that remote read clients before Prometheus 3 cannot decode.
type noStartTimestamps struct{ storage.SeriesSet }

func (s noStartTimestamps) At() storage.Series { return noSTSeries{s.SeriesSet.At()} }

type noSTSeries struct{ storage.Series }

func (s noSTSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if n, ok := it.(noSTIterator); ok {
		it = n.Iterator
	}
	return noSTIterator{s.Series.Iterator(it)}
}

type noSTIterator struct{ chunkenc.Iterator }

func (noSTIterator) AtST() int64 { return 0 }
