package querier

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	dsring "github.com/grafana/dskit/ring"

	"github.com/weft-io/weft/pkg/wire"
)

// How the counts of a tenant's ingesters become the counts of one copy.
//
// Each series is on RF ingesters, so the ingesters' own counts added up
// count it RF times. A user reading /status/tsdb or the cardinality API
// expects the numbers of one copy, those a single Prometheus holding the
// tenant's series would answer. The counts are of two kinds:
//
//   - Counts of series (series, chunks, series per metric name, per label
//     pair, per label value) are combined per zone when the ring is
//     zone-aware: each zone holds one copy of every series, so the sum
//     over the instances of a zone is one copy's count, and the zone with
//     the largest sum is taken (a zone with an instance down counts
//     less, never more). Without zones the copies are spread over the
//     instances, and the sum over them all divided by the number of
//     copies (RF, or the size of the tenant's shard when smaller) is one
//     copy's count. If some instances failed (within what the
//     replication set tolerates), the sum is scaled up by
//     asked/answered: exact when every instance holds every series (a
//     shard of RF instances), an estimate otherwise.
//     Summing and dividing is exact, where taking the largest answer is
//     exact only when each instance holds every series; the answers
//     vary by a sample in flight at most.
//   - Counts of distinct things (label values per name, label pairs,
//     bytes of the values of a name) do not add up over instances that
//     hold the same values. The cardinality API's label names count the
//     union of the values' hashes (wire.CardinalityRequest), which is
//     exact. /status/tsdb's distinct counts come from Prometheus' head
//     statistics, which give only counts: when each instance holds every
//     series (a shard of RF instances, or one instance per zone) the
//     largest answer is exact; otherwise the values per label name and
//     the label pairs are counted from the union of the hashes as well,
//     and the bytes of the values of a name stay the largest answer, a
//     lower bound.
//
// The top-N lists of /status/tsdb are cut by each instance; with a shard
// larger than RF an entry near the cut may be missing from some answers,
// so the instances are asked for more entries than the answer keeps.

// copyCounter combines per-instance counts of replicated series into one
// copy's count: see above.
type copyCounter struct {
	zoneAware bool
	copies    int  // copies of each series spread over the instances (zone-unaware)
	asked     int  // instances asked
	answered  int  // instances that answered
	whole     bool // each instance holds every series (of its zone's copy)
}

// newCopyCounter returns the counter of the answers of rs; rf is the
// ring's replication factor.
func newCopyCounter(rs dsring.ReplicationSet, rf, answered int) copyCounter {
	zoneAware := rs.ZoneAwarenessEnabled || rs.MaxUnavailableZones > 0
	copies := max(1, min(rf, len(rs.Instances)))
	whole := len(rs.Instances) <= copies
	if zoneAware {
		perZone := map[string]int{}
		whole = true
		for _, inst := range rs.Instances {
			if perZone[inst.Zone]++; perZone[inst.Zone] > 1 {
				whole = false
			}
		}
	}
	return copyCounter{zoneAware: zoneAware, copies: copies, asked: len(rs.Instances), answered: answered, whole: whole}
}

// zoneSums adds up counts by zone; without zone awareness, every
// instance is of the one zone "".
type zoneSums map[string]uint64

func (c copyCounter) add(z zoneSums, zone string, v uint64) {
	if !c.zoneAware {
		zone = ""
	}
	z[zone] += v
}

// count returns one copy's count of what z added up; a thing that some
// instance counted is counted at least once.
func (c copyCounter) count(z zoneSums) uint64 {
	var top uint64
	for _, v := range z {
		top = max(top, v)
	}
	if c.zoneAware || top == 0 {
		return top
	}
	n := uint64(math.Round(float64(top) * float64(c.asked) / float64(max(c.answered, 1)) / float64(c.copies)))
	return max(n, 1)
}

// instanceAnswer is the answer of one instance of a replication set.
type instanceAnswer struct {
	zone string
	v    any
}

