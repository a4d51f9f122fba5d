package ruler

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-io/weft/pkg/grpcclient"
	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/tenant"
)

// The rules service: in distributed mode each ruler evaluates a share of
// a tenant's groups, so a querier asks every ruler of the ruler ring for
// Prometheus' /api/v1/rules or /alerts of the tenant and merges the
// answers. Its messages are JSON (apiRequest, apiResponse) carried as the
// bytes of a google.protobuf.BytesValue, so it needs no generated code.
const (
	rulesServiceName = "weft.ruler.v1.Rules"
	methodAPI        = "API"
	fullMethodAPI    = "/" + rulesServiceName + "/" + methodAPI
)

// Kinds of the rules service's requests: the two paths of Prometheus'
// API that a ruler answers.
const (
	KindRules  = "rules"
	KindAlerts = "alerts"
)

// apiRequest is one GET of Prometheus' /api/v1/rules or /alerts, asked of
// a ruler for a tenant.
type apiRequest struct {
	Tenant string `json:"tenant"`
	Kind   string `json:"kind"`
	Query  string `json:"query"`
}

// apiResponse is the ruler's answer: its HTTP status and body.
type apiResponse struct {
	Status int    `json:"status"`
	Body   []byte `json:"body"`
}

// RegisterGRPC registers the rules service on s, before s serves: it
// answers each request with h, Prometheus' API over the groups this ruler
// evaluates, at prefix+"/rules" or prefix+"/alerts" with the tenant in
// X-Scope-OrgID.
func RegisterGRPC(s *grpc.Server, h http.Handler, prefix string) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: rulesServiceName,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: methodAPI, Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			return serveAPI(ctx, h, prefix, dec)
		}}},
	}, h)
}

func serveAPI(ctx context.Context, h http.Handler, prefix string, dec func(any) error) (any, error) {
	in := &wrapperspb.BytesValue{}
	if err := dec(in); err != nil {
		return nil, err
	}
	var req apiRequest
	if err := json.Unmarshal(in.Value, &req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "cannot decode the request: %v", err)
	}
	if req.Kind != KindRules && req.Kind != KindAlerts {
		return nil, status.Errorf(codes.InvalidArgument, "unknown kind %q", req.Kind)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, prefix+"/"+req.Kind+"?"+req.Query, http.NoBody)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "cannot build the request: %v", err)
	}
	r.Header.Set(tenant.Header, req.Tenant)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	b, err := json.Marshal(apiResponse{Status: rec.Code, Body: rec.Body.Bytes()})
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &wrapperspb.BytesValue{Value: b}, nil
}

// FanOut answers Prometheus' /api/v1/rules and /alerts for a querier in
// distributed mode: it asks every ruler of the ruler ring and merges their
// answers, since each evaluates a share of the tenant's groups. A ruler
// that does not answer (it died and the ring does not know yet) is named
// in the answer's warnings; only when none answers is it an error.
type FanOut struct {
	rulers  func() ([]string, error)
	resolve func(*http.Request) (string, error)
	timeout time.Duration
	logger  *slog.Logger

	conns *grpcclient.Pool // by address
}

// NewFanOut returns a FanOut over the rulers whose gRPC addresses rulers
// returns (the healthy instances of the ruler ring), each asked with a
// timeout; resolve finds the tenant of a request. logger may be nil; opts
// are added to the dial options (TLS).
func NewFanOut(rulers func() ([]string, error), resolve func(*http.Request) (string, error), timeout time.Duration, logger *slog.Logger, opts ...grpc.DialOption) *FanOut {
	return &FanOut{rulers: rulers, resolve: resolve, timeout: timeout, logger: logutil.OrNop(logger), conns: grpcclient.NewPool(256<<20, opts...)}
}

// Close closes the connections to the rulers.
func (f *FanOut) Close() { f.conns.Close() }

