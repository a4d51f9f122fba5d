package distributor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// errPusher answers every push with err.
type errPusher struct{ err error }

func (p errPusher) Push(context.Context, string, *wire.PushRequest) (wire.PushResult, error) {
	return wire.PushResult{}, p.err
}

// testDistributor returns a distributor with the default limits, changed by
// limitFlags, in front of pusher.
func testDistributor(t *testing.T, pusher wire.Pusher, limitFlags ...string) *Distributor {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-distributor.max-recv-msg-size=4096"}))
	var lim limits.Limits
	lfs := flag.NewFlagSet("", flag.ContinueOnError)
	lim.RegisterFlags(lfs)
	require.NoError(t, lfs.Parse(limitFlags))
	d, err := New(cfg, limits.NewOverrides(lim, nil), pusher, tenant.Resolver{MultiTenancy: true}, nil, nil)
	require.NoError(t, err)
	return d
}

// v1Body is a snappy remote write 1.0 request of one sample per series,
// each series' labels in the order given (name, value, name, value, ...).
func v1Body(t *testing.T, series ...[]string) []byte {
	t.Helper()
	var req prompb.WriteRequest
	for _, kv := range series {
		var ts prompb.TimeSeries
		for i := 0; i+1 < len(kv); i += 2 {
			ts.Labels = append(ts.Labels, prompb.Label{Name: kv[i], Value: kv[i+1]})
		}
		ts.Samples = []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: 1}}
		req.Timeseries = append(req.Timeseries, ts)
	}
	pb, err := req.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, pb)
}

// answer is a push's status and Prometheus error envelope.
type answer struct {
	code      int
	status    string
	errorType string
	error     string
}

