package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// tenantHeader names the tenant of every weft request.
const tenantHeader = "X-Scope-OrgID"

// apiClient talks to a Prometheus-compatible server: remote write 1.0 to
// pushURL and the Prometheus HTTP API under apiURL. The same client queries
// weft and the reference Prometheus.
type apiClient struct {
	pushURL string
	apiURL  string
	tenant  string // "" sends no X-Scope-OrgID header
	hc      *http.Client
}

func newAPIClient(base, apiURL, tenant string) *apiClient {
	return &apiClient{
		pushURL: base + "/api/v1/push",
		apiURL:  apiURL,
		tenant:  tenant,
		hc: &http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: false},
		},
	}
}

// WithTenant returns a client of the same server for another tenant.
func (c *apiClient) WithTenant(tenant string) *apiClient {
	cc := *c
	cc.tenant = tenant
	return &cc
}

// apiError is a non-2xx answer: its status code and, when the body was the
// Prometheus error envelope, its errorType and error.
type apiError struct {
	StatusCode int
	Status     string // "error" when the body was the Prometheus envelope
	ErrorType  string
	Message    string
	Body       string
}

func (e *apiError) Error() string {
	if e.Status == "error" {
		return fmt.Sprintf("HTTP %d: %s: %s", e.StatusCode, e.ErrorType, e.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Body)
}

// newAPIError decodes an error answer, keeping the raw body too.
func newAPIError(code int, body []byte) *apiError {
	e := &apiError{StatusCode: code, Body: string(body)}
	var env struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Status, e.ErrorType, e.Message = env.Status, env.ErrorType, env.Error
	}
	return e
}

// encodeWriteRequest marshals req and compresses it with snappy, as a
// remote write 1.0 sender does.
func encodeWriteRequest(req *prompb.WriteRequest) []byte {
	raw, err := req.Marshal()
	if err != nil {
		panic(err) // only on a programming error in the test
	}
	return snappy.Encode(nil, raw)
}

// Push sends req as remote write 1.0. A non-2xx answer is an *apiError.
func (c *apiClient) Push(ctx context.Context, req *prompb.WriteRequest) error {
	code, body, err := c.PushRaw(ctx, encodeWriteRequest(req), nil)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return newAPIError(code, body)
	}
	return nil
}