func (f *FanOut) ask(ctx context.Context, addr string, req apiRequest) (apiResponse, error) {
	c, err := f.conns.Get(addr)
	if err != nil {
		return apiResponse{}, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return apiResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	out := &wrapperspb.BytesValue{}
	if err := c.Invoke(ctx, fullMethodAPI, &wrapperspb.BytesValue{Value: b}, out); err != nil {
		return apiResponse{}, err
	}
	var resp apiResponse
	if err := json.Unmarshal(out.Value, &resp); err != nil {
		return apiResponse{}, fmt.Errorf("cannot decode the answer: %w", err)
	}
	return resp, nil
}

// promResponse is the envelope of Prometheus' API, as the rulers answer
// and as FanOut answers.
type promResponse struct {
	Status   string          `json:"status"`
	Data     json.RawMessage `json:"data,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Infos    []string        `json:"infos,omitempty"`
}

// rulesData is the data of /rules, each group kept as the ruler wrote it.
type rulesData struct {
	Groups         []json.RawMessage `json:"groups"`
	GroupNextToken string            `json:"groupNextToken,omitempty"`
}

// alertsData is the data of /alerts.
type alertsData struct {
	Alerts []json.RawMessage `json:"alerts"`
}

// Handler returns the handler of kind (KindRules or KindAlerts).
func (f *FanOut) Handler(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := f.resolve(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		q := r.URL.Query()
		// Pages of groups are cut after the merge: the rulers get the
		// request without them.
		limit, token, err := pagination(q)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		q.Del("group_limit")
		q.Del("group_next_token")
		addrs, err := f.rulers()
		if err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "cannot list the rulers: %v", err))
			return
		}
		answers := make([]apiResponse, len(addrs))
		errs := make([]error, len(addrs))
		var wg sync.WaitGroup
		for i, addr := range addrs {
			wg.Go(func() {
				answers[i], errs[i] = f.ask(r.Context(), addr, apiRequest{Tenant: id, Kind: kind, Query: q.Encode()})
			})
		}
		wg.Wait()
		var (
			out      promResponse
			rules    rulesData
			alerts   alertsData
			answered int
		)
		for i, a := range answers {
			if errs[i] != nil {
				f.logger.Warn("a ruler did not answer", "addr", addrs[i], "kind", kind, "err", errs[i])
				out.Warnings = append(out.Warnings, fmt.Sprintf("the ruler at %s did not answer: %v", addrs[i], errs[i]))
				continue
			}
			if a.Status != http.StatusOK {
				// A request the rulers refuse (a bad filter): their answer.
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(a.Status)
				_, _ = w.Write(a.Body)
				return
			}
			var resp promResponse
			if err := json.Unmarshal(a.Body, &resp); err != nil {
				out.Warnings = append(out.Warnings, fmt.Sprintf("cannot decode the answer of the ruler at %s: %v", addrs[i], err))
				continue
			}
			answered++
			out.Warnings = append(out.Warnings, resp.Warnings...)
			out.Infos = append(out.Infos, resp.Infos...)
			var err error
			if kind == KindRules {
				var d rulesData
				err = json.Unmarshal(resp.Data, &d)
				rules.Groups = append(rules.Groups, d.Groups...)
			} else {
				var d alertsData
				err = json.Unmarshal(resp.Data, &d)
				alerts.Alerts = append(alerts.Alerts, d.Alerts...)
			}
			if err != nil {
				out.Warnings = append(out.Warnings, fmt.Sprintf("cannot decode the answer of the ruler at %s: %v", addrs[i], err))
			}
		}
		if answered == 0 && len(addrs) > 0 {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "no ruler answered: %s", errors.Join(errs...)))
			return
		}
		var data any
		if kind == KindRules {
			if rules, err = pageGroups(rules.Groups, limit, token); err != nil {
				httpapi.WriteError(w, err)
				return
			}
			data = rules
		} else {
			if alerts.Alerts == nil {
				alerts.Alerts = []json.RawMessage{}
			}
			data = alerts
		}
		if out.Data, err = json.Marshal(data); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		out.Status = "success"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// pagination reads group_limit and group_next_token as Prometheus does.
func pagination(q url.Values) (int, string, error) {
	limit, token := q.Get("group_limit"), q.Get("group_next_token")
	if token != "" && limit == "" {
		return 0, "", httpapi.Errorf(http.StatusBadRequest, "group_limit needs to be present in order to paginate over the groups")
	}
	if limit == "" {
		return 0, "", nil
	}
	n, err := strconv.ParseInt(limit, 10, 32)
	if err != nil || n <= 0 {
		return 0, "", httpapi.Errorf(http.StatusBadRequest, "group_limit needs to be a number greater than 0, not %q", limit)
	}
	return int(n), token, nil
}

// pageGroups orders the groups of every ruler as one ruler orders its own
// (by file, then name), drops a group that two rulers report (while it
// moves from one to the other), and cuts the page that limit and token
// ask for, with Prometheus' next token (limit 0: every group).
func pageGroups(raw []json.RawMessage, limit int, token string) (rulesData, error) {
	type group struct {
		File string `json:"file"`
		Name string `json:"name"`
		raw  json.RawMessage
	}
	groups := make([]group, 0, len(raw))
	for _, r := range raw {
		var g group
		if err := json.Unmarshal(r, &g); err != nil {
			return rulesData{}, fmt.Errorf("cannot decode a rule group: %w", err)
		}
		g.raw = r
		groups = append(groups, g)
	}
	slices.SortStableFunc(groups, func(a, b group) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Name, b.Name))
	})
	groups = slices.CompactFunc(groups, func(a, b group) bool { return a.File == b.File && a.Name == b.Name })
	if token != "" {
		i := slices.IndexFunc(groups, func(g group) bool { return groupToken(g.File, g.Name) == token })
		if i < 0 {
			return rulesData{}, httpapi.Errorf(http.StatusBadRequest, "invalid group_next_token %q: were rule groups changed?", token)
		}
		groups = groups[i:]
	}
	out := rulesData{Groups: []json.RawMessage{}}
	if limit > 0 && len(groups) > limit {
		out.GroupNextToken = groupToken(groups[limit].File, groups[limit].Name)
		groups = groups[:limit]
	}
	for _, g := range groups {
		out.Groups = append(out.Groups, g.raw)
	}
	return out, nil
}

// groupToken is Prometheus' group_next_token of a group.
func groupToken(file, name string) string {
	h := sha256.Sum256([]byte(file + ";" + name))
	return hex.EncodeToString(h[:])
}
