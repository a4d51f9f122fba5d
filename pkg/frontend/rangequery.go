package frontend

import (
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// maxPoints is Prometheus' limit of points per series of a range query;
// a query over it is passed through for the querier to refuse.
const maxPoints = 11000

// rangeQuery is a range query the frontend splits and caches.
type rangeQuery struct {
	query string // sent downstream: the client's, with @ start()/end() made explicit
	// start and end are the first and last points of the query's grid,
	// start + k*step (ms): the points Prometheus evaluates.
	start, end, step int64
	// origStart and origEnd are the client's, for max_query_length.
	origStart, origEnd int64
	// future is the latest time the query reads beyond its grid point
	// (an @ timestamp or a negative offset), for the cacheable bound; 0
	// when it reads nothing later than each point.
	future    int64
	hasFuture bool
	// timeout is the client's timeout parameter; 0 when none.
	timeout time.Duration
}

// splittableParams are the only parameters of a range query the frontend
// splits and caches; with any other (stats, lookback_delta, ...) the query
// goes to the querier whole, which answers it as Prometheus does.
var splittableParams = map[string]bool{"query": true, "start": true, "end": true, "step": true, "timeout": true}

// rangeFunc finds range() in a duration expression: its value is the
// query's length, which splitting would change.
var rangeFunc = regexp.MustCompile(`\brange\s*\(`)

// parseRangeQuery returns the query of form, with end moved back to the
// last point of its grid (which changes no answer), or false when the
// frontend should pass it through whole: a parameter it does not split, a
// value that does not parse (the querier answers the error), or an
// expression whose meaning depends on the query's range (range() in a
// duration, or the functions start(), end() and range()).
func parseRangeQuery(form url.Values, p parser.Parser) (*rangeQuery, bool) {
	for k := range form {
		if !splittableParams[k] {
			return nil, false
		}
	}
	start, err1 := parseTime(form.Get("start"))
	end, err2 := parseTime(form.Get("end"))
	step, err3 := parseDuration(form.Get("step"))
	if err1 != nil || err2 != nil || err3 != nil || step <= 0 || end < start || (end-start)/step > maxPoints {
		return nil, false
	}
	var timeout time.Duration
	if s := form.Get("timeout"); s != "" {
		ms, err := parseDuration(s)
		if err != nil || ms <= 0 {
			return nil, false
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	q := form.Get("query")
	if rangeFunc.MatchString(q) {
		return nil, false
	}
	expr, err := p.ParseExpr(q)
	if err != nil || readsItsRange(expr) {
		return nil, false
	}
	rq := &rangeQuery{
		start: start, end: start + (end-start)/step*step, step: step,
		origStart: start, origEnd: end, timeout: timeout,
	}
	rewritten := false
	fix := func(ts **int64, startOrEnd *parser.ItemType, offset time.Duration) {
		switch *startOrEnd {
		case parser.START:
			v := rq.start
			*ts, *startOrEnd, rewritten = &v, 0, true
		case parser.END:
			v := rq.origEnd
			*ts, *startOrEnd, rewritten = &v, 0, true
		}
		if *ts != nil {
			rq.noteFuture(**ts - offset.Milliseconds())
		} else if offset < 0 {
			rq.noteFuture(math.MaxInt64) // reads after every point: never cached
		}
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			fix(&n.Timestamp, &n.StartOrEnd, n.OriginalOffset)
		case *parser.SubqueryExpr:
			fix(&n.Timestamp, &n.StartOrEnd, n.OriginalOffset)
		}
		return nil
	})
	rq.query = q
	if rewritten {
		rq.query = expr.String()
	}
	return rq, true
}

// readsItsRange reports whether expr calls start(), end() or range(),
// whose values are the query's start and end: a split part, a cached
// extent of another query, or the grid's last point instead of the
// client's end would change them. (@ start() and @ end() are made
// explicit instead.)
func readsItsRange(expr parser.Expr) bool {
	found := false
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if c, ok := node.(*parser.Call); ok {
			switch c.Func.Name {
			case "start", "end", "range":
				found = true
			}
		}
		return nil
	})
	return found
}

func (rq *rangeQuery) noteFuture(t int64) {
	if !rq.hasFuture || t > rq.future {
		rq.future, rq.hasFuture = t, true
	}
}

// gridAtOrBefore returns the last point of the grid of rq at or before t.
func (rq *rangeQuery) gridAtOrBefore(t int64) int64 {
	return rq.start + floorDiv(t-rq.start, rq.step)*rq.step
}

// offset is where the grid of rq lies within a step: queries with the
// same step and offset share points, and cached extents.
func (rq *rangeQuery) offset() int64 { return rq.start - floorDiv(rq.start, rq.step)*rq.step }

// floorDiv is a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// parseTime parses a time as the Prometheus API does: seconds since the
// epoch (fractions allowed) or RFC 3339; it returns ms.
func parseTime(s string) (int64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		return int64(sec)*1000 + int64(math.Round(frac*1000)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}

// parseDuration parses a step as the Prometheus API does: seconds
// (fractions allowed) or a Prometheus duration; it returns ms.
func parseDuration(s string) (int64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > float64(math.MaxInt64/int64(time.Millisecond)) {
			return 0, strconv.ErrRange
		}
		return int64(math.Round(f * 1000)), nil
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return time.Duration(d).Milliseconds(), nil
}

// formatTime formats ms as seconds with three decimals: exact, and what
// the querier parses back to the same millisecond.
func formatTime(ms int64) string {
	return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)
}

// part is one split part of a range query: the grid points [start, end].
type part struct {
	start, end int64
	index      int64 // the part's interval: floor(start / interval)
}

// splitQuery splits the grid of rq at multiples of interval (ms; 0 for
// one part): each part holds the grid points of one interval, so parts
// start and end on the query's grid.
func splitQuery(rq *rangeQuery, interval int64) []part {
	if interval <= 0 {
		return []part{{start: rq.start, end: rq.end}}
	}
	var parts []part
	for t := rq.start; t <= rq.end; {
		idx := floorDiv(t, interval)
		boundary := (idx + 1) * interval
		// The last grid point before the next interval.
		end := min(rq.end, rq.gridAtOrBefore(boundary-1))
		parts = append(parts, part{start: t, end: end, index: idx})
		t = end + rq.step
	}
	return parts
}

// isQueryRange reports whether path is the range query endpoint.
func isQueryRange(path string) bool { return path == apiPrefix+"/query_range" }

// isDeleteSeries reports whether r asks for a series deletion.
func isDeleteSeries(method, path string) bool {
	return path == apiPrefix+"/admin/tsdb/delete_series" && (method == "POST" || method == "PUT")
}

// noStore reports whether a Cache-Control header value forbids caching.
func noStore(values []string) bool {
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-store") {
				return true
			}
		}
	}
	return false
}
