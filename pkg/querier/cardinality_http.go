package querier

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// Stable IDs of the cardinality API's errors (docs/errors.md).
const (
	errCardinalityDisabled      = "err-weft-cardinality-analysis-disabled"
	errCardinalityTooManyLabels = "err-weft-cardinality-max-label-names-per-request"
)

// Parameters of the cardinality API, as Mimir's.
const (
	defaultCardinalityLimit = 20
	maxCardinalityLimit     = 500
)

// tsdbStatusHandler serves /status/tsdb as Prometheus does, over the
// tenant's series in the ingesters (one copy of each; see copyCounter).
// Prometheus' own handler reads one TSDB that the API is built with,
// where weft has a tenant per request.
type tsdbStatusHandler struct{ reader wire.Reader }

func (h tsdbStatusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := 10
	if s := r.FormValue("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "limit must be a positive number"))
			return
		}
		if limit > maxTSDBStatusLimit {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "limit must not exceed %d", maxTSDBStatusLimit))
			return
		}
	}
	cr, err := cardinalityOf(h.reader)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	id, _ := tenant.From(r.Context())
	st, err := cr.TSDBStatus(r.Context(), id, limit)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteData(w, v1.TSDBStatus{
		HeadStats: v1.HeadStats{
			NumSeries:     st.NumSeries,
			NumLabelPairs: int(st.NumLabelPairs),
			ChunkCount:    int64(st.ChunkCount),
			MinTime:       st.MinTime,
			MaxTime:       st.MaxTime,
		},
		SeriesCountByMetricName:     tsdbStats(st.SeriesCountByMetricName),
		LabelValueCountByLabelName:  tsdbStats(st.LabelValueCountByLabelName),
		MemoryInBytesByLabelName:    tsdbStats(st.MemoryInBytesByLabelName),
		SeriesCountByLabelValuePair: tsdbStats(st.SeriesCountByLabelValuePair),
	})
}

func tsdbStats(in []wire.Stat) []v1.TSDBStat {
	out := make([]v1.TSDBStat, len(in))
	for i, s := range in {
		out[i] = v1.TSDBStat{Name: s.Name, Value: s.Value}
	}
	return out
}

// cardinalityHandler serves Mimir's cardinality API,
// /cardinality/label_names and /cardinality/label_values, over the
// tenant's in-memory series (one copy of each; see copyCounter). Its
// answers are plain JSON, without Prometheus' envelope, as Mimir's;
// its errors are in the envelope.
type cardinalityHandler struct {
	reader wire.Reader
	limits *limits.Overrides
	parser parser.Parser
	values bool // label_values; label_names otherwise
}

// labelNamesCardinality is the answer of /cardinality/label_names.
type labelNamesCardinality struct {
	LabelValuesCountTotal uint64                 `json:"label_values_count_total"`
	LabelNamesCount       int                    `json:"label_names_count"`
	Cardinality           []labelNameCardinality `json:"cardinality"`
}

type labelNameCardinality struct {
	LabelName        string `json:"label_name"`
	LabelValuesCount uint64 `json:"label_values_count"`
}

// labelValuesCardinality is the answer of /cardinality/label_values.
type labelValuesCardinality struct {
	SeriesCountTotal uint64                  `json:"series_count_total"`
	Labels           []labelValuesOfOneLabel `json:"labels"`
}

type labelValuesOfOneLabel struct {
	LabelName        string                  `json:"label_name"`
	LabelValuesCount uint64                  `json:"label_values_count"`
	SeriesCount      uint64                  `json:"series_count"`
	Cardinality      []labelValueCardinality `json:"cardinality"`
}

type labelValueCardinality struct {
	LabelValue  string `json:"label_value"`
	SeriesCount uint64 `json:"series_count"`
}

