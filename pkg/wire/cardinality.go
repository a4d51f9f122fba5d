package wire

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
)

// CardinalityReader counts a tenant's in-memory series (the TSDB head of
// an ingester): the answers of /api/v1/status/tsdb and of the cardinality
// API. Each answer is one store's own count; a reader over replicas
// (the querier's RingReader) combines them into the counts of one copy.
type CardinalityReader interface {
	// TSDBStatus returns the head statistics of the tenant with the
	// top limit entries of each list, as Prometheus' /status/tsdb.
	TSDBStatus(ctx context.Context, tenant string, limit int) (*TSDBStatus, error)
	// LabelCardinality counts the tenant's head series that match
	// req.Matchers by label name or by label value (see
	// CardinalityRequest).
	LabelCardinality(ctx context.Context, tenant string, req *CardinalityRequest) (*LabelCardinality, error)
}

// Stat is one entry of a list of counts: a name (a metric name, a label
// name, a label value, or a "name=value" pair) and its count.
type Stat struct {
	Name  string
	Value uint64
}

// TSDBStatus is a tenant's head statistics, as Prometheus' tsdb.Stats
// with its index.PostingsStats. An empty head has MinTime > MaxTime.
type TSDBStatus struct {
	NumSeries     uint64
	NumLabelPairs uint64
	ChunkCount    uint64
	MinTime       int64
	MaxTime       int64

	SeriesCountByMetricName     []Stat
	LabelValueCountByLabelName  []Stat
	MemoryInBytesByLabelName    []Stat
	SeriesCountByLabelValuePair []Stat
}

// CardinalityRequest asks for one of two counts over the head series that
// match Matchers (all series without matchers):
//   - without LabelNames, every label name with the hashes of its distinct
//     values (/cardinality/label_names): hashes, not values, so that a
//     reader over replicas that each hold part of the series can count the
//     union of the values exactly, at 8 bytes a value;
//   - with LabelNames, each of those names with the number of series of
//     each of its values (/cardinality/label_values).
type CardinalityRequest struct {
	Matchers   []*labels.Matcher
	LabelNames []string
}

// LabelCardinality answers a CardinalityRequest.
type LabelCardinality struct {
	// SeriesCount is the number of series that match the matchers.
	SeriesCount uint64
	Labels      []LabelStats
}

// LabelStats are the counts of one label name.
type LabelStats struct {
	Name string
	// SeriesCount is the number of series that have the label (label
	// values only).
	SeriesCount uint64
	// ValueHashes are the xxhash64 of its distinct values, in no order
	// (label names only).
	ValueHashes []uint64
	// Values are its values with the number of series of each (label
	// values only).
	Values []Stat
}

// ---- Client ----

// TSDBStatus implements CardinalityReader. A server of an older build
// answers Unimplemented; there is no legacy name.
func (c *StoreClient) TSDBStatus(ctx context.Context, tenant string, limit int) (*TSDBStatus, error) {
	out := newOutMsg()
	b := protocodec.AppendStringField(*out.b, fieldTenant, tenant)
	b = protocodec.AppendInt64Field(b, 1, int64(limit))
	*out.b = appendStoreName(b, c.store)
	resp, err := c.invoke(ctx, methodTSDBStatus, out)
	if _, err := c.rpcError(ctx, err); err != nil {
		return nil, err
	}
	s, err := decodeTSDBStatus(resp)
	if err != nil {
		return nil, fmt.Errorf("cannot decode TSDB status response of %s: %w", c.conn.Target(), err)
	}
	return s, nil
}

// LabelCardinality implements CardinalityReader.
func (c *StoreClient) LabelCardinality(ctx context.Context, tenant string, req *CardinalityRequest) (*LabelCardinality, error) {
	out := newOutMsg()
	*out.b = appendStoreName(appendCardinalityRequest(*out.b, tenant, req), c.store)
	resp, err := c.invoke(ctx, methodLabelCardinality, out)
	if _, err := c.rpcError(ctx, err); err != nil {
		return nil, err
	}
	lc, err := decodeLabelCardinality(resp)
	if err != nil {
		return nil, fmt.Errorf("cannot decode label cardinality response of %s: %w", c.conn.Target(), err)
	}
	return lc, nil
}

