package querysharding

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// ShardLabel is the name of the matcher that asks a selector for one shard
// of its series: __query_shard__="<i>_of_<n>", i from 1 to n. It is no label
// of any series: a querier removes it from the selector and selects the
// shard through storage.SelectHints instead (SelectShard).
const ShardLabel = "__query_shard__"

// ShardMatcher returns the matcher that selects shard index (0-based) of
// count; its value is 1-based, as people read it.
func ShardMatcher(index, count int) *labels.Matcher {
	return labels.MustNewMatcher(labels.MatchEqual, ShardLabel, FormatShard(index, count))
}

// FormatShard returns the value of ShardLabel for shard index (0-based) of
// count: "<index+1>_of_<count>".
func FormatShard(index, count int) string {
	return strconv.Itoa(index+1) + "_of_" + strconv.Itoa(count)
}

// ParseShard parses a value of ShardLabel into the 0-based index and the
// count that storage.SelectHints take.
func ParseShard(v string) (index, count uint64, err error) {
	i, n, ok := strings.Cut(v, "_of_")
	if ok {
		index, err = strconv.ParseUint(i, 10, 64)
		if err == nil {
			count, err = strconv.ParseUint(n, 10, 64)
		}
	}
	if !ok || err != nil || index < 1 || index > count {
		return 0, 0, fmt.Errorf("cannot parse query shard %q: want <i>_of_<n> with 1 <= i <= n", v)
	}
	return index - 1, count, nil
}

// SelectShard removes a ShardLabel matcher from ms and returns the hints
// that select its shard, a copy of hints (or, when hints is nil, hints for
// [mint, maxt], the querier's range, since a store reads the hints' range
// when there are hints). Without a ShardLabel matcher it returns hints and
// ms as they are. A malformed shard, or one that is not an equality, is an
// error; two equal ones are one.
func SelectShard(hints *storage.SelectHints, mint, maxt int64, ms []*labels.Matcher) (*storage.SelectHints, []*labels.Matcher, error) {
	at := -1
	for i, m := range ms {
		if m.Name == ShardLabel {
			at = i
			break
		}
	}
	if at < 0 {
		return hints, ms, nil
	}
	var (
		rest         = make([]*labels.Matcher, 0, len(ms)-1)
		index, count uint64
	)
	for _, m := range ms {
		if m.Name != ShardLabel {
			rest = append(rest, m)
			continue
		}
		if m.Type != labels.MatchEqual {
			return nil, nil, fmt.Errorf("cannot select query shard: %s must be matched with =", ShardLabel)
		}
		i, n, err := ParseShard(m.Value)
		if err != nil {
			return nil, nil, err
		}
		if count != 0 && (i != index || n != count) {
			return nil, nil, fmt.Errorf("cannot select query shard: two different shards %s and %s", FormatShard(int(index), int(count)), m.Value)
		}
		index, count = i, n
	}
	h := storage.SelectHints{Start: mint, End: maxt}
	if hints != nil {
		h = *hints
	}
	if h.ShardCount > 0 {
		return nil, nil, fmt.Errorf("cannot select query shard %s: the select is already sharded", FormatShard(int(index), int(count)))
	}
	h.ShardIndex, h.ShardCount = index, count
	return &h, rest, nil
}

// Queryable wraps q so that its selects honour ShardLabel matchers
// (SelectShard); q's stores must select shards by labels.StableHash, as
// Prometheus' TSDB does when its sharding is enabled. The querier does the
// same for weft's stores; tests use it over a TSDB of their own.
func Queryable(q storage.Queryable) storage.Queryable { return shardQueryable{q} }

type shardQueryable struct{ storage.Queryable }

func (q shardQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	qr, err := q.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return shardQuerier{Querier: qr, mint: mint, maxt: maxt}, nil
}

type shardQuerier struct {
	storage.Querier
	mint, maxt int64
}

func (q shardQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	hints, ms, err := SelectShard(hints, q.mint, q.maxt, ms)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return q.Querier.Select(ctx, sortSeries, hints, ms...)
}
