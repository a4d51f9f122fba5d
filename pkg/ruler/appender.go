package ruler

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// pushAppendable writes a tenant's rule results through a wire.Pusher (the
// distributor's validation and limits in front of the ring): recording
// rules' series and ALERTS/ALERTS_FOR_STATE are replicated, durable and
// queryable like any pushed series.
type pushAppendable struct {
	pusher   wire.Pusher
	tenantID string
}

// AppenderV2 returns an appender that collects what one rule appends and
// pushes it as one request on Commit.
func (p pushAppendable) AppenderV2(ctx context.Context) storage.AppenderV2 {
	return &pushAppender{ctx: ctx, p: p}
}

type pushAppender struct {
	ctx context.Context
	p   pushAppendable
	req wire.PushRequest
}

// Append adds one sample; a rule yields one sample per series per
// evaluation, so each call is a series of its own. Nothing is sent before
// Commit, so Append never fails.
func (a *pushAppender) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, _ storage.AOptions) (storage.SeriesRef, error) {
	s := wire.Series{Labels: ls}
	switch {
	case h != nil || fh != nil:
		s.Histograms = []wire.Histogram{{T: t, H: h, FH: fh, ST: st}}
	default:
		s.Samples = []wire.Sample{{T: t, V: v, ST: st}}
	}
	a.req.Series = append(a.req.Series, s)
	return storage.SeriesRef(ls.Hash()), nil
}

// Commit pushes what was appended, as the tenant of the appendable.
func (a *pushAppender) Commit() error {
	if len(a.req.Series) == 0 {
		return nil
	}
	ctx := tenant.With(a.ctx, a.p.tenantID)
	if _, err := a.p.pusher.Push(ctx, a.p.tenantID, &a.req); err != nil {
		return fmt.Errorf("cannot push %d rule result series: %w", len(a.req.Series), err)
	}
	a.req = wire.PushRequest{}
	return nil
}

// Rollback drops what was appended.
func (a *pushAppender) Rollback() error {
	a.req = wire.PushRequest{}
	return nil
}
