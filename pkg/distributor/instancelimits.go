package distributor

import (
	"errors"
	"flag"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/weft-io/weft/pkg/wire"
)

// Stable IDs of the refusals of a distributor at its instance limits
// (docs/errors.md). They are not the tenant's fault: the answer is 503,
// which remote-write clients retry.
const (
	errIDMaxInflightRequests = "err-weft-distributor-max-inflight-push-requests"
	errIDMaxInflightBytes    = "err-weft-distributor-max-inflight-push-bytes"
)

// Names of the instance limits, as the limit label of the metrics.
const (
	limitInflightRequests = "max_inflight_push_requests"
	limitInflightBytes    = "max_inflight_push_requests_bytes"
)

// InstanceLimits bound what one distributor takes on at once, over all
// tenants, so that no mix of pushes exhausts its memory. 0 disables a
// limit.
type InstanceLimits struct {
	MaxInflightPushRequests      int   `yaml:"max_inflight_push_requests"`
	MaxInflightPushRequestsBytes int64 `yaml:"max_inflight_push_requests_bytes"`
}

// RegisterFlags registers the -distributor.instance-limits.* flags.
func (l *InstanceLimits) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&l.MaxInflightPushRequests, "distributor.instance-limits.max-inflight-push-requests", 2000, "Most push requests (remote write and OTLP) this distributor handles at once, over all tenants; more are refused with 503 (retried by clients). 0 disables the limit.")
	f.Int64Var(&l.MaxInflightPushRequestsBytes, "distributor.instance-limits.max-inflight-push-requests-bytes", 512<<20, "Most bytes of push request bodies (as sent, compressed) this distributor holds at once, over all tenants; a request that would go over is refused with 503 before its body is read (retried by clients). 0 disables the limit.")
}

// Validate reports settings that cannot work.
func (l *InstanceLimits) Validate() error {
	if l.MaxInflightPushRequests < 0 || l.MaxInflightPushRequestsBytes < 0 {
		return errors.New("distributor.instance-limits.* must not be negative")
	}
	return nil
}

// inflight counts the push requests and bytes in flight against the
// instance limits.
type inflight struct {
	lim      InstanceLimits
	requests atomic.Int64
	bytes    atomic.Int64
	rejected *prometheus.CounterVec
}

func newInflight(lim InstanceLimits, reg prometheus.Registerer) *inflight {
	in := &inflight{lim: lim}
	f := promauto.With(reg)
	in.rejected = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_distributor_instance_limit_rejections_total", Help: "Push requests refused with 503 because this distributor was at one of its instance limits, by limit."}, []string{"limit"})
	in.rejected.WithLabelValues(limitInflightRequests)
	in.rejected.WithLabelValues(limitInflightBytes)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_distributor_inflight_push_requests", Help: "Push requests this distributor is handling."}, func() float64 { return float64(in.requests.Load()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_distributor_inflight_push_requests_bytes", Help: "Bytes of the push request bodies (compressed) this distributor holds."}, func() float64 { return float64(in.bytes.Load()) })
	limits := f.NewGaugeVec(prometheus.GaugeOpts{Name: "weft_distributor_instance_limits", Help: "This distributor's instance limits (0: none), by limit."}, []string{"limit"})
	limits.WithLabelValues(limitInflightRequests).Set(float64(lim.MaxInflightPushRequests))
	limits.WithLabelValues(limitInflightBytes).Set(float64(lim.MaxInflightPushRequestsBytes))
	return in
}

// startRequest counts one more request in flight, or refuses it at the
// limit; call the returned func when the request is done.
func (in *inflight) startRequest() (func(), error) {
	n := in.requests.Add(1)
	if max := in.lim.MaxInflightPushRequests; max > 0 && n > int64(max) {
		in.requests.Add(-1)
		in.rejected.WithLabelValues(limitInflightRequests).Inc()
		return nil, wire.Errorf(wire.KindUnavailable, errIDMaxInflightRequests,
			"this distributor is handling its limit of %d push requests at once; retry later (raise -distributor.instance-limits.max-inflight-push-requests or add distributors)", max)
	}
	return func() { in.requests.Add(-1) }, nil
}

// reserveBytes counts n more bytes in flight, or refuses them at the
// limit; release them with releaseBytes.
func (in *inflight) reserveBytes(n int64) error {
	if n <= 0 {
		return nil
	}
	total := in.bytes.Add(n)
	if max := in.lim.MaxInflightPushRequestsBytes; max > 0 && total > max {
		in.bytes.Add(-n)
		in.rejected.WithLabelValues(limitInflightBytes).Inc()
		return wire.Errorf(wire.KindUnavailable, errIDMaxInflightBytes,
			"this distributor holds %d bytes of push requests, and this one's %d would go over its limit of %d; retry later (raise -distributor.instance-limits.max-inflight-push-requests-bytes or add distributors)", total-n, n, max)
	}
	return nil
}

func (in *inflight) releaseBytes(n int64) {
	if n > 0 {
		in.bytes.Add(-n)
	}
}

// isInstanceLimit reports whether err is a refusal at an instance limit:
// counted in weft_distributor_instance_limit_rejections_total, and not
// logged, since a burst of them would flood the log.
func isInstanceLimit(err error) bool {
	we, ok := errors.AsType[*wire.Error](err)
	return ok && (we.ID == errIDMaxInflightRequests || we.ID == errIDMaxInflightBytes)
}
