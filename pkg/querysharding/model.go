package querysharding

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
)

// ModelRunFunc runs one sub-query downstream as a range query of the
// Prometheus HTTP API, and returns its answer as decoded from the JSON:
// the matrix and the warnings and infos.
type ModelRunFunc func(ctx context.Context, subquery string) (m model.Matrix, warnings, infos []string, err error)

// ExecModel is Exec for a caller that speaks the HTTP API's range query
// answers (the query-frontend): its sub-queries' answers and its result
// are model.Matrix, its annotations the API's warning and info texts, with
// positions in qs. A native histogram in a sub-query's answer makes it
// return sharded false: the API's JSON gives a histogram's bucket bounds,
// not its schema and spans, and a sum of histograms rebuilt from it would
// not be exact; the caller then runs the query whole.
func (s *Sharder) ExecModel(ctx context.Context, qs string, start, end time.Time, step time.Duration, shards int, run ModelRunFunc) (m model.Matrix, warnings, infos []string, sharded bool, err error) {
	v, annos, sharded, err := s.Exec(ctx, qs, start, end, step, shards, func(ctx context.Context, sub string) (parser.Value, annotations.Annotations, error) {
		m, w, i, err := run(ctx, sub)
		if err != nil {
			return nil, nil, err
		}
		mat, err := fromModel(m)
		if err != nil {
			return nil, nil, err
		}
		return mat, annotationsFromStrings(w, i), nil
	})
	if errors.Is(err, errHistograms) {
		return nil, nil, nil, false, nil
	}
	if !sharded || err != nil {
		return nil, nil, nil, sharded, err
	}
	mat, ok := v.(promql.Matrix)
	if !ok {
		return nil, nil, nil, true, errors.New("cannot answer a sharded range query: the result is no matrix")
	}
	warnings, infos = annos.AsStrings(qs, 0, 0)
	return toModel(mat), warnings, infos, true, nil
}

var errHistograms = errors.New("a partial result has native histograms, which the API's JSON does not give exactly")

// fromModel converts a range query's answer; floats convert exactly (the
// API writes the shortest text that reads back as the same float64).
func fromModel(m model.Matrix) (promql.Matrix, error) {
	out := make(promql.Matrix, 0, len(m))
	for _, ss := range m {
		if len(ss.Histograms) > 0 {
			return nil, errHistograms
		}
		b := labels.NewScratchBuilder(len(ss.Metric))
		for n, v := range ss.Metric {
			b.Add(string(n), string(v))
		}
		b.Sort()
		s := promql.Series{Metric: b.Labels(), Floats: make([]promql.FPoint, len(ss.Values))}
		for i, p := range ss.Values {
			s.Floats[i] = promql.FPoint{T: int64(p.Timestamp), F: float64(p.Value)}
		}
		out = append(out, s)
	}
	return out, nil
}

// toModel converts a result of floats (ExecModel's results have no
// histograms: its sub-queries had none).
func toModel(m promql.Matrix) model.Matrix {
	out := make(model.Matrix, 0, len(m))
	for _, s := range m {
		ss := &model.SampleStream{Metric: make(model.Metric, s.Metric.Len()), Values: make([]model.SamplePair, len(s.Floats))}
		s.Metric.Range(func(l labels.Label) { ss.Metric[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		for i, p := range s.Floats {
			ss.Values[i] = model.SamplePair{Timestamp: model.Time(p.T), Value: model.SampleValue(p.F)}
		}
		out = append(out, ss)
	}
	return out
}

// annotationsFromStrings returns the API's warning and info texts as
// annotations of their kind, each with its text as it is.
func annotationsFromStrings(warnings, infos []string) annotations.Annotations {
	var a annotations.Annotations
	for _, w := range warnings {
		a.Add(&textAnnotation{text: w, kind: annotations.PromQLWarning})
	}
	for _, i := range infos {
		a.Add(&textAnnotation{text: i, kind: annotations.PromQLInfo})
	}
	return a
}

// textAnnotation is an annotation received as text: errors.Is tells its
// kind, and its text stays as it was.
type textAnnotation struct {
	text string
	kind error
}

func (a *textAnnotation) Error() string { return a.text }
func (a *textAnnotation) Unwrap() error { return a.kind }
