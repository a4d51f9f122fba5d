package frontend

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Result is the answer of one range query: its matrix and annotations.
// Values are exactly those of the querier's JSON: Prometheus formats
// floats with strconv's shortest representation that parses back to the
// same float64, and model's decoder parses them so.
type Result struct {
	Matrix   model.Matrix
	Warnings []string
	Infos    []string

	// uncacheable: the querier said Cache-Control: no-store.
	uncacheable bool
}

// apiResponse is the Prometheus API envelope of a range query's answer.
type apiResponse struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string       `json:"resultType"`
		Result     model.Matrix `json:"result"`
	} `json:"data"`
	Warnings []string `json:"warnings"`
	Infos    []string `json:"infos"`
}

// DecodeResult decodes a querier's successful answer to a range query.
func DecodeResult(body []byte) (*Result, error) {
	if r, err := decodeFast(body); err == nil {
		return r, nil
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("cannot decode the range query answer: %w", err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("cannot decode the range query answer: status %q", r.Status)
	}
	if r.Data.ResultType != model.ValMatrix.String() {
		return nil, fmt.Errorf("cannot decode the range query answer: result type %q, not matrix", r.Data.ResultType)
	}
	return &Result{Matrix: r.Data.Result, Warnings: r.Warnings, Infos: r.Infos}, nil
}

// cacheable reports whether r may be cached: not when it carries
// warnings or infos (it may be partial, or change) or the querier said
// no-store.
func (r *Result) cacheable() bool { return len(r.Warnings) == 0 && len(r.Infos) == 0 && !r.uncacheable }

// AppendResponse appends r as the Prometheus API answer to a range query,
// in Prometheus' own formatting of timestamps, floats and histograms.
func AppendResponse(buf []byte, r *Result) []byte {
	buf = append(buf, `{"status":"success","data":{"resultType":"matrix","result":`...)
	buf = appendMatrix(buf, r.Matrix)
	buf = append(buf, '}')
	if len(r.Warnings) > 0 {
		buf = append(buf, `,"warnings":`...)
		buf = appendStrings(buf, r.Warnings)
	}
	if len(r.Infos) > 0 {
		buf = append(buf, `,"infos":`...)
		buf = appendStrings(buf, r.Infos)
	}
	return append(buf, "}\n"...)
}

func appendStrings(buf []byte, ss []string) []byte {
	buf = append(buf, '[')
	for i, s := range ss {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, s)
	}
	return append(buf, ']')
}

