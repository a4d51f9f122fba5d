package scheduler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/weft-io/weft/pkg/httpapi"
)

// QueueTimeHeader is the response header in which the RoundTripper gives
// the time, in seconds, that the query waited in the scheduler's queue.
const QueueTimeHeader = "X-Weft-Queue-Time"

// RoundTripper sends a frontend's HTTP requests through a query-scheduler
// to the queriers: the frontend's downstream. It enqueues each request in
// its tenant's queue and answers the querier's response, or the
// scheduler's refusal in Prometheus' error format (429 for a tenant with
// too many queued queries, 503 when no scheduler can take it). When the
// request's context is done, the query leaves the queue or is cancelled
// on its querier.
type RoundTripper struct {
	e       Enqueuer
	resolve func(*http.Request) (string, error)
}

// NewRoundTripper returns a RoundTripper over e; resolve finds the tenant
// of a request (pkg/tenant's Resolver.FromRequest).
func NewRoundTripper(e Enqueuer, resolve func(*http.Request) (string, error)) *RoundTripper {
	return &RoundTripper{e: e, resolve: resolve}
}

// RoundTrip implements http.RoundTripper. Like any RoundTripper it
// returns an error only when there is no answer: here, when the request's
// context is done.
func (rt *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	tenantID, err := rt.resolve(req)
	if err != nil {
		discardBody(req.Body)
		return errorResponse(req, err), nil
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot read the query's body: %w", err)
		}
	}
	uri := req.URL.RequestURI()
	resp, err := rt.e.Enqueue(req.Context(), &Request{Tenant: tenantID, Method: req.Method, URL: uri, Header: req.Header.Clone(), Body: body})
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, err
		}
		return errorResponse(req, err), nil
	}
	h := resp.Header
	if h == nil {
		h = http.Header{}
	}
	h.Set(QueueTimeHeader, strconv.FormatFloat(resp.QueueTime.Seconds(), 'f', -1, 64))
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", resp.Status, http.StatusText(resp.Status)),
		StatusCode:    resp.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}

// errorResponse answers err in Prometheus' error format, with the status
// httpapi picks for it.
func errorResponse(req *http.Request, err error) *http.Response {
	rec := httptest.NewRecorder()
	httpapi.WriteError(rec, err)
	resp := rec.Result()
	resp.Request = req
	return resp
}
