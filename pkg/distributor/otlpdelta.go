package distributor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	deltatocumulative "github.com/open-telemetry/opentelemetry-collector-contrib/processor/deltatocumulativeprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/weft-io/weft/pkg/wire"
)

// errIDOTLPDeltaNotConverted is the ID of delta points the conversion to
// cumulative dropped (docs/errors.md).
const errIDOTLPDeltaNotConverted = "err-weft-otlp-delta-not-converted"

// deltaConverters holds one delta-to-cumulative processor per tenant that
// converts delta temporality, the one Prometheus runs for its
// otlp-deltatocumulative feature. Each keeps the running sum of every
// stream in memory, so the conversion is right only while every point of
// a stream reaches the same distributor.
type deltaConverters struct {
	mu       sync.Mutex
	byTenant map[string]processor.Metrics // guarded by mu
	closed   bool                         // guarded by mu
}

// capturedKey is the context key of the *pmetric.Metrics a processor's
// output is written to: the processor calls its next consumer within
// ConsumeMetrics.
type capturedKey struct{}

func (c *deltaConverters) get(id string) (processor.Metrics, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, wire.Errorf(wire.KindUnavailable, "", "the distributor is stopping")
	}
	if p, ok := c.byTenant[id]; ok {
		return p, nil
	}
	fac := deltatocumulative.NewFactory()
	set := processor.Settings{
		ID:                component.NewIDWithName(fac.Type(), id),
		TelemetrySettings: component.TelemetrySettings{MeterProvider: noop.NewMeterProvider()},
	}
	next, err := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		if out, ok := ctx.Value(capturedKey{}).(*pmetric.Metrics); ok {
			*out = md
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p, err := fac.CreateMetrics(context.Background(), set, fac.CreateDefaultConfig(), next)
	if err != nil {
		return nil, fmt.Errorf("cannot create the delta-to-cumulative processor: %w", err)
	}
	if err := p.Start(context.Background(), nil); err != nil {
		return nil, fmt.Errorf("cannot start the delta-to-cumulative processor: %w", err)
	}
	if c.byTenant == nil {
		c.byTenant = map[string]processor.Metrics{}
	}
	c.byTenant[id] = p
	return p, nil
}

// close stops every processor; it is safe to call twice.
func (c *deltaConverters) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for id, p := range c.byTenant {
		errs = append(errs, p.Shutdown(context.Background()))
		delete(c.byTenant, id)
	}
	return errors.Join(errs...)
}

// convertDelta converts the delta points of md to cumulative ones with the
// tenant's processor and returns the result, and how many points the
// processor dropped (out of order, or a stream it could not track).
func (d *Distributor) convertDelta(ctx context.Context, id string, md pmetric.Metrics) (pmetric.Metrics, int, *wire.Error, error) {
	if !hasDelta(md) {
		return md, 0, nil, nil
	}
	p, err := d.deltas.get(id)
	if err != nil {
		return md, 0, nil, err
	}
	before := md.DataPointCount()
	out := pmetric.NewMetrics()
	if err := p.ConsumeMetrics(context.WithValue(ctx, capturedKey{}, &out), md); err != nil {
		return md, 0, nil, err
	}
	dropped := before - out.DataPointCount()
	if dropped <= 0 {
		return out, 0, nil, nil
	}
	d.discarded.WithLabelValues(id, reasonOTLPDeltaNotConverted).Add(float64(dropped))
	return out, dropped, wire.Errorf(wire.KindBadData, errIDOTLPDeltaNotConverted,
		"tenant %s: %d delta data points could not be converted to cumulative (out of order with the stream's earlier points)", id, dropped), nil
}

// reasonOTLPDeltaNotConverted is the discard reason of the points the
// delta-to-cumulative conversion dropped.
const reasonOTLPDeltaNotConverted = "otlp_delta_not_converted"

func hasDelta(md pmetric.Metrics) bool {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if isDelta(ms.At(k)) {
					return true
				}
			}
		}
	}
	return false
}

// Close stops what the distributor runs in the background (the
// delta-to-cumulative processors). It is safe to call twice.
func (d *Distributor) Close() error {
	return d.deltas.close()
}
