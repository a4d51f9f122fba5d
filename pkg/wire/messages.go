package wire

import (
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
)

// Field numbers shared by every request.
const fieldTenant protowire.Number = 15

// ---- Push ----

// appendPushRequest encodes req as a remote-write 1.0 WriteRequest with the
// tenant in field 15 and start timestamps where remote write 2.0 has them
// (Sample field 3, Histogram field 17).
func appendPushRequest(b []byte, tenant string, req *PushRequest) []byte {
	b = protocodec.AppendStringField(b, fieldTenant, tenant)
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
	b, ms = protocodec.BeginMessage(b, 1)
	b = protocodec.AppendLabels(b, 1, s.Labels)
	for _, smp := range s.Samples {
		var m int
		b, m = protocodec.BeginMessage(b, 2)
		b = protocodec.AppendDoubleField(b, 1, smp.V)
		b = protocodec.AppendInt64Field(b, 2, smp.T)
		b = protocodec.AppendInt64Field(b, 3, smp.ST)
		b = protocodec.EndMessage(b, m)
	}
	for _, e := range s.Exemplars {
		var m int
		b, m = protocodec.BeginMessage(b, 3)
		b = protocodec.AppendLabels(b, 1, e.Labels)
		b = protocodec.AppendDoubleField(b, 2, e.V)
		b = protocodec.AppendInt64Field(b, 3, e.T)
		b = protocodec.EndMessage(b, m)
	}
	for j := range s.Histograms {
		var m int
		b, m = protocodec.BeginMessage(b, 4)
		b = appendHistogram(b, &s.Histograms[j])
		b = protocodec.EndMessage(b, m)
	}
	b = protocodec.EndMessage(b, ms)
	return b
}

// AppendMetadataMessage appends m as one metadata entry of a push message.
func AppendMetadataMessage(b []byte, m *Metadata) []byte {
	var pos int
	b, pos = protocodec.BeginMessage(b, 3)
	b = appendMetadata(b, m)
	return protocodec.EndMessage(b, pos)
}

// appendMetadata encodes m as a MetricMetadata; a type that has no number
// travels as a string in field 15.
func appendMetadata(b []byte, m *Metadata) []byte {
	t, known := protocodec.MetricTypeNumber(m.Type)
	if known {
		b = protocodec.AppendVarintField(b, 1, uint64(t))
	}
	b = protocodec.AppendStringField(b, 2, m.MetricFamily)
	b = protocodec.AppendStringField(b, 4, m.Help)
	b = protocodec.AppendStringField(b, 5, m.Unit)
	if !known {
		b = protocodec.AppendStringField(b, 15, m.Type)
	}
	return b
}

func decodeMetadata(b []byte, m *Metadata) error {
	md, err := protocodec.DecodeMetricMetadata(b)
	if err != nil {
		return err
	}
	*m = Metadata{
		MetricFamily: string(md.FamilyName),
		Type:         protocodec.MetricTypeName(md.Type),
		Help:         string(md.Help),
		Unit:         string(md.Unit),
	}
	if md.TypeName != nil {
		m.Type = string(md.TypeName)
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
		b = protocodec.AppendTag(b, 1, protowire.VarintType)
		b = protocodec.AppendVarint(b, x.Count)
		schema, zeroThreshold, sum, hint, pos, neg, custom = x.Schema, x.ZeroThreshold, x.Sum, x.CounterResetHint, x.PositiveSpans, x.NegativeSpans, x.CustomValues
		b = protocodec.AppendDoubleField(b, 3, sum)
		b = protocodec.AppendSint64Field(b, 4, int64(schema))
		b = protocodec.AppendDoubleField(b, 5, zeroThreshold)
		b = protocodec.AppendTag(b, 6, protowire.VarintType)
		b = protocodec.AppendVarint(b, x.ZeroCount)
		b = appendSpans(b, 8, neg)
		b = protocodec.AppendPackedSint64(b, 9, x.NegativeBuckets)
		b = appendSpans(b, 11, pos)
		b = protocodec.AppendPackedSint64(b, 12, x.PositiveBuckets)
	case h.FH != nil:
		x := h.FH
		b = protocodec.AppendTag(b, 2, protowire.Fixed64Type)
		b = protocodec.AppendFixed64(b, math.Float64bits(x.Count))
		schema, zeroThreshold, sum, hint, pos, neg, custom = x.Schema, x.ZeroThreshold, x.Sum, x.CounterResetHint, x.PositiveSpans, x.NegativeSpans, x.CustomValues
		b = protocodec.AppendDoubleField(b, 3, sum)
		b = protocodec.AppendSint64Field(b, 4, int64(schema))
		b = protocodec.AppendDoubleField(b, 5, zeroThreshold)
		b = protocodec.AppendTag(b, 7, protowire.Fixed64Type)
		b = protocodec.AppendFixed64(b, math.Float64bits(x.ZeroCount))
		b = appendSpans(b, 8, neg)
		b = protocodec.AppendPackedDouble(b, 10, x.NegativeBuckets)
		b = appendSpans(b, 11, pos)
		b = protocodec.AppendPackedDouble(b, 13, x.PositiveBuckets)
	}
	b = protocodec.AppendVarintField(b, 14, uint64(hint))
	b = protocodec.AppendInt64Field(b, 15, h.T)
	b = protocodec.AppendPackedDouble(b, 16, custom)
	b = protocodec.AppendInt64Field(b, 17, h.ST)
	return b
}

