package ingester

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/wire"
)

const minute = 60_000

// stPush is a push whose samples carry start timestamps, in three shapes
// that PromQL treats differently, from base (ms):
//   - delta: one sample a minute from 1m to 15m, each counting what happened
//     since the previous one (start timestamp = the previous sample's time),
//     as OpenTelemetry's delta temporality does. Without start timestamps
//     its increase is 0, since the value never changes.
//   - hdelta: the same as native histograms.
//   - cumulative: one sample a minute from 1m to 6m of a counter that
//     restarted at 3m30s without its value dropping (60 120 180 | 200 260
//     320): only the start timestamps tell the reset.
func stPush(base int64) *wire.PushRequest {
	delta := wire.Series{Labels: labels.FromStrings("__name__", "delta")}
	hdelta := wire.Series{Labels: labels.FromStrings("__name__", "hdelta")}
	cumulative := wire.Series{Labels: labels.FromStrings("__name__", "cumulative")}
	for m := int64(1); m <= 15; m++ {
		t := base + m*minute
		delta.Samples = append(delta.Samples, wire.Sample{T: t, V: 60, ST: t - minute})
		h := &histogram.Histogram{Count: 60, Sum: 60, ZeroCount: 60}
		hdelta.Histograms = append(hdelta.Histograms, wire.Histogram{T: t, H: h, ST: t - minute})
	}
	for m, v := range []float64{60, 120, 180, 200, 260, 320} {
		st := base
		if m >= 3 {
			st = base + 3*minute + minute/2
		}
		cumulative.Samples = append(cumulative.Samples, wire.Sample{T: base + int64(m+1)*minute, V: v, ST: st})
	}
	return &wire.PushRequest{Series: []wire.Series{delta, hdelta, cumulative}}
}

// stAnswers are PromQL's answers over stPush(base): floats, or the count of
// a histogram.
type stAnswers struct {
	increaseDelta, rateDelta, increaseHistogramCount, resets, startTimestamp float64
}

func queryST(t *testing.T, ing *Ingester, tenantID string, base int64) stAnswers {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{
		MaxSamples:         1e6,
		Timeout:            time.Minute,
		UseStartTimestamps: true,
		Parser:             parser.NewParser(parser.Options{EnableExperimentalFunctions: true}),
	})
	defer eng.Close()
	q := storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		return ing.Querier(tenantID, mint, maxt)
	})
	at := func(expr string, minutes int64) float64 {
		t.Helper()
		qry, err := eng.NewInstantQuery(context.Background(), q, nil, expr, time.UnixMilli(base+minutes*minute))
		require.NoError(t, err)
		defer qry.Close()
		res := qry.Exec(context.Background())
		require.NoError(t, res.Err)
		vec, err := res.Vector()
		require.NoError(t, err)
		require.Len(t, vec, 1, expr)
		if vec[0].H != nil {
			return vec[0].H.Count
		}
		return vec[0].F
	}
	return stAnswers{
		increaseDelta:          at("increase(delta[5m])", 10),
		rateDelta:              at("rate(delta[5m])", 10),
		increaseHistogramCount: at("increase(hdelta[5m])", 10),
		resets:                 at("resets(cumulative[10m])", 6),
		startTimestamp:         at("start_timestamp(cumulative)", 6),
	}
}

// rawStartTimestamps returns the start timestamps of a series' samples as
// the ingester's querier returns them.
func rawStartTimestamps(t *testing.T, ing *Ingester, tenantID, name string) []int64 {
	t.Helper()
	q, err := ing.Querier(tenantID, 0, 1<<62)
	require.NoError(t, err)
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
	var out []int64
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() != chunkenc.ValNone {
			out = append(out, it.AtST())
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, ss.Err())
	return out
}

func TestStartTimestampsAreStoredAndQueried(t *testing.T) {
	dir := t.TempDir()
	bkt := objstore.NewInMemBucket()
	args := []string{"-ingester.tsdb.ship-interval=1h", "-ingester.tsdb.head-compaction-interval=1h"}
	lim := testOverrides(t)
	ing := startIngester(t, testConfig(t, dir, args...), lim, bkt)
	defer func() { require.NoError(t, stopIngester(ing)) }()

	base := time.Now().Truncate(time.Hour).Add(-time.Hour).UnixMilli()
	req := stPush(base)
	res, err := ing.Push(context.Background(), "a", req)
	require.NoError(t, err)
	require.Equal(t, wire.PushResult{Samples: 21, Histograms: 15}, res)

	var wantCumulative []int64
	for _, s := range req.Series[2].Samples {
		wantCumulative = append(wantCumulative, s.ST)
	}
	want := stAnswers{
		increaseDelta:          300, // five samples of 60, none lost to extrapolation
		rateDelta:              1,
		increaseHistogramCount: 300,
		resets:                 1,
		startTimestamp:         float64(base+3*minute+minute/2) / 1000,
	}
	check := func(when string) {
		t.Helper()
		require.Equal(t, wantCumulative, rawStartTimestamps(t, ing, "a", "cumulative"), when)
		require.Equal(t, want, queryST(t, ing, "a", base), when)
	}
	check("from the head")

	require.NoError(t, stopIngester(ing))
	ing = startIngester(t, testConfig(t, dir, args...), lim, bkt)
	check("after replaying the WAL")

	require.NoError(t, ing.Flush(context.Background()))
	require.Zero(t, ing.get("a").db.Head().NumSeries(), "the head was cut into blocks")
	check("from the ingester's blocks")

	// The shipped blocks, opened as the store-gateway opens them and their
	// chunks rebuilt from bytes as the querier's clients do, still have
	// every start timestamp.
	encodings := map[string]chunkenc.Encoding{}
	sts := map[string][]int64{}
	for _, b := range downloadBlocks(t, bkt, "a") {
		blk, err := tsdb.OpenBlock(nil, b, nil, nil)
		require.NoError(t, err)
		cq, err := tsdb.NewBlockChunkQuerier(blk, 0, 1<<62)
		require.NoError(t, err)
		css := cq.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
		for css.Next() {
			name := css.At().Labels().Get("__name__")
			it := css.At().Iterator(nil)
			for it.Next() {
				c := it.At().Chunk
				encodings[name] = c.Encoding()
				chk, err := chunkenc.FromData(c.Encoding(), bytes.Clone(c.Bytes()))
				require.NoError(t, err)
				si := chk.Iterator(nil)
				for si.Next() != chunkenc.ValNone {
					sts[name] = append(sts[name], si.AtST())
				}
				require.NoError(t, si.Err())
			}
			require.NoError(t, it.Err())
		}
		require.NoError(t, css.Err())
		require.NoError(t, cq.Close())
		require.NoError(t, blk.Close())
	}
	require.Equal(t, map[string]chunkenc.Encoding{"delta": chunkenc.EncXOR2, "hdelta": chunkenc.EncHistogramST, "cumulative": chunkenc.EncXOR2}, encodings)
	require.Equal(t, wantCumulative, sts["cumulative"])
	require.Len(t, sts["hdelta"], 15)
	for i, st := range sts["hdelta"] {
		require.Equal(t, base+int64(i)*minute, st, "histogram %d", i)
	}
}

