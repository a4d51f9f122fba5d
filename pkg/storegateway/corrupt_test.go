package storegateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"path"
	"sync"
	"testing"

	"github.com/grafana/dskit/services"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-io/weft/pkg/wire"
)

// rewrite replaces a bucket object with what f makes of it.
func (f *fixture) rewrite(name string, fn func([]byte) []byte) {
	t := f.t
	ctx := context.Background()
	r, err := f.bkt.Get(ctx, name)
	require.NoError(t, err)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.NoError(t, f.bkt.Upload(ctx, name, bytes.NewReader(fn(b))))
}

func flipByte(b []byte, at int) []byte {
	b[at] ^= 0xff
	return b
}

// firstSeries returns where the first series entry of an index starts:
// its series section (the TOC's second offset) rounded up to 16.
func firstSeries(b []byte) int {
	toc := b[len(b)-indexTOCLen:]
	return (int(binary.BigEndian.Uint64(toc[8:16])) + 15) / 16 * 16
}

// TestCorruptBlocks: a block whose index or chunks do not read back fails
// the queries over it with an error that names it (err-weft-corrupt-block,
// kind internal, through gRPC too), is logged and counted, and never
// panics; the healthy block next to it keeps being served.
func TestCorruptBlocks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	healthy := f.addBlock("t1", 0, 2*hour)
	cases := []struct {
		name    string
		section string
		corrupt func(prefix string)
	}{
		{"truncated-index", sectionHeader, func(p string) {
			f.rewrite(p+"/index", func(b []byte) []byte { return b[:len(b)/2] })
		}},
		{"garbage-index", sectionHeader, func(p string) {
			f.rewrite(p+"/index", func(b []byte) []byte {
				for i := range b {
					b[i] = byte(i * 7)
				}
				return b
			})
		}},
		{"flipped-series", sectionSeries, func(p string) {
			f.rewrite(p+"/index", func(b []byte) []byte { return flipByte(b, firstSeries(b)+3) })
		}},
		{"flipped-chunk", sectionChunks, func(p string) {
			f.rewrite(p+"/chunks/000001", func(b []byte) []byte { return flipByte(b, chunks.SegmentHeaderSize+4) })
		}},
		{"missing-segment", sectionChunks, func(p string) {
			require.NoError(t, f.bkt.Delete(ctx, p+"/chunks/000001"))
		}},
		{"garbage-meta", sectionOther, func(p string) {
			f.rewrite(p+"/meta.json", func([]byte) []byte { return []byte(`{"ulid": garbage`) })
		}},
	}
	type blockRange struct{ from, to int64 }
	ranges := make([]blockRange, len(cases))
	for i, c := range cases {
		from := int64(i+1) * 2 * hour
		m := f.addBlock("t1", from, from+2*hour)
		ranges[i] = blockRange{from, from + 2*hour}
		c.corrupt(path.Join("t1", m.ULID.String()))
	}
	f.writeIndex("t1")

	var logs syncBuffer
	sg, err := New(testConfig(t), f.bkt, nil, nil, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(ctx, sg))
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), sg)) })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	wire.Register(srv, nil, wire.Stores{wire.StoreGateway: sg})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	client := wire.NewStoreClient(conn, wire.StoreGateway)

	want := f.reference("t1", 0, 2*hour-1, func(id ulid.ULID) bool { return id == healthy.ULID })
	for i, c := range cases {
		id := f.blocks["t1"][i+1].ULID
		for _, r := range []wire.Reader{sg, client} {
			// The bad block fails the query and is named.
			q, err := r.Querier("t1", ranges[i].from, ranges[i].to-1)
			require.NoError(t, err)
			err = drain(q.Select(ctx, true, nil, all))
			require.Error(t, err, c.name)
			require.Equal(t, wire.KindInternal, wire.KindOf(err), "%s: %v", c.name, err)
			require.ErrorContains(t, err, wire.ErrIDCorruptBlock, c.name)
			require.ErrorContains(t, err, id.String(), c.name)
			require.NoError(t, q.Close())

			// The chunk path (what remote queriers read) fails as clearly.
			cq, err := sg.ChunkQuerier("t1", ranges[i].from, ranges[i].to-1)
			require.NoError(t, err)
			err = drainChunks(cq.Select(ctx, true, nil, all))
			require.ErrorContains(t, err, wire.ErrIDCorruptBlock, c.name)
			require.ErrorContains(t, err, id.String(), c.name)
			require.NoError(t, cq.Close())

			// The healthy block is still served.
			got, queried := query(t, r, "t1", 0, 2*hour-1)
			require.Equal(t, want, got, c.name)
			require.Len(t, queried, 1)
		}
		require.Positive(t, testutil.ToFloat64(sg.m.corruptBlocks.WithLabelValues(c.section)), c.name)
		require.Contains(t, logs.String(), "block is corrupt", c.name)
		require.Contains(t, logs.String(), "block="+id.String(), c.name)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// drain reads every sample of ss and returns the first error, of an
// iterator or of the set.
func drain(ss storage.SeriesSet) error {
	var it chunkenc.Iterator
	for ss.Next() {
		it = ss.At().Iterator(it)
		for it.Next() != chunkenc.ValNone {
		}
		if err := it.Err(); err != nil {
			return err
		}
	}
	return ss.Err()
}

// drainChunks reads every chunk of cs, and every sample of each, and
// returns the first error.
func drainChunks(cs storage.ChunkSeriesSet) error {
	for cs.Next() {
		it := cs.At().Iterator(nil)
		for it.Next() {
			ci := it.At().Chunk.Iterator(nil)
			for ci.Next() != chunkenc.ValNone {
			}
			if err := ci.Err(); err != nil {
				return err
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
	}
	return cs.Err()
}
