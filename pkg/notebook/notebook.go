package notebook

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/weft-io/weft/pkg/httpapi"
)

// Cell kinds and the views of a PromQL cell.
const (
	KindMarkdown = "markdown"
	KindPromQL   = "promql"
	ViewGraph    = "graph"
	ViewTable    = "table"
)

// MaxTitleLength bounds a notebook's title, in characters.
const MaxTitleLength = 200

// Notebook is one version of a notebook, as the API sends and receives it
// and as it is stored. The server assigns ID, Version, Created and
// Updated; a client's values for them are ignored on create, and Version
// names the version an update replaces.
type Notebook struct {
	ID        string     `json:"id"`
	Version   int        `json:"version"`
	Title     string     `json:"title"`
	Time      *TimeRange `json:"time,omitempty"`
	Variables []Variable `json:"variables,omitempty"`
	Cells     []Cell     `json:"cells"`
	Created   string     `json:"created"`
	Updated   string     `json:"updated"`
}

// TimeRange is the range every cell is shown over: Grafana-style relative
// times ("now-1h", "now"), RFC3339 or unix seconds; Step is a duration or
// seconds, empty for the UI's choice.
type TimeRange struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	Step string `json:"step,omitempty"`
}

// Variable is a value that the PromQL cells use as $name or ${name}; the
// UI offers the values of Label (of the series matching Match, if set).
type Variable struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Match string `json:"match,omitempty"`
	Value string `json:"value,omitempty"`
}

// Cell is a markdown cell (Text) or a PromQL cell (Expr, shown as View,
// with an optional Title).
type Cell struct {
	Kind  string `json:"kind"`
	Text  string `json:"text,omitempty"`
	Expr  string `json:"expr,omitempty"`
	View  string `json:"view,omitempty"`
	Title string `json:"title,omitempty"`
}

// timeFormat is how Created and Updated are written: RFC3339 in UTC with
// milliseconds, so that they sort as strings.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

var (
	variableNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// variableRefRe matches $name and ${name}, as Grafana writes them.
	variableRefRe = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)
	relativeRe    = regexp.MustCompile(`^now(?:([-+])([0-9a-zA-Z]+))?(?:/[smhdwMy])?$`)
)

// badData returns a 400 naming what is wrong with a notebook.
func badData(format string, args ...any) error {
	return httpapi.Errorf(http.StatusBadRequest, "invalid notebook: "+format, args...)
}

// validate checks a notebook as a client sent it and fills in the
// defaults (a PromQL cell's view is a graph). Every PromQL expression must
// parse with the querier's parser once the variables are replaced by their
// values.
func (n *Notebook) validate(p parser.Parser) error {
	var errs []error
	n.Title = strings.TrimSpace(n.Title)
	switch {
	case n.Title == "":
		errs = append(errs, errors.New("the title is required"))
	case utf8.RuneCountInString(n.Title) > MaxTitleLength:
		errs = append(errs, fmt.Errorf("the title is longer than %d characters", MaxTitleLength))
	}
	if n.Time != nil {
		if err := validTime(n.Time.From); err != nil {
			errs = append(errs, fmt.Errorf("time.from: %w", err))
		}
		if err := validTime(n.Time.To); err != nil {
			errs = append(errs, fmt.Errorf("time.to: %w", err))
		}
		if err := validStep(n.Time.Step); err != nil {
			errs = append(errs, fmt.Errorf("time.step: %w", err))
		}
	}
	seen := map[string]bool{}
	for i, v := range n.Variables {
		switch {
		case !variableNameRe.MatchString(v.Name):
			errs = append(errs, fmt.Errorf("variable %d: the name %q must match [A-Za-z_][A-Za-z0-9_]*", i+1, v.Name))
		case seen[v.Name]:
			errs = append(errs, fmt.Errorf("variable %d: the name %q is repeated", i+1, v.Name))
		}
		seen[v.Name] = true
		if v.Label == "" || !model.UTF8Validation.IsValidLabelName(v.Label) {
			errs = append(errs, fmt.Errorf("variable %q: %q is not a label name", v.Name, v.Label))
		}
		if v.Match != "" {
			if _, err := p.ParseMetricSelector(v.Match); err != nil {
				errs = append(errs, fmt.Errorf("variable %q: match %q is not a series selector: %w", v.Name, v.Match, err))
			}
		}
	}
	if n.Cells == nil {
		n.Cells = []Cell{}
	}
	for i := range n.Cells {
		c := &n.Cells[i]
		switch c.Kind {
		case KindMarkdown:
			if c.Expr != "" || c.View != "" {
				errs = append(errs, fmt.Errorf("cell %d: a markdown cell has text, not expr or view", i+1))
			}
		case KindPromQL:
			if c.Text != "" {
				errs = append(errs, fmt.Errorf("cell %d: a promql cell has expr, not text", i+1))
			}
			if c.View == "" {
				c.View = ViewGraph
			}
			if c.View != ViewGraph && c.View != ViewTable {
				errs = append(errs, fmt.Errorf("cell %d: unknown view %q: use %s or %s", i+1, c.View, ViewGraph, ViewTable))
			}
			if strings.TrimSpace(c.Expr) == "" {
				errs = append(errs, fmt.Errorf("cell %d: the expr of a promql cell is empty", i+1))
			} else if _, err := p.ParseExpr(n.expand(c.Expr)); err != nil {
				errs = append(errs, fmt.Errorf("cell %d: cannot parse the expr: %w", i+1, err))
			}
		default:
			errs = append(errs, fmt.Errorf("cell %d: unknown kind %q: use %s or %s", i+1, c.Kind, KindMarkdown, KindPromQL))
		}
	}
	if len(errs) > 0 {
		return badData("%w", errors.Join(errs...))
	}
	return nil
}

// expand replaces the notebook's variables in expr by their values;
// anything else that looks like a variable is left as it is.
func (n *Notebook) expand(expr string) string {
	if len(n.Variables) == 0 || !strings.Contains(expr, "$") {
		return expr
	}
	return variableRefRe.ReplaceAllStringFunc(expr, func(ref string) string {
		name := strings.Trim(ref, "${}")
		for _, v := range n.Variables {
			if v.Name == name {
				return v.Value
			}
		}
		return ref
	})
}

// validTime accepts what the UI and Grafana accept as one end of a range.
func validTime(s string) error {
	if s == "" {
		return nil
	}
	if m := relativeRe.FindStringSubmatch(s); m != nil {
		if m[2] == "" {
			return nil
		}
		if _, err := model.ParseDuration(m[2]); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return nil
	}
	return fmt.Errorf("%q is not now[-+duration], RFC3339 or unix seconds", s)
}

// validStep accepts a duration or seconds.
func validStep(s string) error {
	if s == "" {
		return nil
	}
	if d, err := model.ParseDuration(s); err == nil && d > 0 {
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
		return nil
	}
	return fmt.Errorf("%q is not a positive duration or number of seconds", s)
}
