package wire

import (
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers shared by every request.
const fieldTenant protowire.Number = 15

// ---- Push ----

// appendPushRequest encodes req as a remote-write 1.0 WriteRequest with the
// tenant in field 15 and start timestamps where remote write 2.0 has them
// (Sample field 3, Histogram field 17).
func appendPushRequest(b []byte, tenant string, req *PushRequest) []byte {
	b = appendStringField(b, fieldTenant, tenant)
	for i := range req.Series {
		b = AppendSeriesMessage(b, &req.Series[i])
	}
	for i := range req.Metadata {
		b = AppendMetadataMessage(b, &req.Metadata[i])
	}
	return b
}

// AppendSeriesMessage appends s as one series of a push message (tag and
// length included). A push is the tenant field followed by such messages in
// any order, so a distributor encodes each series once and sends the same
// bytes to every replica with IngesterClient.PushEncoded.
func AppendSeriesMessage(b []byte, s *Series) []byte {
	var ms int
	b, ms = beginMsg(b, 1)
	b = appendLabels(b, 1, s.Labels)
	for _, smp := range s.Samples {
		var m int
		b, m = beginMsg(b, 2)
		b = appendDoubleField(b, 1, smp.V)
		b = appendInt64Field(b, 2, smp.T)
		b = appendInt64Field(b, 3, smp.ST)
		b = endMsg(b, m)
	}
	for _, e := range s.Exemplars {
		var m int
		b, m = beginMsg(b, 3)
		b = appendLabels(b, 1, e.Labels)
		b = appendDoubleField(b, 2, e.V)
		b = appendInt64Field(b, 3, e.T)
		b = endMsg(b, m)
	}
	for j := range s.Histograms {
		var m int
		b, m = beginMsg(b, 4)
		b = appendHistogram(b, &s.Histograms[j])
		b = endMsg(b, m)
	}
	b = endMsg(b, ms)
	return b
}

// AppendMetadataMessage appends m as one metadata entry of a push message.
func AppendMetadataMessage(b []byte, m *Metadata) []byte {
	var pos int
	b, pos = beginMsg(b, 3)
	b = appendMetadata(b, m)
	return endMsg(b, pos)
}

// metricTypes are remote write's MetricMetadata.MetricType names by number.
var metricTypes = [...]string{"unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"}

// appendMetadata encodes m as a MetricMetadata; a type that has no number
// travels as a string in field 15.
func appendMetadata(b []byte, m *Metadata) []byte {
	known := false
	for i, t := range metricTypes {
		if m.Type == t {
			b = appendVarintField(b, 1, uint64(i))
			known = true
			break
		}
	}
	b = appendStringField(b, 2, m.MetricFamily)
	b = appendStringField(b, 4, m.Help)
	b = appendStringField(b, 5, m.Unit)
	if !known {
		b = appendStringField(b, 15, m.Type)
	}
	return b
}

func decodeMetadata(b []byte, m *Metadata) error {
	*m = Metadata{Type: metricTypes[0]}
	var f field
	for len(b) > 0 {
		var err error
		if b, err = nextField(b, &f); err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.isVarint():
			if f.u < uint64(len(metricTypes)) {
				m.Type = metricTypes[f.u]
			}
		case f.num == 2 && f.isBytes():
			m.MetricFamily = string(f.b)
		case f.num == 4 && f.isBytes():
			m.Help = string(f.b)
		case f.num == 5 && f.isBytes():
			m.Unit = string(f.b)
		case f.num == 15 && f.isBytes():
			m.Type = string(f.b)
		}
	}
	return nil
}

