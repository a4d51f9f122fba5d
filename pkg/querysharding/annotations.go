package querysharding

import (
	"regexp"
	"strconv"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/parser/posrange"
	"github.com/prometheus/prometheus/util/annotations"
)

// An annotation of a sub-query or of the outer evaluation points into the
// text that was evaluated ("PromQL warning: ... (1:24)"), not into the
// query. remapper moves the position to the query's node that the
// evaluated node was printed from: both texts parse to trees of the same
// shape, since sub-queries differ only by matchers and the outer
// expression's own nodes carry the positions of the query's nodes they
// stand for.
type remapper struct {
	parser parser.Parser
	query  string // the query the positions must point into
}

// annoPos matches the position Prometheus appends to an annotation's
// text once it knows the query (annotations.Annotations.AsStrings).
var annoPos = regexp.MustCompile(` \((\d+):(\d+)\)$`)

// remap returns annos with positions in text, printed from expr, moved to
// the query's. An annotation whose position cannot be mapped loses it
// rather than point at the wrong place.
func (r remapper) remap(annos annotations.Annotations, text string, expr parser.Expr) annotations.Annotations {
	if len(annos) == 0 {
		return annos
	}
	starts := r.starts(text, expr)
	out := make(annotations.Annotations, len(annos))
	for _, err := range annos {
		if q, ok := err.(interface{ SetQuery(string) }); ok {
			q.SetQuery(text)
		}
		msg := err.Error()
		m := annoPos.FindStringSubmatchIndex(msg)
		if m == nil {
			out.Add(err)
			continue
		}
		line, _ := strconv.Atoi(msg[m[2]:m[3]])
		col, _ := strconv.Atoi(msg[m[4]:m[5]])
		msg = msg[:m[0]]
		if at, ok := starts[offset(text, line, col)]; ok {
			msg += " (" + posrange.PositionRange{Start: at}.StartPosInput(r.query, 0) + ")"
		}
		out.Add(&remapped{msg: msg, err: err})
	}
	return out
}

// starts maps the start of each node of text to the start of the node of
// expr it was printed from; nil when the trees differ in shape.
func (r remapper) starts(text string, expr parser.Expr) map[posrange.Pos]posrange.Pos {
	parsed, err := r.parser.ParseExpr(text)
	if err != nil {
		return nil
	}
	from, to := nodes(parsed), nodes(expr)
	if len(from) != len(to) {
		return nil
	}
	m := make(map[posrange.Pos]posrange.Pos, len(from))
	for i, n := range from {
		if _, ok := m[n.PositionRange().Start]; !ok {
			m[n.PositionRange().Start] = to[i].PositionRange().Start
		}
	}
	return m
}

func nodes(e parser.Expr) []parser.Node {
	var out []parser.Node
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if n != nil {
			out = append(out, n)
		}
		return nil
	})
	return out
}

// offset inverts posrange.PositionRange.StartPosInput.
func offset(text string, line, col int) posrange.Pos {
	l, lineStart := 1, 0
	for i := 0; i < len(text) && l < line; i++ {
		if text[i] == '\n' {
			l++
			lineStart = i + 1
		}
	}
	return posrange.Pos(lineStart + col - 1)
}

// remapped is an annotation with its position already in the query's
// terms; it stays a warning or an info (errors.Is) of the same kind.
type remapped struct {
	msg string
	err error
}

func (a *remapped) Error() string     { return a.msg }
func (a *remapped) Unwrap() error     { return a.err }
func (*remapped) SetQuery(string)     {}
func (a *remapped) Merge(error) error { return a }