// PushRaw posts body with the remote write 1.0 headers, overridden by hdr
// (a header set to "" is removed), and returns the status and body.
func (c *apiClient) PushRaw(ctx context.Context, body []byte, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.pushURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "weft-integration-test")
	if c.tenant != "" {
		req.Header.Set(tenantHeader, c.tenant)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// apiResponse is the Prometheus API envelope of a successful answer.
type apiResponse struct {
	Status   string          `json:"status"`
	Data     json.RawMessage `json:"data"`
	Warnings []string        `json:"warnings"`
	Infos    []string        `json:"infos"`
}

// headerKey is the context key of the extra request headers of withHeader.
type headerKey struct{}

// withHeader returns a context whose API calls (apiClient.get) carry the
// header key: value as well.
func withHeader(ctx context.Context, key, value string) context.Context {
	h := http.Header{}
	if old, ok := ctx.Value(headerKey{}).(http.Header); ok {
		h = old.Clone()
	}
	h.Set(key, value)
	return context.WithValue(ctx, headerKey{}, h)
}

// get calls an API path with params and decodes data into out.
func (c *apiClient) get(ctx context.Context, path string, params url.Values, out any) error {
	u := c.apiURL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if c.tenant != "" {
		req.Header.Set(tenantHeader, c.tenant)
	}
	if h, ok := ctx.Value(headerKey{}).(http.Header); ok {
		for k, v := range h {
			req.Header[k] = v
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return newAPIError(resp.StatusCode, body)
	}
	var env apiResponse
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("cannot decode the answer of %s: %w: %.300s", path, err, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("answer of %s has status %q: %.300s", path, env.Status, body)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("cannot decode the data of %s: %w: %.300s", path, err, env.Data)
	}
	return nil
}

// formatTime renders t as the API's float seconds, exact to the millisecond.
func formatTime(t time.Time) string {
	ms := t.UnixMilli()
	return strconv.FormatInt(ms/1000, 10) + "." + fmt.Sprintf("%03d", ms%1000)
}

// queryData is the data of /query and /query_range.
type queryData struct {
	ResultType model.ValueType `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

func (d queryData) value() (model.Value, error) {
	var v model.Value
	switch d.ResultType {
	case model.ValVector:
		var x model.Vector
		if err := json.Unmarshal(d.Result, &x); err != nil {
			return nil, err
		}
		v = x
	case model.ValMatrix:
		var x model.Matrix
		if err := json.Unmarshal(d.Result, &x); err != nil {
			return nil, err
		}
		v = x
	case model.ValScalar:
		var x model.Scalar
		if err := json.Unmarshal(d.Result, &x); err != nil {
			return nil, err
		}
		v = &x
	case model.ValString:
		var x model.String
		if err := json.Unmarshal(d.Result, &x); err != nil {
			return nil, err
		}
		v = &x
	default:
		return nil, fmt.Errorf("unknown result type %q", d.ResultType)
	}
	return v, nil
}

// Query runs an instant query at ts.
func (c *apiClient) Query(ctx context.Context, expr string, ts time.Time) (model.Value, error) {
	var d queryData
	if err := c.get(ctx, "/query", url.Values{"query": {expr}, "time": {formatTime(ts)}}, &d); err != nil {
		return nil, err
	}
	return d.value()
}

// QueryRange runs a range query.
func (c *apiClient) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (model.Value, error) {
	var d queryData
	params := url.Values{
		"query": {expr},
		"start": {formatTime(start)},
		"end":   {formatTime(end)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	if err := c.get(ctx, "/query_range", params, &d); err != nil {
		return nil, err
	}
	return d.value()
}

func selectorParams(matchers []string, start, end time.Time) url.Values {
	params := url.Values{}
	for _, m := range matchers {
		params.Add("match[]", m)
	}
	if !start.IsZero() {
		params.Set("start", formatTime(start))
	}
	if !end.IsZero() {
		params.Set("end", formatTime(end))
	}
	return params
}

// Series returns the label sets of the series matching any of matchers,
// sorted by their string form.
func (c *apiClient) Series(ctx context.Context, matchers []string, start, end time.Time) ([]model.LabelSet, error) {
	var out []model.LabelSet
	if err := c.get(ctx, "/series", selectorParams(matchers, start, end), &out); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// Labels returns the label names (of the series matching matchers, if any).
func (c *apiClient) Labels(ctx context.Context, matchers []string, start, end time.Time) ([]string, error) {
	var out []string
	err := c.get(ctx, "/labels", selectorParams(matchers, start, end), &out)
	return out, err
}

// LabelValues returns the values of label name.
func (c *apiClient) LabelValues(ctx context.Context, name string, matchers []string, start, end time.Time) ([]string, error) {
	var out []string
	err := c.get(ctx, "/label/"+url.PathEscape(name)+"/values", selectorParams(matchers, start, end), &out)
	return out, err
}

// rawGet fetches an API path without decoding, with optional headers.
func (c *apiClient) rawGet(ctx context.Context, path string, params url.Values, hdr map[string]string) (int, []byte, error) {
	u := c.apiURL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	if c.tenant != "" {
		req.Header.Set(tenantHeader, c.tenant)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// lbls builds sorted remote-write labels from name/value pairs; the first
// value is the metric name.
func lbls(name string, kv ...string) []prompb.Label {
	out := []prompb.Label{{Name: "__name__", Value: name}}
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// selectorOf renders remote-write labels as a PromQL selector; the names
// must be valid legacy names.
func selectorOf(ls []prompb.Label) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s=%q", l.Name, l.Value))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// RawSamples returns every float sample with a timestamp in [from, to]
// (milliseconds) of the series matching selector, by series (the label
// set's string form) and timestamp. It evaluates the range vector
// selector[to-from+1ms] at to, which the API answers with raw samples.
func (c *apiClient) RawSamples(ctx context.Context, selector string, from, to int64) (map[string]map[int64]float64, error) {
	v, err := c.Query(ctx, fmt.Sprintf("%s[%dms]", selector, to-from+1), time.UnixMilli(to))
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("query of %s returned a %s, want a matrix", selector, v.Type())
	}
	out := make(map[string]map[int64]float64, len(m))
	for _, s := range m {
		pts := make(map[int64]float64, len(s.Values))
		for _, p := range s.Values {
			pts[int64(p.Timestamp)] = float64(p.Value)
		}
		out[s.Metric.String()] = pts
	}
	return out, nil
}

// httpGet fetches url and returns its body; a non-200 answer is an error.
func httpGet(ctx context.Context, url string) (string, error) {
	return httpGetWith(ctx, http.DefaultClient, url)
}

// httpGetWith is httpGet with the client hc.
func httpGetWith(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP %d: %.300s", url, resp.StatusCode, b)
	}
	return string(b), nil
}