func (h cardinalityHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed, "%s needs GET or POST", r.URL.Path))
		return
	}
	if err := r.ParseForm(); err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "cannot parse form: %w", err))
		return
	}
	id, _ := tenant.From(r.Context())
	lim := h.limits.For(id)
	if !lim.CardinalityAnalysisEnabled {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "cardinality analysis is disabled for the tenant: set cardinality_analysis_enabled / -querier.cardinality-analysis-enabled (%s)", errCardinalityDisabled))
		return
	}
	req := &wire.CardinalityRequest{}
	if s := r.Form.Get("selector"); s != "" {
		ms, err := h.parser.ParseMetricSelector(s)
		if err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "invalid selector: %w", err))
			return
		}
		req.Matchers = ms
	}
	limit := defaultCardinalityLimit
	if s := r.Form.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxCardinalityLimit {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "limit must be a number from 1 to %d", maxCardinalityLimit))
			return
		}
		limit = n
	}
	if h.values {
		names, err := labelNamesParam(r.Form["label_names[]"], lim.CardinalityAnalysisMaxLabelNamesPerRequest)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		req.LabelNames = names
	}
	cr, err := cardinalityOf(h.reader)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	lc, err := cr.LabelCardinality(r.Context(), id, req)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var out any
	if h.values {
		out = labelValuesAnswer(lc, limit)
	} else {
		out = labelNamesAnswer(lc, limit)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// labelNamesParam checks the label_names[] of a request: at least one,
// each a valid label name, at most max once duplicates are dropped.
func labelNamesParam(names []string, maxNames int) ([]string, error) {
	if len(names) == 0 {
		return nil, httpapi.Errorf(http.StatusBadRequest, "label_names[] is required: name the labels whose values to count")
	}
	var out []string
	for _, n := range names {
		if !model.UTF8Validation.IsValidLabelName(n) {
			return nil, httpapi.Errorf(http.StatusBadRequest, "invalid label name %q in label_names[]", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) > maxNames {
		return nil, httpapi.Errorf(http.StatusBadRequest, "the request asks for %d label names, over the limit of %d: ask for fewer, or raise cardinality_analysis_max_label_names_per_request / -querier.cardinality-analysis-max-label-names-per-request (%s)", len(out), maxNames, errCardinalityTooManyLabels)
	}
	return out, nil
}

// labelNamesAnswer sorts the label names by their number of values,
// largest first, then by name, and keeps the first limit.
func labelNamesAnswer(lc *wire.LabelCardinality, limit int) labelNamesCardinality {
	out := labelNamesCardinality{LabelNamesCount: len(lc.Labels), Cardinality: make([]labelNameCardinality, 0, len(lc.Labels))}
	for _, l := range lc.Labels {
		n := uint64(len(l.ValueHashes))
		out.LabelValuesCountTotal += n
		out.Cardinality = append(out.Cardinality, labelNameCardinality{LabelName: l.Name, LabelValuesCount: n})
	}
	slices.SortFunc(out.Cardinality, func(a, b labelNameCardinality) int {
		if a.LabelValuesCount != b.LabelValuesCount {
			return cmpDesc(a.LabelValuesCount, b.LabelValuesCount)
		}
		return strings.Compare(a.LabelName, b.LabelName)
	})
	if len(out.Cardinality) > limit {
		out.Cardinality = out.Cardinality[:limit]
	}
	return out
}

// labelValuesAnswer sorts the labels by series, largest first, then by
// name; the values of each by series, largest first, then by value,
// keeping the first limit of each.
func labelValuesAnswer(lc *wire.LabelCardinality, limit int) labelValuesCardinality {
	out := labelValuesCardinality{SeriesCountTotal: lc.SeriesCount, Labels: make([]labelValuesOfOneLabel, 0, len(lc.Labels))}
	for _, l := range lc.Labels {
		one := labelValuesOfOneLabel{LabelName: l.Name, LabelValuesCount: uint64(len(l.Values)), SeriesCount: l.SeriesCount, Cardinality: make([]labelValueCardinality, 0, len(l.Values))}
		for _, v := range l.Values {
			one.Cardinality = append(one.Cardinality, labelValueCardinality{LabelValue: v.Name, SeriesCount: v.Value})
		}
		slices.SortFunc(one.Cardinality, func(a, b labelValueCardinality) int {
			if a.SeriesCount != b.SeriesCount {
				return cmpDesc(a.SeriesCount, b.SeriesCount)
			}
			return strings.Compare(a.LabelValue, b.LabelValue)
		})
		if len(one.Cardinality) > limit {
			one.Cardinality = one.Cardinality[:limit]
		}
		out.Labels = append(out.Labels, one)
	}
	slices.SortFunc(out.Labels, func(a, b labelValuesOfOneLabel) int {
		if a.SeriesCount != b.SeriesCount {
			return cmpDesc(a.SeriesCount, b.SeriesCount)
		}
		return strings.Compare(a.LabelName, b.LabelName)
	})
	return out
}

func cmpDesc(a, b uint64) int {
	if a > b {
		return -1
	}
	if a < b {
		return 1
	}
	return 0
}