func appendSpans(b []byte, num protowire.Number, spans []histogram.Span) []byte {
	for _, s := range spans {
		var m int
		b, m = protocodec.BeginMessage(b, num)
		b = protocodec.AppendSint64Field(b, 1, int64(s.Offset))
		b = protocodec.AppendVarintField(b, 2, uint64(s.Length))
		b = protocodec.EndMessage(b, m)
	}
	return b
}

// decodePushRequest decodes b into req (reusing its slices) and returns the
// tenant. Series are decoded by d, with start timestamps and with span
// lists left nil when absent, exactly as they were sent; labels are built
// freshly and nothing in req refers to b once decodePushRequest returns.
//
// TimeSeries field 15, a series-wide created timestamp sent by distributors
// older than per-sample start timestamps, is skipped as an unknown field: it
// was only the first start timestamp of the request, wrong for every later
// sample of a delta series, and ingesters of that time never stored it
// either.
func decodePushRequest(b []byte, req *PushRequest, d *protocodec.SeriesDecoder) (string, error) {
	var (
		tenant string
		f      protocodec.Field
		err    error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return "", err
		}
		switch {
		case f.Num == fieldTenant && f.IsBytes():
			tenant = string(f.B)
		case f.Num == 1 && f.IsBytes():
			n := len(req.Series)
			if err := d.DecodeSeries(protocodec.NextSeries(&req.Series), f.B); err != nil {
				return "", fmt.Errorf("series %d: %w", n, err)
			}
		case f.Num == 3 && f.IsBytes():
			var m Metadata
			if err := decodeMetadata(f.B, &m); err != nil {
				return "", err
			}
			req.Metadata = append(req.Metadata, m)
		}
	}
	return tenant, nil
}

// newPushDecoder returns the SeriesDecoder that decodePushRequest needs.
func newPushDecoder() *protocodec.SeriesDecoder {
	return protocodec.NewSeriesDecoder(protocodec.SeriesOptions{StartTimestamps: true})
}

func appendPushResult(b []byte, r PushResult) []byte {
	b = protocodec.AppendVarintField(b, 1, uint64(r.Samples))
	b = protocodec.AppendVarintField(b, 2, uint64(r.Histograms))
	return protocodec.AppendVarintField(b, 3, uint64(r.Exemplars))
}

func decodePushResult(b []byte) (PushResult, error) {
	var (
		r   PushResult
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return r, err
		}
		switch f.Num {
		case 1:
			r.Samples = int(f.U)
		case 2:
			r.Histograms = int(f.U)
		case 3:
			r.Exemplars = int(f.U)
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
		b, s = protocodec.BeginMessage(b, num)
		b = protocodec.AppendVarintField(b, 1, uint64(m.Type))
		b = protocodec.AppendStringField(b, 2, m.Name)
		b = protocodec.AppendStringField(b, 3, m.Value)
		b = protocodec.EndMessage(b, s)
	}
	return b
}

