package notebook

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// grafanaSchemaVersion is the dashboard schema the export writes; Grafana
// migrates older schemas on import, never newer ones.
const grafanaSchemaVersion = 39

// Panel heights in grid units (Grafana's grid is 24 units wide).
const (
	panelWidth   = 24
	graphHeight  = 8
	textHeight   = 4
	defaultFrom  = "now-1h"
	defaultTo    = "now"
	dashboardTag = "weft-notebook"
)

// Dashboard is the Grafana dashboard JSON of a notebook.
type Dashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Tags          []string       `json:"tags"`
	Time          DashboardTime  `json:"time"`
	Templating    Templating     `json:"templating"`
	Panels        []Panel        `json:"panels"`
	Editable      bool           `json:"editable"`
	Refresh       string         `json:"refresh,omitempty"`
	Links         []any          `json:"links"`
	Annotations   map[string]any `json:"annotations,omitempty"`
}

// DashboardTime is the dashboard's time range.
type DashboardTime struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []TemplateVariable `json:"list"`
}

// TemplateVariable is a Grafana query variable over label values.
type TemplateVariable struct {
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	Type       string          `json:"type"`
	Query      string          `json:"query"`
	Definition string          `json:"definition"`
	Refresh    int             `json:"refresh"`
	Current    VariableCurrent `json:"current"`
}

// VariableCurrent is a variable's selected value.
type VariableCurrent struct {
	Text  string `json:"text"`
	Value string `json:"value"`
}

// Panel is one dashboard panel: a PromQL cell (timeseries or table, with
// one target) or a markdown cell (text, with options).
type Panel struct {
	ID      int          `json:"id"`
	Type    string       `json:"type"`
	Title   string       `json:"title"`
	GridPos GridPos      `json:"gridPos"`
	Targets []Target     `json:"targets,omitempty"`
	Options *TextOptions `json:"options,omitempty"`
}

// GridPos places a panel.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is a panel's query.
type Target struct {
	RefID   string `json:"refId"`
	Expr    string `json:"expr"`
	Instant bool   `json:"instant,omitempty"`
	Range   bool   `json:"range"`
	Format  string `json:"format,omitempty"`
}

// TextOptions are a text panel's options.
type TextOptions struct {
	Mode    string `json:"mode"`
	Content string `json:"content"`
}

// grafana returns the dashboard of a notebook: one panel per cell, in
// order, one under the other; the variables become query variables over
// label values and stay as $name in the expressions.
func grafana(n *Notebook) *Dashboard {
	d := &Dashboard{
		Title:         n.Title,
		UID:           n.ID,
		SchemaVersion: grafanaSchemaVersion,
		Tags:          []string{dashboardTag},
		Time:          DashboardTime{From: defaultFrom, To: defaultTo},
		Templating:    Templating{List: []TemplateVariable{}},
		Panels:        []Panel{},
		Editable:      true,
		Links:         []any{},
	}
	if n.Time != nil {
		if n.Time.From != "" {
			d.Time.From = grafanaTime(n.Time.From)
		}
		if n.Time.To != "" {
			d.Time.To = grafanaTime(n.Time.To)
		}
	}
	for _, v := range n.Variables {
		q := "label_values(" + v.Label + ")"
		if v.Match != "" {
			q = "label_values(" + v.Match + ", " + v.Label + ")"
		}
		d.Templating.List = append(d.Templating.List, TemplateVariable{
			Name: v.Name, Label: v.Name, Type: "query", Query: q, Definition: q,
			Refresh: 2, // on time range change
			Current: VariableCurrent{Text: v.Value, Value: v.Value},
		})
	}
	y := 0
	for i, c := range n.Cells {
		p := Panel{ID: i + 1, Title: c.Title, GridPos: GridPos{W: panelWidth, Y: y}}
		switch c.Kind {
		case KindMarkdown:
			p.Type, p.GridPos.H = "text", textHeight
			p.Options = &TextOptions{Mode: "markdown", Content: c.Text}
		default:
			p.GridPos.H = graphHeight
			t := Target{RefID: "A", Expr: c.Expr, Range: true}
			p.Type = "timeseries"
			if c.View == ViewTable {
				p.Type, t = "table", Target{RefID: "A", Expr: c.Expr, Instant: true, Format: "table"}
			}
			p.Targets = []Target{t}
			if p.Title == "" {
				p.Title = c.Expr
			}
		}
		y += p.GridPos.H
		d.Panels = append(d.Panels, p)
	}
	return d
}

// grafanaTime writes unix seconds as RFC3339, which Grafana reads; the
// rest as it is.
func grafanaTime(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return s
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(time.RFC3339Nano)
}

// Rule types of the rule export.
const (
	ruleRecording = "recording"
	ruleAlerting  = "alerting"
)

// exportedGroup is the one rule group the ruler's config API takes in a
// POST to /prometheus/config/v1/rules/{namespace}.
type exportedGroup struct {
	Name     string         `yaml:"name"`
	Interval model.Duration `yaml:"interval,omitempty"`
	Rules    []rulefmt.Rule `yaml:"rules"`
}

// ruleYAML returns the rule group of PromQL cell index of n, as the query
// asks: type=recording&record=NAME, or type=alerting&alert=NAME[&for=D];
// group (default: the rule's name) and interval are optional. Variables
// take their current values: a rule has none. The rule is validated as the
// ruler validates an upload.
func ruleYAML(n *Notebook, index int, q url.Values, p parser.Parser) ([]byte, error) {
	if index < 0 || index >= len(n.Cells) {
		return nil, badRequest("cell %d does not exist: the notebook has %d cells, numbered from 0", index, len(n.Cells))
	}
	c := n.Cells[index]
	if c.Kind != KindPromQL {
		return nil, badRequest("cell %d is a %s cell: only a promql cell exports as a rule", index, c.Kind)
	}
	r := rulefmt.Rule{Expr: n.expand(c.Expr)}
	var name string
	switch typ := q.Get("type"); typ {
	case ruleRecording:
		name = q.Get("record")
		r.Record = name
		if !model.UTF8Validation.IsValidMetricName(name) || strings.ContainsAny(name, "{}") {
			return nil, badRequest("record %q is not a valid metric name", name)
		}
		if q.Get("for") != "" {
			return nil, badRequest("a recording rule has no for")
		}
	case ruleAlerting:
		name = q.Get("alert")
		r.Alert = name
		if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "{}\n") {
			return nil, badRequest("alert %q is not a valid alert name", name)
		}
		if s := q.Get("for"); s != "" {
			d, err := model.ParseDuration(s)
			if err != nil {
				return nil, badRequest("for: %v", err)
			}
			r.For = d
		}
	default:
		return nil, badRequest("type %q: use %s or %s", typ, ruleRecording, ruleAlerting)
	}
	g := exportedGroup{Name: q.Get("group"), Rules: []rulefmt.Rule{r}}
	if g.Name == "" {
		g.Name = name
	}
	if s := q.Get("interval"); s != "" {
		d, err := model.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, badRequest("interval %q is not a positive duration", s)
		}
		g.Interval = d
	}
	var errs []error
	for _, we := range r.Validate(rulefmt.RuleNode{}, model.UTF8Validation, p) {
		errs = append(errs, &we)
	}
	if len(errs) > 0 {
		return nil, badRequest("%w", errors.Join(errs...))
	}
	b, err := yaml.Marshal(&g)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the rule group: %w", err)
	}
	return b, nil
}