var _ CardinalityReader = (*StoreClient)(nil)

// ---- Server ----

// cardinalityReader returns the store of a request as a
// CardinalityReader, or an error when it counts nothing (a
// store-gateway).
func (s *storeServer) cardinalityReader(req []byte) (CardinalityReader, error) {
	st, err := s.store(req)
	if err != nil {
		return nil, err
	}
	cr, ok := st.(CardinalityReader)
	if !ok {
		return nil, statusError(Errorf(KindBadData, "", "cannot count series: this store keeps no in-memory series"), PushResult{})
	}
	return cr, nil
}

func (s *storeServer) tsdbStatus(ctx context.Context, in *inMsg) (*outMsg, error) {
	var (
		tenant string
		limit  int
		f      protocodec.Field
		err    error
	)
	for b := in.b; len(b) > 0; {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, errDecode("TSDB status", err)
		}
		switch f.Num {
		case fieldTenant:
			tenant = string(f.B)
		case 1:
			limit = int(f.Int64())
		}
	}
	if tenant == "" {
		return nil, errNoTenant()
	}
	cr, err := s.cardinalityReader(in.b)
	if err != nil {
		return nil, err
	}
	st, err := cr.TSDBStatus(ctx, tenant, limit)
	if err != nil {
		return nil, statusError(err, PushResult{})
	}
	out := newOutMsg()
	*out.b = appendTSDBStatus(*out.b, st)
	return out, nil
}

func (s *storeServer) labelCardinality(ctx context.Context, in *inMsg) (*outMsg, error) {
	tenant, req, err := decodeCardinalityRequest(in.b)
	if err != nil {
		return nil, errDecode("label cardinality", err)
	}
	if tenant == "" {
		return nil, errNoTenant()
	}
	cr, err := s.cardinalityReader(in.b)
	if err != nil {
		return nil, err
	}
	lc, err := cr.LabelCardinality(ctx, tenant, req)
	if err != nil {
		return nil, statusError(err, PushResult{})
	}
	out := newOutMsg()
	*out.b = appendLabelCardinality(*out.b, lc)
	return out, nil
}

// ---- Messages ----

// Stat = {1: name, 2: value}.
func appendStats(b []byte, num protowire.Number, stats []Stat) []byte {
	for _, s := range stats {
		var m int
		b, m = protocodec.BeginMessage(b, num)
		b = protocodec.AppendStringField(b, 1, s.Name)
		b = protocodec.AppendVarintField(b, 2, s.Value)
		b = protocodec.EndMessage(b, m)
	}
	return b
}

func decodeStat(b []byte) (Stat, error) {
	var (
		s   Stat
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return s, err
		}
		switch f.Num {
		case 1:
			s.Name = string(f.B)
		case 2:
			s.Value = f.U
		}
	}
	return s, nil
}

// TSDBStatus = {1: num_series, 2: num_label_pairs, 3: chunk_count,
// 4: min_time, 5: max_time, 6..9: repeated Stat of the series by metric
// name, the values by label name, the bytes by label name and the series
// by label pair}.
func appendTSDBStatus(b []byte, s *TSDBStatus) []byte {
	b = protocodec.AppendVarintField(b, 1, s.NumSeries)
	b = protocodec.AppendVarintField(b, 2, s.NumLabelPairs)
	b = protocodec.AppendVarintField(b, 3, s.ChunkCount)
	b = protocodec.AppendInt64Field(b, 4, s.MinTime)
	b = protocodec.AppendInt64Field(b, 5, s.MaxTime)
	b = appendStats(b, 6, s.SeriesCountByMetricName)
	b = appendStats(b, 7, s.LabelValueCountByLabelName)
	b = appendStats(b, 8, s.MemoryInBytesByLabelName)
	return appendStats(b, 9, s.SeriesCountByLabelValuePair)
}