func decodeMatcher(b []byte) (*labels.Matcher, error) {
	var (
		t           labels.MatchType
		name, value string
		f           protocodec.Field
		err         error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, err
		}
		switch {
		case f.Num == 1 && f.IsVarint():
			if f.U > uint64(labels.MatchNotRegexp) {
				return nil, fmt.Errorf("unknown matcher type %d", f.U)
			}
			t = labels.MatchType(f.U)
		case f.Num == 2 && f.IsBytes():
			name = string(f.B)
		case f.Num == 3 && f.IsBytes():
			value = string(f.B)
		}
	}
	return labels.NewMatcher(t, name, value)
}

// appendSelectHints encodes h as remote read's ReadHints (1-7) with weft's
// additions (8-13).
func appendSelectHints(b []byte, h *storage.SelectHints) []byte {
	b = protocodec.AppendInt64Field(b, 1, h.Step)
	b = protocodec.AppendStringField(b, 2, h.Func)
	b = protocodec.AppendInt64Field(b, 3, h.Start)
	b = protocodec.AppendInt64Field(b, 4, h.End)
	b = protocodec.AppendRepeatedString(b, 5, h.Grouping)
	b = protocodec.AppendBoolField(b, 6, h.By)
	b = protocodec.AppendInt64Field(b, 7, h.Range)
	b = protocodec.AppendInt64Field(b, 8, int64(h.Limit))
	b = protocodec.AppendVarintField(b, 9, h.ShardCount)
	b = protocodec.AppendVarintField(b, 10, h.ShardIndex)
	b = protocodec.AppendBoolField(b, 11, h.DisableTrimming)
	b = protocodec.AppendRepeatedString(b, 12, h.ProjectionLabels)
	return protocodec.AppendBoolField(b, 13, h.ProjectionInclude)
}

func decodeSelectHints(b []byte) (*storage.SelectHints, error) {
	var (
		h   storage.SelectHints
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, err
		}
		switch f.Num {
		case 1:
			h.Step = f.Int64()
		case 2:
			h.Func = string(f.B)
		case 3:
			h.Start = f.Int64()
		case 4:
			h.End = f.Int64()
		case 5:
			h.Grouping = append(h.Grouping, string(f.B))
		case 6:
			h.By = f.U != 0
		case 7:
			h.Range = f.Int64()
		case 8:
			h.Limit = int(f.Int64())
		case 9:
			h.ShardCount = f.U
		case 10:
			h.ShardIndex = f.U
		case 11:
			h.DisableTrimming = f.U != 0
		case 12:
			h.ProjectionLabels = append(h.ProjectionLabels, string(f.B))
		case 13:
			h.ProjectionInclude = f.U != 0
		}
	}
	return &h, nil
}

// ---- Select ----

// Fields of a Select request and stream that carry a query shard (see
// docs/wire-protocol.md, "Query shards"). The shard travels in fields of
// its own, not in the hints' 9 and 10: a server of an older build passes
// those to its TSDB, whose head refuses shards unless sharding was enabled,
// while it skips unknown fields and answers every series, which the client
// then filters itself.
const (
	fieldSelectShardIndex protowire.Number = 16 // in a SelectRequest
	fieldSelectShardCount protowire.Number = 17 // in a SelectRequest
	fieldSelectSharded    protowire.Number = 16 // in the first Select stream message
)

// selectRequest is remote read's Query (1-4) with sort_series (14) and the
// tenant (15); the hints' shard goes in fields 16 and 17.
type selectRequest struct {
	tenant     string
	mint, maxt int64
	matchers   []*labels.Matcher
	hints      *storage.SelectHints
	sort       bool
}

func appendSelectRequest(b []byte, r *selectRequest) []byte {
	b = protocodec.AppendStringField(b, fieldTenant, r.tenant)
	b = protocodec.AppendInt64Field(b, 1, r.mint)
	b = protocodec.AppendInt64Field(b, 2, r.maxt)
	b = appendMatchers(b, 3, r.matchers)
	if r.hints != nil {
		h := *r.hints
		h.ShardIndex, h.ShardCount = 0, 0
		var m int
		b, m = protocodec.BeginMessage(b, 4)
		b = appendSelectHints(b, &h)
		b = protocodec.EndMessage(b, m)
		if r.hints.ShardCount > 0 {
			b = protocodec.AppendTag(b, fieldSelectShardIndex, protowire.VarintType)
			b = protocodec.AppendVarint(b, r.hints.ShardIndex)
			b = protocodec.AppendVarintField(b, fieldSelectShardCount, r.hints.ShardCount)
		}
	}
	return protocodec.AppendBoolField(b, 14, r.sort)
}