// appendHistogram encodes h as a remote-write Histogram: an integer
// histogram always carries count_int (1) and zero_count_int (6), a float
// one count_float (2) and zero_count_float (7), which is how a decoder
// tells them apart.
func appendHistogram(b []byte, h *Histogram) []byte {
	var (
		schema        int32
		zeroThreshold float64
		sum           float64
		hint          histogram.CounterResetHint
		pos, neg      []histogram.Span
		custom        []float64
	)
	switch {
	case h.H != nil:
		x := h.H
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, x.Count)
		schema, zeroThreshold, sum, hint, pos, neg, custom = x.Schema, x.ZeroThreshold, x.Sum, x.CounterResetHint, x.PositiveSpans, x.NegativeSpans, x.CustomValues
		b = appendDoubleField(b, 3, sum)
		b = appendSintField(b, 4, int64(schema))
		b = appendDoubleField(b, 5, zeroThreshold)
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, x.ZeroCount)
		b = appendSpans(b, 8, neg)
		b = appendPackedSints(b, 9, x.NegativeBuckets)
		b = appendSpans(b, 11, pos)
		b = appendPackedSints(b, 12, x.PositiveBuckets)
	case h.FH != nil:
		x := h.FH
		b = protowire.AppendTag(b, 2, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(x.Count))
		schema, zeroThreshold, sum, hint, pos, neg, custom = x.Schema, x.ZeroThreshold, x.Sum, x.CounterResetHint, x.PositiveSpans, x.NegativeSpans, x.CustomValues
		b = appendDoubleField(b, 3, sum)
		b = appendSintField(b, 4, int64(schema))
		b = appendDoubleField(b, 5, zeroThreshold)
		b = protowire.AppendTag(b, 7, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(x.ZeroCount))
		b = appendSpans(b, 8, neg)
		b = appendPackedDoubles(b, 10, x.NegativeBuckets)
		b = appendSpans(b, 11, pos)
		b = appendPackedDoubles(b, 13, x.PositiveBuckets)
	}
	b = appendVarintField(b, 14, uint64(hint))
	b = appendInt64Field(b, 15, h.T)
	b = appendPackedDoubles(b, 16, custom)
	b = appendInt64Field(b, 17, h.ST)
	return b
}

func appendSpans(b []byte, num protowire.Number, spans []histogram.Span) []byte {
	for _, s := range spans {
		var m int
		b, m = beginMsg(b, num)
		b = appendSintField(b, 1, int64(s.Offset))
		b = appendVarintField(b, 2, uint64(s.Length))
		b = endMsg(b, m)
	}
	return b
}

func decodeSpan(b []byte) (histogram.Span, error) {
	var s histogram.Span
	var f field
	for len(b) > 0 {
		var err error
		if b, err = nextField(b, &f); err != nil {
			return s, err
		}
		switch {
		case f.num == 1 && f.isVarint():
			s.Offset = int32(protowire.DecodeZigZag(f.u))
		case f.num == 2 && f.isVarint():
			s.Length = uint32(f.u)
		}
	}
	return s, nil
}

func decodeHistogram(b []byte, h *Histogram) error {
	var (
		ih      histogram.Histogram
		fh      histogram.FloatHistogram
		isFloat bool
		f       field
		err     error
	)
	*h = Histogram{}
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return err
		}
		switch f.num {
		case 1:
			ih.Count = f.u
		case 2:
			isFloat, fh.Count = true, f.float()
		case 3:
			ih.Sum = f.float()
		case 4:
			ih.Schema = int32(protowire.DecodeZigZag(f.u))
		case 5:
			ih.ZeroThreshold = f.float()
		case 6:
			ih.ZeroCount = f.u
		case 7:
			isFloat, fh.ZeroCount = true, f.float()
		case 8, 11:
			if !f.isBytes() {
				continue
			}
			s, err := decodeSpan(f.b)
			if err != nil {
				return err
			}
			if f.num == 8 {
				ih.NegativeSpans = append(ih.NegativeSpans, s)
			} else {
				ih.PositiveSpans = append(ih.PositiveSpans, s)
			}
		case 9:
			ih.NegativeBuckets, err = appendSints(ih.NegativeBuckets, &f)
		case 10:
			fh.NegativeBuckets, err = appendDoubles(fh.NegativeBuckets, &f)
		case 12:
			ih.PositiveBuckets, err = appendSints(ih.PositiveBuckets, &f)
		case 13:
			fh.PositiveBuckets, err = appendDoubles(fh.PositiveBuckets, &f)
		case 14:
			ih.CounterResetHint = histogram.CounterResetHint(f.u)
		case 15:
			h.T = f.int64()
		case 16:
			ih.CustomValues, err = appendDoubles(ih.CustomValues, &f)
		case 17:
			h.ST = f.int64()
		}
		if err != nil {
			return err
		}
	}
	if !isFloat {
		h.H = &ih
		return nil
	}
	fh.CounterResetHint, fh.Schema, fh.ZeroThreshold, fh.Sum = ih.CounterResetHint, ih.Schema, ih.ZeroThreshold, ih.Sum
	fh.PositiveSpans, fh.NegativeSpans, fh.CustomValues = ih.PositiveSpans, ih.NegativeSpans, ih.CustomValues
	h.FH = &fh
	return nil
}