// doAll runs f on every instance of the tenant's replication set, and
// returns the answers of those that succeeded, failing when more failed
// than the set tolerates. Unlike do, which stops at a quorum, it waits
// for the instances after the quorum too, for as long again as the quorum
// took (untilQuorum): counts are added up over all that answer, but a
// stopped or partitioned ingester does not hold the answer.
func (r *RingReader) doAll(ctx context.Context, tenant string, f func(context.Context, wire.CardinalityReader) (any, error)) ([]instanceAnswer, copyCounter, error) {
	if r.static != nil || r.everyInstance || r.ring == nil {
		return nil, copyCounter{}, wire.Errorf(wire.KindBadData, "", "cannot count series: these stores keep no in-memory series")
	}
	rs, err := r.replicationSet(tenant)
	if err != nil {
		return nil, copyCounter{}, wire.Errorf(wire.KindUnavailable, "", "cannot find the ingesters of tenant %s: %v", tenant, err)
	}
	fails := &replicaFailures{rs: rs, tenant: tenant, leftOut: r.leftOut}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the instances left out
	results := make(chan instanceResult[*instanceAnswer], len(rs.Instances))
	start := time.Now()
	for i := range rs.Instances {
		go func(i int, inst *dsring.InstanceDesc) {
			v, err := callCardinality(ctx, r.clients, inst.Addr, f)
			res := instanceResult[*instanceAnswer]{i: i, err: err, at: time.Now()}
			if err == nil {
				res.v = &instanceAnswer{zone: inst.Zone, v: v}
			}
			results <- res
		}(i, &rs.Instances[i])
	}
	got, err := untilQuorum(ctx, &rs, fails, start, results)
	if err != nil {
		return nil, copyCounter{}, err
	}
	var answers []instanceAnswer
	for _, a := range got {
		if a != nil {
			answers = append(answers, *a)
		}
	}
	return answers, newCopyCounter(rs, r.ring.ReplicationFactor(), len(answers)), nil
}

func callCardinality(ctx context.Context, clients func(string) (wire.Reader, error), addr string, f func(context.Context, wire.CardinalityReader) (any, error)) (any, error) {
	c, err := clients(addr)
	if err != nil {
		return nil, err
	}
	cr, ok := c.(wire.CardinalityReader)
	if !ok {
		return nil, wire.Errorf(wire.KindInternal, "", "cannot count series: the client of %s does not", addr)
	}
	return f(ctx, cr)
}

var _ wire.CardinalityReader = (*RingReader)(nil)

// maxTSDBStatusLimit is the largest limit of /status/tsdb, as Prometheus'.
const maxTSDBStatusLimit = 10000

// TSDBStatus implements wire.CardinalityReader: the head statistics of
// one copy of the tenant's series (see copyCounter).
func (r *RingReader) TSDBStatus(ctx context.Context, tenant string, limit int) (*wire.TSDBStatus, error) {
	// Entries near the cut of one instance's list may be missing from
	// another's: ask for more than is kept.
	ask := min(max(2*limit, limit+20), maxTSDBStatusLimit)
	answers, cc, err := r.doAll(ctx, tenant, func(ctx context.Context, c wire.CardinalityReader) (any, error) {
		return c.TSDBStatus(ctx, tenant, ask)
	})
	if err != nil {
		return nil, err
	}
	var (
		out                      = &wire.TSDBStatus{MinTime: math.MaxInt64, MaxTime: math.MinInt64}
		series, chunks           = zoneSums{}, zoneSums{}
		byMetric, byPair         = map[string]zoneSums{}, map[string]zoneSums{}
		valuesByName, bytesBName = map[string]uint64{}, map[string]uint64{}
	)
	addEach := func(m map[string]zoneSums, zone string, stats []wire.Stat) {
		for _, s := range stats {
			z := m[s.Name]
			if z == nil {
				z = zoneSums{}
				m[s.Name] = z
			}
			cc.add(z, zone, s.Value)
		}
	}
	maxEach := func(m map[string]uint64, stats []wire.Stat) {
		for _, s := range stats {
			m[s.Name] = max(m[s.Name], s.Value)
		}
	}
	for _, a := range answers {
		st := a.v.(*wire.TSDBStatus)
		cc.add(series, a.zone, st.NumSeries)
		cc.add(chunks, a.zone, st.ChunkCount)
		out.NumLabelPairs = max(out.NumLabelPairs, st.NumLabelPairs)
		if st.NumSeries > 0 {
			out.MinTime = min(out.MinTime, st.MinTime)
			out.MaxTime = max(out.MaxTime, st.MaxTime)
		}
		addEach(byMetric, a.zone, st.SeriesCountByMetricName)
		addEach(byPair, a.zone, st.SeriesCountByLabelValuePair)
		maxEach(valuesByName, st.LabelValueCountByLabelName)
		maxEach(bytesBName, st.MemoryInBytesByLabelName)
	}
	out.NumSeries = cc.count(series)
	out.ChunkCount = cc.count(chunks)
	counted := func(m map[string]zoneSums) []wire.Stat {
		stats := make([]wire.Stat, 0, len(m))
		for name, z := range m {
			stats = append(stats, wire.Stat{Name: name, Value: cc.count(z)})
		}
		return topStats(stats, limit)
	}
	largest := func(m map[string]uint64) []wire.Stat {
		stats := make([]wire.Stat, 0, len(m))
		for name, v := range m {
			stats = append(stats, wire.Stat{Name: name, Value: v})
		}
		return topStats(stats, limit)
	}
	out.SeriesCountByMetricName = counted(byMetric)
	out.SeriesCountByLabelValuePair = counted(byPair)
	if !cc.whole {
		// The instances hold different series: count the distinct
		// values from the union of their hashes.
		lc, err := r.LabelCardinality(ctx, tenant, &wire.CardinalityRequest{})
		if err != nil {
			return nil, err
		}
		clear(valuesByName)
		out.NumLabelPairs = 0
		for _, l := range lc.Labels {
			valuesByName[l.Name] = uint64(len(l.ValueHashes))
			out.NumLabelPairs += uint64(len(l.ValueHashes))
		}
	}
	out.LabelValueCountByLabelName = largest(valuesByName)
	out.MemoryInBytesByLabelName = largest(bytesBName)
	return out, nil
}

