package frontend

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// HandlerTransport returns a RoundTripper that serves each request with h
// in the calling goroutine: the downstream of a query-frontend whose
// querier runs in the same process, with no loopback HTTP. The request's
// context reaches h, so a client that goes away cancels the query.
func HandlerTransport(h http.Handler) http.RoundTripper { return handlerTransport{h} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rw := &bufferWriter{header: http.Header{}}
	t.h.ServeHTTP(rw, r)
	if rw.code == 0 {
		rw.code = http.StatusOK
	}
	return &http.Response{
		Status:        strconv.Itoa(rw.code) + " " + http.StatusText(rw.code),
		StatusCode:    rw.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rw.header,
		Body:          io.NopCloser(&rw.body),
		ContentLength: int64(rw.body.Len()),
		Request:       r,
	}, nil
}

// bufferWriter is the http.ResponseWriter of HandlerTransport: it keeps
// the answer in memory.
type bufferWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}

// URLTransport returns a RoundTripper that sends each request to base
// (scheme, host and a path prefix) with rt, or, when rt is nil, a copy of
// http.DefaultTransport that keeps enough idle connections for the parts
// of many queries: the downstream of a query-frontend in front of a
// querier in another process (-query-frontend.downstream-url).
func URLTransport(base string, rt http.RoundTripper) (http.RoundTripper, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cannot use %q as the downstream URL: want http://host:port", base)
	}
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 128
		rt = t
	}
	return urlTransport{base: u, rt: rt}, nil
}

type urlTransport struct {
	base *url.URL
	rt   http.RoundTripper
}

func (t urlTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.Scheme, u.Host = t.base.Scheme, t.base.Host
	u.Path = strings.TrimSuffix(t.base.Path, "/") + r.URL.Path
	u.RawPath = ""
	r2.URL, r2.Host = &u, t.base.Host
	return t.rt.RoundTrip(r2)
}

// bufferedResponse is a downstream answer read whole.
type bufferedResponse struct {
	status int
	header http.Header
	body   []byte
}

func readResponse(resp *http.Response) (*bufferedResponse, error) {
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		return nil, err
	}
	return &bufferedResponse{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}, nil
}