// decodePushRequest decodes b into req (reusing its slices) and returns the
// tenant. Labels are built with sb and do not refer to b; nothing in req
// does once decodePushRequest returns.
func decodePushRequest(b []byte, req *PushRequest, sb *labels.ScratchBuilder) (string, error) {
	var (
		tenant string
		f      field
		err    error
	)
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return "", err
		}
		switch {
		case f.num == fieldTenant && f.isBytes():
			tenant = string(f.b)
		case f.num == 1 && f.isBytes():
			n := len(req.Series)
			if n < cap(req.Series) {
				req.Series = req.Series[:n+1]
			} else {
				req.Series = append(req.Series, Series{})
			}
			if err := decodeSeries(f.b, &req.Series[n], sb); err != nil {
				return "", fmt.Errorf("series %d: %w", n, err)
			}
		case f.num == 3 && f.isBytes():
			var m Metadata
			if err := decodeMetadata(f.b, &m); err != nil {
				return "", err
			}
			req.Metadata = append(req.Metadata, m)
		}
	}
	return tenant, nil
}

// decodeSeries decodes a TimeSeries into s, whose slices are empty but may
// have capacity from an earlier request.
//
// TimeSeries field 15, a series-wide created timestamp sent by distributors
// older than per-sample start timestamps, is skipped: it was only the first
// start timestamp of the request, wrong for every later sample of a delta
// series, and ingesters of that time never stored it either.
func decodeSeries(b []byte, s *Series, sb *labels.ScratchBuilder) error {
	var (
		f   field
		err error
	)
	s.Samples, s.Histograms, s.Exemplars = s.Samples[:0], s.Histograms[:0], s.Exemplars[:0]
	sb.Reset()
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.isBytes():
			if err := decodeLabel(f.b, sb); err != nil {
				return err
			}
		case f.num == 2 && f.isBytes():
			var smp Sample
			var g field
			for m := f.b; len(m) > 0; {
				if m, err = nextField(m, &g); err != nil {
					return err
				}
				switch g.num {
				case 1:
					smp.V = g.float()
				case 2:
					smp.T = g.int64()
				case 3:
					smp.ST = g.int64()
				}
			}
			s.Samples = append(s.Samples, smp)
		case f.num == 3 && f.isBytes():
			e, err := decodeExemplar(f.b)
			if err != nil {
				return err
			}
			s.Exemplars = append(s.Exemplars, e)
		case f.num == 4 && f.isBytes():
			var h Histogram
			if err := decodeHistogram(f.b, &h); err != nil {
				return err
			}
			s.Histograms = append(s.Histograms, h)
		}
	}
	s.Labels = sb.Labels()
	return nil
}

func decodeExemplar(b []byte) (Exemplar, error) {
	var (
		e   Exemplar
		f   field
		err error
		sb  = labels.NewScratchBuilder(2)
	)
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return e, err
		}
		switch {
		case f.num == 1 && f.isBytes():
			if err := decodeLabel(f.b, &sb); err != nil {
				return e, err
			}
		case f.num == 2:
			e.V = f.float()
		case f.num == 3:
			e.T = f.int64()
		}
	}
	e.Labels = sb.Labels()
	return e, nil
}

func appendPushResult(b []byte, r PushResult) []byte {
	b = appendVarintField(b, 1, uint64(r.Samples))
	b = appendVarintField(b, 2, uint64(r.Histograms))
	return appendVarintField(b, 3, uint64(r.Exemplars))
}

func decodePushResult(b []byte) (PushResult, error) {
	var (
		r   PushResult
		f   field
		err error
	)
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return r, err
		}
		switch f.num {
		case 1:
			r.Samples = int(f.u)
		case 2:
			r.Histograms = int(f.u)
		case 3:
			r.Exemplars = int(f.u)
		}
	}
	return r, nil
}