// appendMatrix appends m as JSON; an empty matrix is [].
func appendMatrix(buf []byte, m model.Matrix) []byte {
	buf = append(buf, '[')
	for i, s := range m {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"metric":{`...)
		names := make([]string, 0, len(s.Metric))
		for n := range s.Metric {
			names = append(names, string(n))
		}
		slices.Sort(names)
		for j, n := range names {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, n)
			buf = append(buf, ':')
			buf = appendString(buf, string(s.Metric[model.LabelName(n)]))
		}
		buf = append(buf, '}')
		if len(s.Values) > 0 || len(s.Histograms) == 0 {
			buf = append(buf, `,"values":[`...)
			for j, v := range s.Values {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, '[')
				buf = appendTimestamp(buf, int64(v.Timestamp))
				buf = append(buf, ',', '"')
				buf = strconv.AppendFloat(buf, float64(v.Value), 'f', -1, 64)
				buf = append(buf, '"', ']')
			}
			buf = append(buf, ']')
		}
		if len(s.Histograms) > 0 {
			buf = append(buf, `,"histograms":[`...)
			for j, h := range s.Histograms {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, '[')
				buf = appendTimestamp(buf, int64(h.Timestamp))
				buf = append(buf, ',')
				buf = appendHistogram(buf, h.Histogram)
				buf = append(buf, ']')
			}
			buf = append(buf, ']')
		}
		buf = append(buf, '}')
	}
	return append(buf, ']')
}

func appendHistogram(buf []byte, h *model.SampleHistogram) []byte {
	if h == nil {
		return append(buf, "null"...)
	}
	buf = append(buf, `{"count":"`...)
	buf = strconv.AppendFloat(buf, float64(h.Count), 'f', -1, 64)
	buf = append(buf, `","sum":"`...)
	buf = strconv.AppendFloat(buf, float64(h.Sum), 'f', -1, 64)
	buf = append(buf, '"')
	if len(h.Buckets) > 0 { // Prometheus leaves the key out without buckets
		buf = append(buf, `,"buckets":[`...)
		for i, b := range h.Buckets {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '[')
			buf = strconv.AppendInt(buf, int64(b.Boundaries), 10)
			for _, f := range []model.FloatString{b.Lower, b.Upper, b.Count} {
				buf = append(buf, ',', '"')
				buf = strconv.AppendFloat(buf, float64(f), 'f', -1, 64)
				buf = append(buf, '"')
			}
			buf = append(buf, ']')
		}
		buf = append(buf, ']')
	}
	return append(buf, '}')
}

// appendTimestamp writes ms as seconds with up to three decimals, as
// Prometheus does (1435781451.781, 1435781451.5 as 1435781451.500).
func appendTimestamp(buf []byte, ms int64) []byte {
	if ms < 0 {
		buf = append(buf, '-')
		ms = -ms
	}
	buf = strconv.AppendInt(buf, ms/1000, 10)
	if f := ms % 1000; f != 0 {
		buf = append(buf, '.')
		if f < 100 {
			buf = append(buf, '0')
		}
		if f < 10 {
			buf = append(buf, '0')
		}
		buf = strconv.AppendInt(buf, f, 10)
	}
	return buf
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}

// series is a series being merged, with its labels for ordering.
type series struct {
	lbls   labels.Labels
	stream *model.SampleStream
}

// mergeResults merges the matrices of rs, which cover disjoint times of
// the same query, into one: the samples of a series joined in time order
// (a timestamp present twice kept once), series sorted by labels as the
// PromQL engine sorts a range query's answer. Annotations are joined
// without duplicates.
func mergeResults(rs []*Result) *Result {
	out := &Result{}
	if len(rs) == 1 {
		*out = *rs[0]
		return out
	}
	byKey := map[string]*series{}
	var buf []byte
	for _, r := range rs {
		if r == nil {
			continue
		}
		out.Warnings = appendNew(out.Warnings, r.Warnings)
		out.Infos = appendNew(out.Infos, r.Infos)
		for _, s := range r.Matrix {
			lbls := metricLabels(s.Metric)
			buf = lbls.Bytes(buf[:0])
			cur, ok := byKey[string(buf)]
			if !ok {
				cp := &model.SampleStream{Metric: s.Metric, Values: slices.Clone(s.Values), Histograms: slices.Clone(s.Histograms)}
				byKey[string(buf)] = &series{lbls: lbls, stream: cp}
				continue
			}
			cur.stream.Values = append(cur.stream.Values, s.Values...)
			cur.stream.Histograms = append(cur.stream.Histograms, s.Histograms...)
		}
	}
	all := make([]*series, 0, len(byKey))
	for _, s := range byKey {
		s.stream.Values = sortDedupe(s.stream.Values, func(p model.SamplePair) model.Time { return p.Timestamp })
		s.stream.Histograms = sortDedupe(s.stream.Histograms, func(p model.SampleHistogramPair) model.Time { return p.Timestamp })
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return labels.Compare(all[i].lbls, all[j].lbls) < 0 })
	out.Matrix = make(model.Matrix, len(all))
	for i, s := range all {
		out.Matrix[i] = s.stream
	}
	return out
}

func metricLabels(m model.Metric) labels.Labels {
	b := labels.NewScratchBuilder(len(m))
	for n, v := range m {
		b.Add(string(n), string(v))
	}
	b.Sort()
	return b.Labels()
}

func appendNew(dst, src []string) []string {
	for _, s := range src {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}

// sortDedupe sorts ps by time (stable, so the first of equal timestamps
// stays) and keeps one sample per timestamp.
func sortDedupe[T any](ps []T, ts func(T) model.Time) []T {
	if !slices.IsSortedFunc(ps, func(a, b T) int { return cmpTime(ts(a), ts(b)) }) {
		slices.SortStableFunc(ps, func(a, b T) int { return cmpTime(ts(a), ts(b)) })
	}
	return slices.CompactFunc(ps, func(a, b T) bool { return ts(a) == ts(b) })
}

func cmpTime(a, b model.Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// trimMatrix returns the samples of m in [mint, maxt] (ms, inclusive),
// leaving out series with none. m is not modified.
func trimMatrix(m model.Matrix, mint, maxt int64) model.Matrix {
	out := make(model.Matrix, 0, len(m))
	for _, s := range m {
		vs := trimPairs(s.Values, mint, maxt, func(p model.SamplePair) model.Time { return p.Timestamp })
		hs := trimPairs(s.Histograms, mint, maxt, func(p model.SampleHistogramPair) model.Time { return p.Timestamp })
		if len(vs) == 0 && len(hs) == 0 {
			continue
		}
		out = append(out, &model.SampleStream{Metric: s.Metric, Values: vs, Histograms: hs})
	}
	return out
}

func trimPairs[T any](ps []T, mint, maxt int64, ts func(T) model.Time) []T {
	lo, _ := slices.BinarySearchFunc(ps, mint, func(p T, t int64) int { return cmpTime(ts(p), model.Time(t)) })
	hi, found := slices.BinarySearchFunc(ps, maxt, func(p T, t int64) int { return cmpTime(ts(p), model.Time(t)) })
	if found {
		hi++
	}
	if lo >= hi {
		return nil
	}
	return ps[lo:hi:hi]
}
