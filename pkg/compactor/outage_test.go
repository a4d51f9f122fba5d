package compactor

import (
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// downBucket fails, while down, every upload of a meta.json and every
// delete: a bucket that went away in the middle of a compacted block's
// upload, after its index and chunks.
type downBucket struct {
	objstore.Bucket
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (b *downBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	if b.down.Load() && path.Base(name) == bucketindex.MetaName {
		return errDown
	}
	return b.Bucket.Upload(ctx, name, r, opts...)
}

func (b *downBucket) Delete(ctx context.Context, name string) error {
	if b.down.Load() {
		return errDown
	}
	return b.Bucket.Delete(ctx, name)
}

// A compacted block whose upload failed half-way, and whose cleanup failed
// too, is deleted by a later run once the bucket is back; the compaction
// is then done again, whole.
func TestAbandonedUploadIsDeleted(t *testing.T) {
	e := newEnv(t, nil)
	bkt := &downBucket{Bucket: e.bkt}
	cfg := testConfig(t, "-compactor.consistency-delay=0s", "-compactor.block-ranges=2h,12h,24h")
	c, err := New(cfg, bkt, nil, nil, prometheus.NewRegistry(), nil, WithClock(e.now))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), c)) })

	mint := e.dayStart(3) + 4*hour
	maxt := mint + 2*hour
	a := span("up", mint, maxt, 15_000, "job", "a")
	src := map[string]bool{}
	for _, ing := range []string{"ingester-1", "ingester-2"} {
		src[e.uploadBlock("t1", ing, mint, maxt, a).String()] = true
	}

	bkt.down.Store(true)
	require.Error(t, c.RunOnce(context.Background()))
	partial := map[string]bool{}
	for _, name := range e.objects("t1/") {
		if id, _, ok := strings.Cut(strings.TrimPrefix(name, "t1/"), "/"); ok && len(id) == 26 && !src[id] {
			partial[id] = true
		}
	}
	require.Len(t, partial, 1, "the compacted block's index and chunks, without meta.json")

	bkt.down.Store(false)
	require.NoError(t, c.RunOnce(context.Background()))
	for id := range partial {
		require.Empty(t, e.objects("t1/"+id+"/"), "the objects of the failed upload")
	}
	live, marked := e.blocks("t1")
	require.Len(t, live, 1)
	require.Len(t, marked, 2)
	require.Equal(t, want(a), e.samples("t1", live[0].ULID))
}
