package querier

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/weft-io/weft/pkg/wire"
)

// BlockCheck makes a store reader fail a query, rather than return a silent
// gap, when a block that should cover the query's range was not read by
// any store-gateway.
type BlockCheck struct {
	// Required lists the blocks a query of [mint, maxt] must read.
	Required func(ctx context.Context, tenant string, mint, maxt int64) ([]ulid.ULID, error)
	// Queried extracts the blocks the store reported as read from a
	// result's warnings, and returns the other warnings.
	Queried func(annotations.Annotations) ([]ulid.ULID, annotations.Annotations)
}

// CheckedReader wraps store with the check.
func CheckedReader(store wire.Reader, check BlockCheck) wire.Reader {
	return checkedReader{Reader: store, check: check}
}

type checkedReader struct {
	wire.Reader
	check BlockCheck
}

func (r checkedReader) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	q, err := r.Reader.Querier(tenant, mint, maxt)
	if err != nil {
		return nil, err
	}
	return checkedQuerier{Querier: q, check: r.check, tenant: tenant, mint: mint, maxt: maxt}, nil
}

type checkedQuerier struct {
	storage.Querier
	check      BlockCheck
	tenant     string
	mint, maxt int64
}

func (q checkedQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	return &checkedSet{SeriesSet: q.Querier.Select(ctx, sortSeries, hints, ms...), q: q, ctx: ctx, mint: mint, maxt: maxt}
}

func (q checkedQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	vals, warns, err := q.Querier.LabelValues(ctx, name, hints, ms...)
	if err != nil {
		return nil, warns, err
	}
	return vals, q.verify(ctx, q.mint, q.maxt, warns), nil
}

func (q checkedQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	names, warns, err := q.Querier.LabelNames(ctx, hints, ms...)
	if err != nil {
		return nil, warns, err
	}
	return names, q.verify(ctx, q.mint, q.maxt, warns), nil
}

// verify removes the queried-blocks report from warns; a missing block
// becomes a warning here (label APIs), and an error in Select.
func (q checkedQuerier) verify(ctx context.Context, mint, maxt int64, warns annotations.Annotations) annotations.Annotations {
	_, rest, err := q.missing(ctx, mint, maxt, warns)
	if err != nil {
		rest.Add(err)
	}
	return rest
}

func (q checkedQuerier) missing(ctx context.Context, mint, maxt int64, warns annotations.Annotations) ([]ulid.ULID, annotations.Annotations, error) {
	queried, rest := q.check.Queried(warns)
	required, err := q.check.Required(ctx, q.tenant, mint, maxt)
	if err != nil {
		return nil, rest, err
	}
	var missing []ulid.ULID
	for _, id := range required {
		if !slices.Contains(queried, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil, rest, nil
	}
	ids := make([]string, len(missing))
	for i, id := range missing {
		ids[i] = id.String()
	}
	// A storage error makes the query API answer 5xx: retrying can help.
	return missing, rest, promql.ErrStorage{Err: wire.Errorf(wire.KindUnavailable, "err-weft-store-consistency-check-failed",
		"no store-gateway answered for %d block(s) of tenant %s in %s..%s: %s; the query would miss their data, retry later",
		len(missing), q.tenant, time.UnixMilli(mint).UTC().Format(time.RFC3339), time.UnixMilli(maxt).UTC().Format(time.RFC3339), strings.Join(ids, ","))}
}

// checkedSet runs the check once the store's series are exhausted.
type checkedSet struct {
	storage.SeriesSet
	q          checkedQuerier
	ctx        context.Context
	mint, maxt int64
	done       bool
	err        error
	warns      annotations.Annotations
}

func (s *checkedSet) Next() bool {
	if s.done {
		return false
	}
	if s.SeriesSet.Next() {
		return true
	}
	s.done = true
	if err := s.SeriesSet.Err(); err != nil {
		s.err = err
		return false
	}
	_, s.warns, s.err = s.q.missing(s.ctx, s.mint, s.maxt, s.SeriesSet.Warnings())
	return false
}

func (s *checkedSet) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.SeriesSet.Err()
}

func (s *checkedSet) Warnings() annotations.Annotations {
	if s.done {
		return s.warns
	}
	_, rest := s.q.check.Queried(s.SeriesSet.Warnings())
	return rest
}
