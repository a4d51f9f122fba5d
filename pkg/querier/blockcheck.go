package querier

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/weft-io/weft/pkg/wire"
)

// RequiredBlocks lists the blocks that a query of [mint, maxt] of a tenant
// must read; the store-gateways' Finder.RequiredBlocks is one.
type RequiredBlocks func(ctx context.Context, tenant string, mint, maxt int64) ([]ulid.ULID, error)

// NewCheckedStoreReader wraps store (the store-gateways, local or remote)
// with the block check: each Select, LabelNames and LabelValues collects
// the blocks the store-gateways report having read (a wire.BlockReport in
// its context) and compares them with required. A Select that missed a
// block fails with err-weft-store-consistency-check-failed (a storage
// error, so the query API answers 5xx and the query may be retried) rather
// than return a silent gap; a label call gets the same error as a warning.
func NewCheckedStoreReader(store wire.Reader, required RequiredBlocks) wire.Reader {
	return checkedReader{Reader: store, required: required}
}

type checkedReader struct {
	wire.Reader
	required RequiredBlocks
}

func (r checkedReader) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	q, err := r.Reader.Querier(tenant, mint, maxt)
	if err != nil {
		return nil, err
	}
	return checkedQuerier{Querier: q, required: r.required, tenant: tenant, mint: mint, maxt: maxt}, nil
}

type checkedQuerier struct {
	storage.Querier
	required   RequiredBlocks
	tenant     string
	mint, maxt int64
}

func (q checkedQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	ctx, report := wire.WithBlockReport(ctx)
	return &checkedSet{SeriesSet: q.Querier.Select(ctx, sortSeries, hints, ms...), q: q, ctx: ctx, report: report, mint: mint, maxt: maxt}
}

func (q checkedQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	ctx, report := wire.WithBlockReport(ctx)
	vals, warns, err := q.Querier.LabelValues(ctx, name, hints, ms...)
	if err != nil {
		return nil, warns, err
	}
	return vals, q.verify(ctx, report, warns), nil
}

func (q checkedQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	ctx, report := wire.WithBlockReport(ctx)
	names, warns, err := q.Querier.LabelNames(ctx, hints, ms...)
	if err != nil {
		return nil, warns, err
	}
	return names, q.verify(ctx, report, warns), nil
}

// verify adds a missed block to warns as a warning: the label APIs have no
// other way to say their answer may be short.
func (q checkedQuerier) verify(ctx context.Context, report *wire.BlockReport, warns annotations.Annotations) annotations.Annotations {
	if err := q.check(ctx, q.mint, q.maxt, report); err != nil {
		warns = warns.Add(err)
	}
	return warns
}

// check returns an error naming the blocks of [mint, maxt] that are
// required but missing from report.
func (q checkedQuerier) check(ctx context.Context, mint, maxt int64, report *wire.BlockReport) error {
	required, err := q.required(ctx, q.tenant, mint, maxt)
	if err != nil {
		return err
	}
	queried := report.Blocks()
	var missing []string
	for _, id := range required {
		if _, found := slices.BinarySearchFunc(queried, id, func(a, b ulid.ULID) int { return a.Compare(b) }); !found {
			missing = append(missing, id.String())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// The cause, when a store-gateway failed rather than missed them (a
	// bucket it cannot read, for one).
	cause := ""
	if err := report.Failure(); err != nil {
		cause = fmt.Sprintf(" (store-gateway %v)", err)
	}
	// A storage error makes the query API answer 5xx: retrying can help.
	return storageError{wire.Errorf(wire.KindUnavailable, "err-weft-store-consistency-check-failed",
		"no store-gateway answered for %d block(s) of tenant %s in %s..%s: %s%s; the query would miss their data, retry later",
		len(missing), q.tenant, time.UnixMilli(mint).UTC().Format(time.RFC3339), time.UnixMilli(maxt).UTC().Format(time.RFC3339), strings.Join(missing, ","), cause)}
}

// checkedSet runs the check once the store's series are exhausted, when
// every store-gateway has reported its blocks.
type checkedSet struct {
	storage.SeriesSet
	q          checkedQuerier
	ctx        context.Context
	report     *wire.BlockReport
	mint, maxt int64
	done       bool
	err        error
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
	s.err = s.q.check(s.ctx, s.mint, s.maxt, s.report)
	return false
}

func (s *checkedSet) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.SeriesSet.Err()
}