// ---- Matchers and hints ----

// appendMatchers appends ms as repeated LabelMatcher{1: type, 2: name,
// 3: value} of field num; the types are numbered as labels.MatchType.
func appendMatchers(b []byte, num protowire.Number, ms []*labels.Matcher) []byte {
	for _, m := range ms {
		var s int
		b, s = beginMsg(b, num)
		b = appendVarintField(b, 1, uint64(m.Type))
		b = appendStringField(b, 2, m.Name)
		b = appendStringField(b, 3, m.Value)
		b = endMsg(b, s)
	}
	return b
}

func decodeMatcher(b []byte) (*labels.Matcher, error) {
	var (
		t           labels.MatchType
		name, value string
		f           field
		err         error
	)
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return nil, err
		}
		switch {
		case f.num == 1 && f.isVarint():
			if f.u > uint64(labels.MatchNotRegexp) {
				return nil, fmt.Errorf("unknown matcher type %d", f.u)
			}
			t = labels.MatchType(f.u)
		case f.num == 2 && f.isBytes():
			name = string(f.b)
		case f.num == 3 && f.isBytes():
			value = string(f.b)
		}
	}
	return labels.NewMatcher(t, name, value)
}

// appendSelectHints encodes h as remote read's ReadHints (1-7) with weft's
// additions (8-13).
func appendSelectHints(b []byte, h *storage.SelectHints) []byte {
	b = appendInt64Field(b, 1, h.Step)
	b = appendStringField(b, 2, h.Func)
	b = appendInt64Field(b, 3, h.Start)
	b = appendInt64Field(b, 4, h.End)
	b = appendRepeatedString(b, 5, h.Grouping)
	b = appendBoolField(b, 6, h.By)
	b = appendInt64Field(b, 7, h.Range)
	b = appendInt64Field(b, 8, int64(h.Limit))
	b = appendVarintField(b, 9, h.ShardCount)
	b = appendVarintField(b, 10, h.ShardIndex)
	b = appendBoolField(b, 11, h.DisableTrimming)
	b = appendRepeatedString(b, 12, h.ProjectionLabels)
	return appendBoolField(b, 13, h.ProjectionInclude)
}

func decodeSelectHints(b []byte) (*storage.SelectHints, error) {
	var (
		h   storage.SelectHints
		f   field
		err error
	)
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			h.Step = f.int64()
		case 2:
			h.Func = string(f.b)
		case 3:
			h.Start = f.int64()
		case 4:
			h.End = f.int64()
		case 5:
			h.Grouping = append(h.Grouping, string(f.b))
		case 6:
			h.By = f.u != 0
		case 7:
			h.Range = f.int64()
		case 8:
			h.Limit = int(f.int64())
		case 9:
			h.ShardCount = f.u
		case 10:
			h.ShardIndex = f.u
		case 11:
			h.DisableTrimming = f.u != 0
		case 12:
			h.ProjectionLabels = append(h.ProjectionLabels, string(f.b))
		case 13:
			h.ProjectionInclude = f.u != 0
		}
	}
	return &h, nil
}

// ---- Select ----

// selectRequest is remote read's Query (1-4) with sort_series (14) and the
// tenant (15).
type selectRequest struct {
	tenant     string
	mint, maxt int64
	matchers   []*labels.Matcher
	hints      *storage.SelectHints
	sort       bool
}

func appendSelectRequest(b []byte, r *selectRequest) []byte {
	b = appendStringField(b, fieldTenant, r.tenant)
	b = appendInt64Field(b, 1, r.mint)
	b = appendInt64Field(b, 2, r.maxt)
	b = appendMatchers(b, 3, r.matchers)
	if r.hints != nil {
		var m int
		b, m = beginMsg(b, 4)
		b = appendSelectHints(b, r.hints)
		b = endMsg(b, m)
	}
	return appendBoolField(b, 14, r.sort)
}

