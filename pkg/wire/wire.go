package wire

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/protocodec"
)

// The series of a push are laid out as remote write 1.0's TimeSeries, and
// decoded by protocodec (for remote write and for weft's own Push message
// alike) straight into these types, which it therefore defines.
type (
	// Sample is one float sample with its optional start timestamp.
	Sample = protocodec.Sample
	// Histogram is one native histogram sample: exactly one of H and FH is
	// set.
	Histogram = protocodec.Histogram
	// Exemplar is one exemplar attached to a series.
	Exemplar = protocodec.Exemplar
	// Series is one series of a push with its samples in the order the
	// client sent them.
	Series = protocodec.Series
)

// MetricType mirrors the remote-write metric type names ("counter", "gauge",
// "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown").
type MetricType = string

// Metadata is the metadata of one metric family.
type Metadata struct {
	MetricFamily string
	Type         MetricType
	Help         string
	Unit         string
}

// PushRequest is one decoded, validated remote-write request for one tenant.
// A decoder reuses it between requests through Reset; callers that keep any
// part of it after Push returns must copy it.
type PushRequest struct {
	Series   []Series
	Metadata []Metadata
}

// Reset empties r keeping its allocated slices for reuse.
func (r *PushRequest) Reset() {
	for i := range r.Series {
		s := &r.Series[i]
		s.Labels = labels.EmptyLabels()
		s.Samples = s.Samples[:0]
		s.Histograms = s.Histograms[:0]
		s.Exemplars = s.Exemplars[:0]
	}
	r.Series = r.Series[:0]
	r.Metadata = r.Metadata[:0]
}

// Counts returns the number of float samples, histogram samples and
// exemplars in r.
func (r *PushRequest) Counts() (samples, histograms, exemplars int) {
	for i := range r.Series {
		samples += len(r.Series[i].Samples)
		histograms += len(r.Series[i].Histograms)
		exemplars += len(r.Series[i].Exemplars)
	}
	return
}

// PushResult says how much of a push was stored.
type PushResult struct {
	Samples    int
	Histograms int
	Exemplars  int
}

// Pusher stores pushed series for a tenant; the ingester implements it.
// An error wraps one of the ingester's typed errors so the edge can pick the
// HTTP status; samples before the failing one may have been stored (a retry
// of the same request is idempotent, since equal duplicates are dropped).
type Pusher interface {
	Push(ctx context.Context, tenant string, req *PushRequest) (PushResult, error)
}

// Reader serves a tenant's stored series to the querier; the ingester
// implements it (and, later, a client of remote ingesters and
// store-gateways). A tenant with no data yields empty results, not errors.
type Reader interface {
	// Querier returns a querier over the tenant's series in [mint, maxt].
	Querier(tenant string, mint, maxt int64) (storage.Querier, error)
	// ExemplarQuerier returns a querier over the tenant's exemplars.
	ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error)
	// Metadata returns the tenant's metric metadata, for one metric when
	// metric is not empty, at most limit families when limit > 0.
	Metadata(ctx context.Context, tenant, metric string, limit int) ([]Metadata, error)
}