// With start-timestamp storage off, the start timestamps pushed are dropped
// and PromQL answers as for samples that never had them.
func TestStartTimestampsDisabled(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir(), "-ingester.tsdb.start-timestamps-enabled=false"), testOverrides(t), nil)
	defer func() { require.NoError(t, stopIngester(ing)) }()
	base := time.Now().Truncate(time.Hour).Add(-time.Hour).UnixMilli()
	_, err := ing.Push(context.Background(), "a", stPush(base))
	require.NoError(t, err)
	require.Equal(t, []int64{0, 0, 0, 0, 0, 0}, rawStartTimestamps(t, ing, "a", "cumulative"))
	require.Equal(t, stAnswers{}, queryST(t, ing, "a", base))
}

// Any start timestamp round-trips, however far from the sample's time, so
// the distributor has nothing to validate in them (Prometheus' receiver
// does not either).
func TestStartTimestampsAnyValue(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir()), testOverrides(t), nil)
	defer func() { require.NoError(t, stopIngester(ing)) }()
	now := time.Now().UnixMilli()
	sts := []int64{math.MinInt64, math.MaxInt64, -1, now + 1e12, 0, now - 5, math.MinInt64 + 1, 1}
	fs := wire.Series{Labels: labels.FromStrings("__name__", "f")}
	hs := wire.Series{Labels: labels.FromStrings("__name__", "h")}
	for i, st := range sts {
		fs.Samples = append(fs.Samples, wire.Sample{T: now + int64(i), V: 1, ST: st})
		hs.Histograms = append(hs.Histograms, wire.Histogram{T: now + int64(i), H: &histogram.Histogram{Count: 1, ZeroCount: 1}, ST: st})
	}
	_, err := ing.Push(context.Background(), "a", &wire.PushRequest{Series: []wire.Series{fs, hs}})
	require.NoError(t, err)
	require.Equal(t, sts, rawStartTimestamps(t, ing, "a", "f"))
	require.Equal(t, sts, rawStartTimestamps(t, ing, "a", "h"))
}

// downloadBlocks copies a tenant's blocks from the bucket into a temporary
// directory and returns their directories.
func downloadBlocks(t *testing.T, bkt objstore.Bucket, tenantID string) []string {
	t.Helper()
	dir := t.TempDir()
	blocks := map[string]bool{}
	err := bkt.Iter(context.Background(), tenantID+"/", func(name string) error {
		rel := strings.TrimPrefix(name, tenantID+"/")
		blocks[filepath.Join(dir, strings.SplitN(rel, "/", 2)[0])] = true
		r, err := bkt.Get(context.Background(), name)
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	}, objstore.WithRecursiveIter())
	require.NoError(t, err)
	require.NotEmpty(t, blocks, "no block shipped")
	var out []string
	for b := range blocks {
		out = append(out, b)
	}
	return out
}

// Turning start-timestamp storage on over data written without it, and off
// again, loses no sample. While it is off, start timestamps that are only
// in the WAL are not replayed into the head; they are back once it is on
// again.
func TestStartTimestampsTurnedOnAndOff(t *testing.T) {
	dir := t.TempDir()
	lim := testOverrides(t)
	base := time.Now().Truncate(time.Hour).Add(-time.Hour).UnixMilli()
	all := stPush(base).Series[2] // six samples, each with a start timestamp
	var want []int64
	for _, s := range all.Samples {
		want = append(want, s.ST)
	}
	f := func(enabled bool, from, to int, wantST []int64) {
		t.Helper()
		ing := startIngester(t, testConfig(t, dir, "-ingester.tsdb.start-timestamps-enabled="+strconv.FormatBool(enabled)), lim, nil)
		defer func() { require.NoError(t, stopIngester(ing)) }()
		s := all
		s.Samples = all.Samples[from:to]
		_, err := ing.Push(context.Background(), "a", &wire.PushRequest{Series: []wire.Series{s}})
		require.NoError(t, err)
		require.Equal(t, wantST, rawStartTimestamps(t, ing, "a", "cumulative"))
	}
	f(false, 0, 2, []int64{0, 0})
	f(true, 2, 4, []int64{0, 0, want[2], want[3]})
	f(false, 4, 6, []int64{0, 0, 0, 0, 0, 0})
	f(true, 6, 6, []int64{0, 0, want[2], want[3], 0, 0})
}