func decodeTSDBStatus(b []byte) (*TSDBStatus, error) {
	var (
		s   TSDBStatus
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, err
		}
		var list *[]Stat
		switch f.Num {
		case 1:
			s.NumSeries = f.U
		case 2:
			s.NumLabelPairs = f.U
		case 3:
			s.ChunkCount = f.U
		case 4:
			s.MinTime = f.Int64()
		case 5:
			s.MaxTime = f.Int64()
		case 6:
			list = &s.SeriesCountByMetricName
		case 7:
			list = &s.LabelValueCountByLabelName
		case 8:
			list = &s.MemoryInBytesByLabelName
		case 9:
			list = &s.SeriesCountByLabelValuePair
		}
		if list != nil && f.IsBytes() {
			st, err := decodeStat(f.B)
			if err != nil {
				return nil, err
			}
			*list = append(*list, st)
		}
	}
	return &s, nil
}

// CardinalityRequest = {15: tenant, 13: store, 1: repeated LabelMatcher,
// 2: repeated label name}.
func appendCardinalityRequest(b []byte, tenant string, r *CardinalityRequest) []byte {
	b = protocodec.AppendStringField(b, fieldTenant, tenant)
	b = appendMatchers(b, 1, r.Matchers)
	return protocodec.AppendRepeatedString(b, 2, r.LabelNames)
}

func decodeCardinalityRequest(b []byte) (string, *CardinalityRequest, error) {
	var (
		tenant string
		r      CardinalityRequest
		f      protocodec.Field
		err    error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return "", nil, err
		}
		switch {
		case f.Num == fieldTenant:
			tenant = string(f.B)
		case f.Num == 1 && f.IsBytes():
			m, err := decodeMatcher(f.B)
			if err != nil {
				return "", nil, err
			}
			r.Matchers = append(r.Matchers, m)
		case f.Num == 2 && f.IsBytes():
			r.LabelNames = append(r.LabelNames, string(f.B))
		}
	}
	return tenant, &r, nil
}

// LabelCardinality = {1: series_count, 2: repeated LabelStats{1: name,
// 2: series_count, 3: packed fixed64 value hashes, 4: repeated Stat of the
// series by value}}.
func appendLabelCardinality(b []byte, lc *LabelCardinality) []byte {
	b = protocodec.AppendVarintField(b, 1, lc.SeriesCount)
	for i := range lc.Labels {
		l := &lc.Labels[i]
		var m int
		b, m = protocodec.BeginMessage(b, 2)
		b = protocodec.AppendStringField(b, 1, l.Name)
		b = protocodec.AppendVarintField(b, 2, l.SeriesCount)
		if len(l.ValueHashes) > 0 {
			b = protocodec.AppendTag(b, 3, protowire.BytesType)
			b = protocodec.AppendVarint(b, uint64(8*len(l.ValueHashes)))
			for _, h := range l.ValueHashes {
				b = protocodec.AppendFixed64(b, h)
			}
		}
		b = appendStats(b, 4, l.Values)
		b = protocodec.EndMessage(b, m)
	}
	return b
}

func decodeLabelCardinality(b []byte) (*LabelCardinality, error) {
	var (
		lc  LabelCardinality
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, err
		}
		switch {
		case f.Num == 1:
			lc.SeriesCount = f.U
		case f.Num == 2 && f.IsBytes():
			l, err := decodeLabelStats(f.B)
			if err != nil {
				return nil, err
			}
			lc.Labels = append(lc.Labels, l)
		}
	}
	return &lc, nil
}

func decodeLabelStats(b []byte) (LabelStats, error) {
	var (
		l   LabelStats
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return l, err
		}
		switch {
		case f.Num == 1:
			l.Name = string(f.B)
		case f.Num == 2:
			l.SeriesCount = f.U
		case f.Num == 3 && f.IsBytes():
			if len(f.B)%8 != 0 {
				return l, fmt.Errorf("packed value hashes of %d bytes", len(f.B))
			}
			if l.ValueHashes == nil {
				l.ValueHashes = make([]uint64, 0, len(f.B)/8)
			}
			for i := 0; i < len(f.B); {
				var h uint64
				if h, i, err = protocodec.ConsumeFixed64(f.B, i); err != nil {
					return l, err
				}
				l.ValueHashes = append(l.ValueHashes, h)
			}
		case f.Num == 4 && f.IsBytes():
			s, err := decodeStat(f.B)
			if err != nil {
				return l, err
			}
			l.Values = append(l.Values, s)
		}
	}
	return l, nil
}
