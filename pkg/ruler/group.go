package ruler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// RuleGroup is one rule group as the config API takes and stores it: a
// group of a Prometheus rule file, plus source_tenants for federated
// groups, as Cortex and Mimir accept it.
type RuleGroup struct {
	Name        string            `yaml:"name"`
	Interval    model.Duration    `yaml:"interval,omitempty"`
	QueryOffset *model.Duration   `yaml:"query_offset,omitempty"`
	Limit       int               `yaml:"limit,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	// SourceTenants, when set, are the tenants whose series the group's
	// queries read, instead of the owner's; allowed only for tenants with
	// ruler_tenant_federation_enabled.
	SourceTenants []string       `yaml:"source_tenants,omitempty"`
	Rules         []rulefmt.Rule `yaml:"rules"`
}

// ruleFile is a Prometheus rule file, which the config API also takes.
type ruleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// Stable IDs of the errors of the config API.
const (
	errIDInvalidRuleGroup   = "err-weft-ruler-invalid-rule-group"
	errIDBodyTooLarge       = "err-weft-ruler-body-too-large"
	errIDMaxRuleGroups      = "err-weft-ruler-max-rule-groups-per-tenant"
	errIDMaxRulesPerGroup   = "err-weft-ruler-max-rules-per-rule-group"
	errIDMinInterval        = "err-weft-ruler-min-evaluation-interval"
	errIDFederationDisabled = "err-weft-ruler-federation-disabled"
)

// invalid returns a 400 naming what is wrong with an uploaded group.
func invalid(format string, args ...any) error {
	return httpapi.Errorf(http.StatusBadRequest, "invalid rule group: "+format+" ("+errIDInvalidRuleGroup+")", args...)
}

// parseGroups parses and validates an upload: one rule group (the body
// Cortex and Mimir take), or a Prometheus rule file with a groups list.
// It validates as Prometheus validates a rule file: unknown fields,
// malformed YAML, invalid PromQL, templates that do not parse and group
// names repeated in the body are all errors naming the line and the fault.
func parseGroups(body []byte, p parser.Parser) ([]*RuleGroup, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("the body is empty: send a rule group in YAML")
	}
	var root yaml.Node
	if err := yaml.Unmarshal(body, &root); err != nil {
		return nil, invalid("%v", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, invalid("%d:%d: the body must be a YAML mapping: one rule group, or a rule file with groups", root.Line, root.Column)
	}
	top := root.Content[0]
	type ruleNodes struct {
		Rules []rulefmt.RuleNode `yaml:"rules"`
	}
	var (
		groupNodes []*yaml.Node
		groups     []RuleGroup
		rulesNodes []ruleNodes // the positions of each group's rules
	)
	if hasKey(top, "groups") {
		var f ruleFile
		if err := decodeStrict(body, &f); err != nil {
			return nil, err
		}
		var nodes struct {
			Groups []ruleNodes `yaml:"groups"`
		}
		if err := yaml.Unmarshal(body, &nodes); err != nil {
			return nil, invalid("%v", err)
		}
		groups, rulesNodes = f.Groups, nodes.Groups
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == "groups" && top.Content[i+1].Kind == yaml.SequenceNode {
				groupNodes = top.Content[i+1].Content
			}
		}
		if len(groups) == 0 {
			return nil, invalid("the rule file has no groups")
		}
	} else {
		var g RuleGroup
		if err := decodeStrict(body, &g); err != nil {
			return nil, err
		}
		var nodes ruleNodes
		if err := yaml.Unmarshal(body, &nodes); err != nil {
			return nil, invalid("%v", err)
		}
		groups, rulesNodes = []RuleGroup{g}, []ruleNodes{nodes}
		groupNodes = []*yaml.Node{top}
	}
	if len(groupNodes) != len(groups) || len(rulesNodes) != len(groups) {
		return nil, invalid("cannot match the groups to their YAML")
	}

	var errs []error
	seen := map[string]bool{}
	out := make([]*RuleGroup, len(groups))
	for i := range groups {
		g := &groups[i]
		n := groupNodes[i]
		if g.Name == "" {
			errs = append(errs, fmt.Errorf("%d:%d: the group name must not be empty", n.Line, n.Column))
		}
		if seen[g.Name] {
			errs = append(errs, fmt.Errorf("%d:%d: group name %q is repeated in the same body", n.Line, n.Column, g.Name))
		}
		seen[g.Name] = true
		for k, v := range g.Labels {
			if !model.UTF8Validation.IsValidLabelName(k) || k == model.MetricNameLabel {
				errs = append(errs, fmt.Errorf("%d:%d: group %q: invalid label name %q", n.Line, n.Column, g.Name, k))
			}
			if !model.LabelValue(v).IsValid() {
				errs = append(errs, fmt.Errorf("%d:%d: group %q: invalid label value %q", n.Line, n.Column, g.Name, v))
			}
		}
		for _, st := range g.SourceTenants {
			if err := tenant.Validate(st); err != nil {
				errs = append(errs, fmt.Errorf("%d:%d: group %q: source tenant: %w", n.Line, n.Column, g.Name, err))
			}
		}
		nodes := rulesNodes[i]
		if len(nodes.Rules) != len(g.Rules) {
			errs = append(errs, fmt.Errorf("%d:%d: group %q: cannot read the rules", n.Line, n.Column, g.Name))
			continue
		}
		for j := range g.Rules {
			r := &g.Rules[j]
			for _, we := range r.Validate(nodes.Rules[j], model.UTF8Validation, p) {
				name := r.Alert
				if name == "" {
					name = r.Record
				}
				var err error = &rulefmt.Error{Group: g.Name, Rule: j + 1, RuleName: name, Err: we}
				if !hasPosition(we.Error()) {
					// Prometheus places template errors nowhere: name
					// the rule's line.
					pos := nodes.Rules[j].Alert
					if pos.Line == 0 {
						pos = nodes.Rules[j].Record
					}
					err = fmt.Errorf("%d:%d: %w", pos.Line, pos.Column, err)
				}
				errs = append(errs, err)
			}
		}
		out[i] = g
	}
	if len(errs) > 0 {
		return nil, invalid("%w", errors.Join(errs...))
	}
	return out, nil
}

// decodeStrict decodes body into v, refusing fields that v does not have.
func decodeStrict(body []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return invalid("%v", err)
	}
	return nil
}

// hasPosition reports whether msg starts with a line:column.
func hasPosition(msg string) bool {
	line, _, ok := strings.Cut(msg, ":")
	if !ok || line == "" {
		return false
	}
	for _, c := range line {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// checkLimits refuses groups over the tenant's limits: too many rules, an
// interval under the minimum, or source tenants the tenant may not use.
func checkLimits(g *RuleGroup, lim *limits.Limits) error {
	if n := lim.RulerMaxRulesPerRuleGroup; n > 0 && len(g.Rules) > n {
		return httpapi.Errorf(http.StatusBadRequest, "rule group %q has %d rules, over the limit of %d (raise ruler_max_rules_per_rule_group / -ruler.max-rules-per-rule-group) (%s)", g.Name, len(g.Rules), n, errIDMaxRulesPerGroup)
	}
	if min := time.Duration(lim.RulerMinEvaluationInterval); g.Interval != 0 && time.Duration(g.Interval) < min {
		return httpapi.Errorf(http.StatusBadRequest, "rule group %q has an evaluation interval of %s, under the minimum of %s (raise the interval, or lower ruler_min_evaluation_interval / -ruler.min-evaluation-interval) (%s)", g.Name, g.Interval, min, errIDMinInterval)
	}
	if len(g.SourceTenants) > 0 && !lim.RulerTenantFederationEnabled {
		return httpapi.Errorf(http.StatusBadRequest, "rule group %q has source_tenants, but federated rule groups are not enabled for this tenant (set ruler_tenant_federation_enabled / -ruler.tenant-federation-enabled) (%s)", g.Name, errIDFederationDisabled)
	}
	return nil
}
