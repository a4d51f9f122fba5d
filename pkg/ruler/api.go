package ruler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/rules"
	v1 "github.com/prometheus/prometheus/web/api/v1"
	"go.yaml.in/yaml/v3"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/tenant"
)

// ConfigPrefix is where the config API is served, as Cortex and Mimir serve
// it (cortextool and mimirtool use it unchanged):
//
//	GET    /prometheus/config/v1/rules                      every namespace: YAML map of namespace to groups
//	GET    /prometheus/config/v1/rules/{namespace}          one namespace, same shape
//	POST   /prometheus/config/v1/rules/{namespace}          one group (or a rule file) in YAML: 202
//	DELETE /prometheus/config/v1/rules/{namespace}          the namespace: 202
//	GET    /prometheus/config/v1/rules/{namespace}/{group}  one group
//	DELETE /prometheus/config/v1/rules/{namespace}/{group}  one group: 202
//
// A missing namespace or group is 404. Names are path-escaped.
const ConfigPrefix = "/prometheus/config/v1/rules"

// ConfigHandler serves the config API for the tenant that resolve finds
// in each request.
func (r *Ruler) ConfigHandler(resolve func(*http.Request) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, err := resolve(req)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		namespace, group, err := splitPath(req.URL.EscapedPath())
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		ctx := req.Context()
		switch {
		case req.Method == http.MethodGet && group == "":
			r.listRules(ctx, w, id, namespace)
		case req.Method == http.MethodGet:
			r.getGroup(ctx, w, id, namespace, group)
		case req.Method == http.MethodPost && namespace != "" && group == "":
			r.setGroups(w, req, id, namespace)
		case req.Method == http.MethodDelete && namespace != "" && group == "":
			r.answerChange(w, id, r.store.deleteNamespace(ctx, id, namespace))
		case req.Method == http.MethodDelete && group != "":
			r.answerChange(w, id, r.store.delete(ctx, id, namespace, group))
		default:
			httpapi.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed, "%s %s is not an endpoint of the rules config API", req.Method, req.URL.Path))
		}
	})
}

// splitPath returns the unescaped namespace and group of a config API path.
func splitPath(p string) (namespace, group string, err error) {
	rest, ok := strings.CutPrefix(p, ConfigPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", "", httpapi.Errorf(http.StatusNotFound, "%s is not an endpoint of the rules config API", p)
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return "", "", nil
	}
	parts := strings.Split(rest, "/")
	if len(parts) > 2 || slices.Contains(parts, "") {
		return "", "", httpapi.Errorf(http.StatusNotFound, "%s is not an endpoint of the rules config API: use %s/{namespace}/{group}, escaping / in names", p, ConfigPrefix)
	}
	if namespace, err = url.PathUnescape(parts[0]); err != nil {
		return "", "", httpapi.Errorf(http.StatusBadRequest, "cannot unescape the namespace: %w", err)
	}
	if len(parts) == 2 {
		if group, err = url.PathUnescape(parts[1]); err != nil {
			return "", "", httpapi.Errorf(http.StatusBadRequest, "cannot unescape the group name: %w", err)
		}
	}
	return namespace, group, nil
}

func (r *Ruler) listRules(ctx context.Context, w http.ResponseWriter, id, namespace string) {
	groups, err := r.store.load(ctx, id, namespace)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if len(groups) == 0 {
		// Cortex and Mimir answer 404 for no groups; their tools take it
		// for an empty list.
		httpapi.WriteError(w, httpapi.Errorf(http.StatusNotFound, "no rule groups found"))
		return
	}
	writeYAML(w, groups)
}

func (r *Ruler) getGroup(ctx context.Context, w http.ResponseWriter, id, namespace, group string) {
	g, err := r.store.get(ctx, id, namespace, group)
	if errors.Is(err, errGroupNotFound) {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusNotFound, "%w", err))
		return
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeYAML(w, g)
}

// setGroups stores the groups of an upload, all checked first: a bad
// upload changes nothing.
func (r *Ruler) setGroups(w http.ResponseWriter, req *http.Request, id, namespace string) {
	tooLarge := httpapi.Errorf(http.StatusRequestEntityTooLarge, "the request body is larger than the limit of %d bytes (raise -ruler.max-request-body-size) (%s)", r.cfg.MaxRequestBodySize, errIDBodyTooLarge)
	// A declared length above the limit is refused before anything is read.
	if req.ContentLength > int64(r.cfg.MaxRequestBodySize) {
		httpapi.WriteError(w, tooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, int64(r.cfg.MaxRequestBodySize)+1))
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "cannot read the request body: %w", err))
		return
	}
	if len(body) > r.cfg.MaxRequestBodySize {
		httpapi.WriteError(w, tooLarge)
		return
	}
	groups, err := parseGroups(body, r.parser)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	lim := r.limits.For(id)
	for _, g := range groups {
		if err := checkLimits(g, lim); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	ctx := req.Context()
	if max := lim.RulerMaxRuleGroupsPerTenant; max > 0 {
		refs, err := r.store.list(ctx, id, "")
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		n := len(refs)
		for _, g := range groups {
			if !slices.Contains(refs, groupRef{namespace, g.Name}) {
				n++
			}
		}
		if n > max {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "tenant %s would have %d rule groups, over the limit of %d (delete groups, or raise ruler_max_rule_groups_per_tenant / -ruler.max-rule-groups-per-tenant) (%s)", id, n, max, errIDMaxRuleGroups))
			return
		}
	}
	for _, g := range groups {
		if err := r.store.set(ctx, id, namespace, g); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	r.answerChange(w, id, nil)
}

// answerChange answers a change as Cortex does: 202 with a success
// envelope (the change applies at the rulers' next read), 404 for a
// missing group or namespace.
func (r *Ruler) answerChange(w http.ResponseWriter, id string, err error) {
	if errors.Is(err, errGroupNotFound) {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusNotFound, "%w", err))
		return
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	r.notifyChanged(id)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": nil, "errorType": "", "error": ""})
}

func writeYAML(w http.ResponseWriter, v any) {
	b, err := yaml.Marshal(v)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(b)
}

// RulesRetriever returns what Prometheus' /api/v1/rules and /api/v1/alerts
// report for the tenant of ctx: the groups this ruler evaluates for it.
func (r *Ruler) RulesRetriever(ctx context.Context) v1.RulesRetriever {
	id, err := tenant.From(ctx)
	if err != nil {
		return noRules{}
	}
	if m := r.Manager(id); m != nil {
		return m
	}
	return noRules{}
}

type noRules struct{}

func (noRules) RuleGroups() []*rules.Group           { return nil }
func (noRules) AlertingRules() []*rules.AlertingRule { return nil }
