package storegateway

import (
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/wire"
)

// addSidecars uploads the metadata and exemplars files of a block.
func (f *fixture) addSidecars(tenant string, id ulid.ULID, md []bucketindex.MetricMetadata, ex []exemplar.QueryResult) {
	t := f.t
	dir := t.TempDir()
	require.NoError(t, bucketindex.WriteLocalMetadata(dir, md))
	require.NoError(t, bucketindex.WriteLocalExemplars(dir, ex))
	for _, name := range []string{bucketindex.MetadataName, bucketindex.ExemplarsName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		require.NoError(t, f.bkt.Upload(context.Background(), path.Join(tenant, id.String(), name), bytes.NewReader(b)))
	}
}

func TestMetadataAndExemplarsFromTheBlocks(t *testing.T) {
	f := newFixture(t)
	series := labels.FromStrings("__name__", "metric", "owner", "alpha", "i", "0")
	other := labels.FromStrings("__name__", "metric", "owner", "alpha", "i", "1")
	ex := func(trace string, ts int64) exemplar.Exemplar {
		return exemplar.Exemplar{Labels: labels.FromStrings("trace_id", trace), Value: 1, Ts: ts, HasTs: true}
	}
	old := f.addBlock("alpha", 0, 2*hour)
	f.addSidecars("alpha", old.ULID, []bucketindex.MetricMetadata{{Metric: "metric", Type: "gauge", Help: "Old."}, {Metric: "gone", Type: "counter"}},
		[]exemplar.QueryResult{{SeriesLabels: series, Exemplars: []exemplar.Exemplar{ex("a", hour)}}, {SeriesLabels: other, Exemplars: []exemplar.Exemplar{ex("b", hour)}}})
	newer := f.addBlock("alpha", 2*hour, 4*hour)
	f.addSidecars("alpha", newer.ULID, []bucketindex.MetricMetadata{{Metric: "metric", Type: "gauge", Help: "New."}},
		[]exemplar.QueryResult{{SeriesLabels: series, Exemplars: []exemplar.Exemplar{ex("c", 3*hour)}}})
	f.addBlock("alpha", 4*hour, 6*hour) // shipped by an older weft: no files
	f.writeIndex("alpha")
	sg := newSG(t, testConfig(t), f.bkt)
	ctx := context.Background()

	md, err := sg.Metadata(ctx, "alpha", "", 0)
	require.NoError(t, err)
	require.Equal(t, []wire.Metadata{{MetricFamily: "gone", Type: "counter"}, {MetricFamily: "metric", Type: "gauge", Help: "New."}}, md,
		"the newest block's description wins")
	md, err = sg.Metadata(ctx, "alpha", "metric", 0)
	require.NoError(t, err)
	require.Equal(t, []wire.Metadata{{MetricFamily: "metric", Type: "gauge", Help: "New."}}, md)
	md, err = sg.Metadata(ctx, "alpha", "", 1)
	require.NoError(t, err)
	require.Len(t, md, 1)
	md, err = sg.Metadata(ctx, "beta", "", 0)
	require.NoError(t, err)
	require.Empty(t, md, "tenants never mix")

	eq, err := sg.ExemplarQuerier(ctx, "alpha")
	require.NoError(t, err)
	res, err := eq.Select(0, 6*hour, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "i", "0")})
	require.NoError(t, err)
	require.Equal(t, []exemplar.QueryResult{{SeriesLabels: series, Exemplars: []exemplar.Exemplar{ex("a", hour), ex("c", 3*hour)}}}, res)
	res, err = eq.Select(2*hour, 6*hour, []*labels.Matcher{all})
	require.NoError(t, err)
	require.Equal(t, []exemplar.QueryResult{{SeriesLabels: series, Exemplars: []exemplar.Exemplar{ex("c", 3*hour)}}}, res)

	// A store-gateway answers for the blocks it owns only.
	shard := newShardSG(t, testConfig(t), f.bkt, func(_ string, id ulid.ULID) bool { return id == old.ULID })
	md, err = shard.Metadata(ctx, "alpha", "", 0)
	require.NoError(t, err)
	require.Equal(t, []wire.Metadata{{MetricFamily: "gone", Type: "counter"}, {MetricFamily: "metric", Type: "gauge", Help: "Old."}}, md)
}

func TestExemplarCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	c := exemplarCache{max: 10, byBlock: map[blockKey]*cachedExemplars{}}
	of := func(n int) []exemplar.QueryResult {
		r := exemplar.QueryResult{SeriesLabels: labels.FromStrings("__name__", "m")}
		for i := range n {
			r.Exemplars = append(r.Exemplars, exemplar.Exemplar{Ts: int64(i)})
		}
		return []exemplar.QueryResult{r}
	}
	k := func(n uint64) blockKey { return blockKey{"t", ulid.MustNew(n, nil)} }
	c.put(k(1), of(3)) // 4 with its entry
	c.put(k(2), of(3))
	_, ok := c.get(k(1)) // 1 is now more recent than 2
	require.True(t, ok)
	c.put(k(3), of(3))
	_, ok = c.get(k(2))
	require.False(t, ok, "the least recently used block went")
	for _, n := range []uint64{1, 3} {
		_, ok = c.get(k(n))
		require.True(t, ok)
	}
	require.Equal(t, 8, c.size)
	c.put(k(4), of(20))
	_, ok = c.get(k(4))
	require.False(t, ok, "a file larger than the cache is not kept")
	require.Equal(t, 8, c.size)
}