func doPush(t *testing.T, d *Distributor, method, tenantID string, hdr map[string]string, body []byte) answer {
	t.Helper()
	r := httptest.NewRequest(method, "/api/v1/push", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Content-Encoding", "snappy")
	if tenantID != "" {
		r.Header.Set(tenant.Header, tenantID)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	a := answer{code: w.Code}
	if w.Code/100 != 2 {
		var env struct {
			Status    string `json:"status"`
			ErrorType string `json:"errorType"`
			Error     string `json:"error"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env), w.Body.String())
		a.status, a.errorType, a.error = env.Status, env.ErrorType, env.Error
	}
	return a
}

// Every way a push fails, from the request to the ingesters' answer, gets
// the status of the error edge and Prometheus' error envelope.
func TestPushErrorStatus(t *testing.T) {
	good := v1Body(t, []string{"__name__", "up", "job", "a"})
	f := func(d *Distributor, method, tenantID string, hdr map[string]string, body []byte, wantCode int, wantType string, wantMsg ...string) {
		t.Helper()
		a := doPush(t, d, method, tenantID, hdr, body)
		require.Equal(t, wantCode, a.code, a.error)
		require.Equal(t, "error", a.status)
		require.Equal(t, wantType, a.errorType, a.error)
		for _, m := range wantMsg {
			require.Contains(t, a.error, m)
		}
	}
	ok := testDistributor(t, &capturePusher{})
	f(ok, http.MethodGet, "t", nil, nil, http.StatusMethodNotAllowed, "bad_data", "POST")
	f(ok, http.MethodPost, "", nil, good, http.StatusUnauthorized, "unauthorized", tenant.Header)
	f(ok, http.MethodPost, "../etc", nil, good, http.StatusBadRequest, "bad_data", "invalid tenant ID")
	f(ok, http.MethodPost, "t", map[string]string{"Content-Type": "application/json"}, good, http.StatusUnsupportedMediaType, "bad_data", "application/json")
	f(ok, http.MethodPost, "t", map[string]string{"Content-Encoding": "gzip"}, good, http.StatusUnsupportedMediaType, "bad_data", "gzip")
	f(ok, http.MethodPost, "t", nil, []byte("not snappy"), http.StatusBadRequest, "bad_data", "snappy")
	f(ok, http.MethodPost, "t", nil, bytes.Repeat([]byte{0}, 5000), http.StatusBadRequest, "bad_data", "limit of 4096 bytes", errIDRequestTooLarge)
	f(ok, http.MethodPost, "t", nil, v1Body(t, []string{"job", "a"}), http.StatusBadRequest, "bad_data", "has no metric name", errID(reasonMissingMetricName))
	f(ok, http.MethodPost, "t", nil, v1Body(t, []string{"job", "a", "__name__", "up"}), http.StatusBadRequest, "bad_data", "labels are not sorted", errID(reasonUnsortedLabels))

	// What the ingesters answer.
	f(testDistributor(t, errPusher{wire.Errorf(wire.KindLimit, "err-weft-max-series-per-tenant", "too many series")}), http.MethodPost, "t", nil, good,
		http.StatusTooManyRequests, "too_many_requests", "err-weft-max-series-per-tenant")
	f(testDistributor(t, errPusher{wire.Errorf(wire.KindBadData, "err-weft-sample-out-of-order", "out of order")}), http.MethodPost, "t", nil, good,
		http.StatusBadRequest, "bad_data", "err-weft-sample-out-of-order")
	f(testDistributor(t, errPusher{wire.Errorf(wire.KindUnavailable, "", "cannot write to a quorum of ingesters")}), http.MethodPost, "t", nil, good,
		http.StatusServiceUnavailable, "unavailable", "quorum")
	f(testDistributor(t, errPusher{errors.New("disk on fire")}), http.MethodPost, "t", nil, good,
		http.StatusInternalServerError, "internal", "disk on fire")
	f(testDistributor(t, errPusher{context.DeadlineExceeded}), http.MethodPost, "t", nil, good,
		http.StatusServiceUnavailable, "timeout", "deadline")

	// The distributor's own limit.
	f(testDistributor(t, &capturePusher{}, "-distributor.ingestion-rate-limit=1", "-distributor.ingestion-burst-size=1"), http.MethodPost, "t", nil,
		v1Body(t, []string{"__name__", "a"}, []string{"__name__", "b"}),
		http.StatusTooManyRequests, "too_many_requests", "rate limit", errIDRateLimited)
}

// A remote write 1.0 series whose labels are not sorted ({job="a",
// __name__="up"}, in that order) is refused for that, and not for a missing
// metric name that Labels.Get, which assumes sorted labels, would not find;
// the sorted series of the same request is stored.
func TestUnsortedSeriesOverRemoteWrite1(t *testing.T) {
	p := &capturePusher{}
	d := testDistributor(t, p)
	a := doPush(t, d, http.MethodPost, "t", nil, v1Body(t, []string{"job", "a", "__name__", "up"}, []string{"__name__", "ok", "job", "a"}))
	require.Equal(t, http.StatusBadRequest, a.code)
	require.Equal(t, "bad_data", a.errorType)
	require.Contains(t, a.error, `labels are not sorted: "__name__" comes after "job"`)
	require.Contains(t, a.error, "err-weft-unsorted-labels")
	require.NotContains(t, a.error, "no metric name")
	require.Len(t, p.last.Series, 1)
	require.Equal(t, "ok", p.last.Series[0].Labels.Get("__name__"))
}

// Every reason validator.errf turns into an error ID is declared in
// validationReasons, so that ErrorIDs (and the test of docs/errors.md that
// reads it) knows every ID the distributor assembles at run time.
func TestValidationReasonsDeclared(t *testing.T) {
	fset := token.NewFileSet()
	consts := map[string]string{}
	type call struct {
		pos token.Position
		arg ast.Expr
	}
	var calls []call
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, name, src, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			fn, _ := decl.(*ast.FuncDecl)
			ast.Inspect(decl, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for i, id := range n.Names {
						if i < len(n.Values) {
							if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[id.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "errf" && len(n.Args) > 0 {
						calls = append(calls, call{fset.Position(n.Pos()), n.Args[0]})
					}
					if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "errID" {
						// errID derives only the IDs of errf's reasons,
						// and ErrorIDs lists them.
						require.True(t, fn != nil && (fn.Name.Name == "errf" || fn.Name.Name == "ErrorIDs"),
							"%s: errID is called outside errf and ErrorIDs; write the ID out as a constant instead", fset.Position(n.Pos()))
					}
				}
				return true
			})
		}
	}
	require.NotEmpty(t, calls)
	declared := validationReasons()
	for _, c := range calls {
		var reason string
		switch a := c.arg.(type) {
		case *ast.Ident:
			var ok bool
			if reason, ok = consts[a.Name]; !ok {
				t.Errorf("%s: errf is given %s, not a reason constant: the test cannot know the ID", c.pos, a.Name)
				continue
			}
		case *ast.BasicLit:
			reason, _ = strconv.Unquote(a.Value)
		default:
			t.Errorf("%s: errf is given an expression, not a reason constant", c.pos)
			continue
		}
		require.True(t, slices.Contains(declared, reason), "%s: the reason %q is not in validationReasons", c.pos, reason)
	}
	require.Len(t, ErrorIDs(), len(declared))
	for _, id := range ErrorIDs() {
		require.Regexp(t, `^err-weft-[a-z0-9]+(-[a-z0-9]+)*$`, id)
	}
}

// failReader fails the test if the body is read.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("the body was read")
	return 0, errors.New("must not be read")
}

// A declared Content-Length above -distributor.max-recv-msg-size is refused
// before the body is read, and a snappy body that claims a decoded length
// above it is refused before the decoded buffer is allocated.
func TestPushRefusesHugeBodiesEarly(t *testing.T) {
	d := testDistributor(t, &capturePusher{})
	r := httptest.NewRequest(http.MethodPost, "/api/v1/push", failReader{t})
	r.ContentLength = 1 << 30
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set(tenant.Header, "t")
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), errIDRequestTooLarge)
	require.Contains(t, w.Body.String(), `"status":"error"`)

	// Six bytes that claim 4 GiB decompressed.
	a := doPush(t, d, http.MethodPost, "t", nil, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00})
	require.Equal(t, http.StatusBadRequest, a.code, a.error)
	require.Contains(t, a.error, "4294967295 bytes decompressed, the limit is 4096")
}