func decodeSelectRequest(b []byte) (*selectRequest, error) {
	var (
		r   selectRequest
		f   field
		err error
	)
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return nil, err
		}
		switch f.num {
		case fieldTenant:
			r.tenant = string(f.b)
		case 1:
			r.mint = f.int64()
		case 2:
			r.maxt = f.int64()
		case 3:
			m, err := decodeMatcher(f.b)
			if err != nil {
				return nil, err
			}
			r.matchers = append(r.matchers, m)
		case 4:
			if r.hints, err = decodeSelectHints(f.b); err != nil {
				return nil, err
			}
		case 14:
			r.sort = f.u != 0
		}
	}
	return &r, nil
}

// ---- LabelNames, LabelValues ----

// labelsRequest asks for label names (name empty) or the values of name.
type labelsRequest struct {
	tenant     string
	mint, maxt int64
	matchers   []*labels.Matcher
	name       string
	hints      *storage.LabelHints
}

func appendLabelsRequest(b []byte, r *labelsRequest) []byte {
	b = appendStringField(b, fieldTenant, r.tenant)
	b = appendInt64Field(b, 1, r.mint)
	b = appendInt64Field(b, 2, r.maxt)
	b = appendMatchers(b, 3, r.matchers)
	b = appendStringField(b, 4, r.name)
	if r.hints != nil {
		b = appendInt64Field(b, 5, int64(r.hints.Limit))
		b = appendBoolField(b, 6, r.hints.LimitSmallest)
	}
	return b
}

func decodeLabelsRequest(b []byte) (*labelsRequest, error) {
	var (
		r   labelsRequest
		h   storage.LabelHints
		f   field
		err error
	)
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return nil, err
		}
		switch f.num {
		case fieldTenant:
			r.tenant = string(f.b)
		case 1:
			r.mint = f.int64()
		case 2:
			r.maxt = f.int64()
		case 3:
			m, err := decodeMatcher(f.b)
			if err != nil {
				return nil, err
			}
			r.matchers = append(r.matchers, m)
		case 4:
			r.name = string(f.b)
		case 5:
			h.Limit = int(f.int64())
		case 6:
			h.LimitSmallest = f.u != 0
		}
	}
	if h != (storage.LabelHints{}) {
		r.hints = &h
	}
	return &r, nil
}

// ---- Metadata ----

func appendMetadataRequest(b []byte, tenant, metric string, limit int) []byte {
	b = appendStringField(b, fieldTenant, tenant)
	b = appendStringField(b, 1, metric)
	return appendInt64Field(b, 2, int64(limit))
}

func decodeMetadataRequest(b []byte) (tenant, metric string, limit int, err error) {
	var f field
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return "", "", 0, err
		}
		switch f.num {
		case fieldTenant:
			tenant = string(f.b)
		case 1:
			metric = string(f.b)
		case 2:
			limit = int(f.int64())
		}
	}
	return tenant, metric, limit, nil
}

// ---- Exemplars ----

type exemplarsRequest struct {
	tenant     string
	start, end int64
	matchers   [][]*labels.Matcher
}

func appendExemplarsRequest(b []byte, r *exemplarsRequest) []byte {
	b = appendStringField(b, fieldTenant, r.tenant)
	b = appendInt64Field(b, 1, r.start)
	b = appendInt64Field(b, 2, r.end)
	for _, ms := range r.matchers {
		var m int
		b, m = beginMsg(b, 3)
		b = appendMatchers(b, 1, ms)
		b = endMsg(b, m)
	}
	return b
}

func decodeExemplarsRequest(b []byte) (*exemplarsRequest, error) {
	var (
		r   exemplarsRequest
		f   field
		err error
	)
	for len(b) > 0 {
		if b, err = nextField(b, &f); err != nil {
			return nil, err
		}
		switch f.num {
		case fieldTenant:
			r.tenant = string(f.b)
		case 1:
			r.start = f.int64()
		case 2:
			r.end = f.int64()
		case 3:
			var ms []*labels.Matcher
			var g field
			for m := f.b; len(m) > 0; {
				if m, err = nextField(m, &g); err != nil {
					return nil, err
				}
				if g.num != 1 {
					continue
				}
				mt, err := decodeMatcher(g.b)
				if err != nil {
					return nil, err
				}
				ms = append(ms, mt)
			}
			r.matchers = append(r.matchers, ms)
		}
	}
	return &r, nil
}