func decodeSelectRequest(b []byte) (*selectRequest, error) {
	var (
		r                      selectRequest
		f                      protocodec.Field
		err                    error
		shardIndex, shardCount uint64
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, err
		}
		switch f.Num {
		case fieldTenant:
			r.tenant = string(f.B)
		case 1:
			r.mint = f.Int64()
		case 2:
			r.maxt = f.Int64()
		case 3:
			m, err := decodeMatcher(f.B)
			if err != nil {
				return nil, err
			}
			r.matchers = append(r.matchers, m)
		case 4:
			if r.hints, err = decodeSelectHints(f.B); err != nil {
				return nil, err
			}
		case 14:
			r.sort = f.U != 0
		case fieldSelectShardIndex:
			shardIndex = f.U
		case fieldSelectShardCount:
			shardCount = f.U
		}
	}
	if shardCount > 0 {
		if shardIndex >= shardCount {
			return nil, fmt.Errorf("shard index %d of %d shards", shardIndex, shardCount)
		}
		if r.hints == nil {
			r.hints = &storage.SelectHints{Start: r.mint, End: r.maxt}
		}
		r.hints.ShardIndex, r.hints.ShardCount = shardIndex, shardCount
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
	b = protocodec.AppendStringField(b, fieldTenant, r.tenant)
	b = protocodec.AppendInt64Field(b, 1, r.mint)
	b = protocodec.AppendInt64Field(b, 2, r.maxt)
	b = appendMatchers(b, 3, r.matchers)
	b = protocodec.AppendStringField(b, 4, r.name)
	if r.hints != nil {
		b = protocodec.AppendInt64Field(b, 5, int64(r.hints.Limit))
		b = protocodec.AppendBoolField(b, 6, r.hints.LimitSmallest)
	}
	return b
}

func decodeLabelsRequest(b []byte) (*labelsRequest, error) {
	var (
		r   labelsRequest
		h   storage.LabelHints
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, err
		}
		switch f.Num {
		case fieldTenant:
			r.tenant = string(f.B)
		case 1:
			r.mint = f.Int64()
		case 2:
			r.maxt = f.Int64()
		case 3:
			m, err := decodeMatcher(f.B)
			if err != nil {
				return nil, err
			}
			r.matchers = append(r.matchers, m)
		case 4:
			r.name = string(f.B)
		case 5:
			h.Limit = int(f.Int64())
		case 6:
			h.LimitSmallest = f.U != 0
		}
	}
	if h != (storage.LabelHints{}) {
		r.hints = &h
	}
	return &r, nil
}

// ---- Metadata ----

func appendMetadataRequest(b []byte, tenant, metric string, limit int) []byte {
	b = protocodec.AppendStringField(b, fieldTenant, tenant)
	b = protocodec.AppendStringField(b, 1, metric)
	return protocodec.AppendInt64Field(b, 2, int64(limit))
}

func decodeMetadataRequest(b []byte) (tenant, metric string, limit int, err error) {
	var f protocodec.Field
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return "", "", 0, err
		}
		switch f.Num {
		case fieldTenant:
			tenant = string(f.B)
		case 1:
			metric = string(f.B)
		case 2:
			limit = int(f.Int64())
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
	b = protocodec.AppendStringField(b, fieldTenant, r.tenant)
	b = protocodec.AppendInt64Field(b, 1, r.start)
	b = protocodec.AppendInt64Field(b, 2, r.end)
	for _, ms := range r.matchers {
		var m int
		b, m = protocodec.BeginMessage(b, 3)
		b = appendMatchers(b, 1, ms)
		b = protocodec.EndMessage(b, m)
	}
	return b
}

func decodeExemplarsRequest(b []byte) (*exemplarsRequest, error) {
	var (
		r   exemplarsRequest
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, err
		}
		switch f.Num {
		case fieldTenant:
			r.tenant = string(f.B)
		case 1:
			r.start = f.Int64()
		case 2:
			r.end = f.Int64()
		case 3:
			var ms []*labels.Matcher
			var g protocodec.Field
			for m := f.B; len(m) > 0; {
				if m, err = protocodec.NextField(m, &g); err != nil {
					return nil, err
				}
				if g.Num != 1 {
					continue
				}
				mt, err := decodeMatcher(g.B)
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