// topStats sorts stats by count, largest first, then by name, and keeps
// the first limit (all when limit <= 0).
func topStats(stats []wire.Stat, limit int) []wire.Stat {
	slices.SortFunc(stats, func(a, b wire.Stat) int {
		if a.Value != b.Value {
			if a.Value > b.Value {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if limit > 0 && len(stats) > limit {
		stats = stats[:limit]
	}
	return stats
}

// LabelCardinality implements wire.CardinalityReader: one copy's counts
// (see copyCounter). Label names get the union of the instances' value
// hashes, label values the combined series count of each value.
func (r *RingReader) LabelCardinality(ctx context.Context, tenant string, req *wire.CardinalityRequest) (*wire.LabelCardinality, error) {
	answers, cc, err := r.doAll(ctx, tenant, func(ctx context.Context, c wire.CardinalityReader) (any, error) {
		return c.LabelCardinality(ctx, tenant, req)
	})
	if err != nil {
		return nil, err
	}
	total := zoneSums{}
	out := &wire.LabelCardinality{}
	if len(req.LabelNames) == 0 {
		hashes := map[string]map[uint64]struct{}{}
		for _, a := range answers {
			lc := a.v.(*wire.LabelCardinality)
			cc.add(total, a.zone, lc.SeriesCount)
			for _, l := range lc.Labels {
				set := hashes[l.Name]
				if set == nil {
					set = make(map[uint64]struct{}, len(l.ValueHashes))
					hashes[l.Name] = set
				}
				for _, h := range l.ValueHashes {
					set[h] = struct{}{}
				}
			}
		}
		for name, set := range hashes {
			ls := wire.LabelStats{Name: name, ValueHashes: make([]uint64, 0, len(set))}
			for h := range set {
				ls.ValueHashes = append(ls.ValueHashes, h)
			}
			out.Labels = append(out.Labels, ls)
		}
		slices.SortFunc(out.Labels, func(a, b wire.LabelStats) int { return strings.Compare(a.Name, b.Name) })
		out.SeriesCount = cc.count(total)
		return out, nil
	}

	byValue := make([]map[string]zoneSums, len(req.LabelNames)) // by the request's names, then value
	for i := range byValue {
		byValue[i] = map[string]zoneSums{}
	}
	index := make(map[string]int, len(req.LabelNames))
	for i, n := range req.LabelNames {
		index[n] = i
	}
	for _, a := range answers {
		lc := a.v.(*wire.LabelCardinality)
		cc.add(total, a.zone, lc.SeriesCount)
		for _, l := range lc.Labels {
			i, ok := index[l.Name]
			if !ok {
				continue
			}
			for _, v := range l.Values {
				z := byValue[i][v.Name]
				if z == nil {
					z = zoneSums{}
					byValue[i][v.Name] = z
				}
				cc.add(z, a.zone, v.Value)
			}
		}
	}
	for i, name := range req.LabelNames {
		ls := wire.LabelStats{Name: name, Values: make([]wire.Stat, 0, len(byValue[i]))}
		for v, z := range byValue[i] {
			n := cc.count(z)
			ls.Values = append(ls.Values, wire.Stat{Name: v, Value: n})
			ls.SeriesCount += n
		}
		slices.SortFunc(ls.Values, func(a, b wire.Stat) int { return strings.Compare(a.Name, b.Name) })
		out.Labels = append(out.Labels, ls)
	}
	out.SeriesCount = cc.count(total)
	return out, nil
}
