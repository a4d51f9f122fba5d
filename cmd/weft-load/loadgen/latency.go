package loadgen

import (
	"math"
	"time"
)

// latencyHist is a log-bucketed histogram of durations: bucket k holds durations d
// with floor(log2(d in ns) * latencySubBuckets) == k, so quantiles are exact to within
// about 2.2%. It is not safe for concurrent use; merge per-goroutine histograms.
type latencyHist struct {
	counts [latencyBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	latencySubBuckets = 32
	latencyBuckets    = 44 * latencySubBuckets // up to 2^44 ns (~4.9 hours)
)

func (h *latencyHist) observe(d time.Duration) {
	if d < 1 {
		d = 1
	}
	k := int(math.Log2(float64(d)) * latencySubBuckets)
	if k >= latencyBuckets {
		k = latencyBuckets - 1
	}
	h.counts[k]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// quantile returns the q-quantile (0 < q <= 1): the geometric middle of the bucket
// holding it, capped by the maximum observed.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for k, c := range h.counts {
		seen += c
		if seen >= rank {
			d := time.Duration(math.Exp2((float64(k) + 0.5) / latencySubBuckets))
			return min(d, h.max)
		}
	}
	return h.max
}

// LatencySummary summarizes request latencies.
type LatencySummary struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

func (h *latencyHist) summary() LatencySummary {
	s := LatencySummary{Count: h.n, P50: h.quantile(0.5), P90: h.quantile(0.9), P99: h.quantile(0.99), Max: h.max}
	if h.n > 0 {
		s.Mean = h.sum / time.Duration(h.n)
	}
	return s
}

func (s LatencySummary) String() string {
	r := func(d time.Duration) time.Duration {
		switch {
		case d >= time.Second:
			return d.Round(time.Millisecond)
		case d >= time.Millisecond:
			return d.Round(10 * time.Microsecond)
		default:
			return d.Round(time.Microsecond)
		}
	}
	return "p50=" + r(s.P50).String() + " p90=" + r(s.P90).String() + " p99=" + r(s.P99).String() +
		" max=" + r(s.Max).String() + " mean=" + r(s.Mean).String()
}
