package bucketindex

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"path"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

// FuzzRead reads arbitrary bytes (gzipped by the test unless raw is set, so
// that the fuzzer explores the JSON) as a tenant's bucket index, and as the
// block sidecars of metadata and exemplars. Reading must never panic, and
// what reads must be stable: writing it and reading that back gives the same
// JSON.
func FuzzRead(f *testing.F) {
	id := ulid.MustNew(1, nil)
	idx := &Index{Version: Version, UpdatedAt: 5,
		Blocks:             []Block{{ID: id, MinTime: 1, MaxTime: 2, Level: 2, Sources: []ulid.ULID{id}, UploadedAt: 3}},
		BlockDeletionMarks: []DeletionMark{{ID: id, DeletionTime: 4, Version: 1}}}
	b, err := json.Marshal(idx)
	require.NoError(f, err)
	f.Add(b, false, uint8(0))
	f.Add([]byte(`{"version":1,"blocks":[{"block_id":"0000000000000000000000000","sources":[]}]}`), false, uint8(0))
	f.Add(gzipBytes(f, b), true, uint8(0))
	f.Add([]byte(`{"version":1,"metadata":[{"metric_family":"up","type":"gauge","help":"h","unit":""}]}`), false, uint8(1))
	f.Add([]byte(`{"version":1,"series":[{"labels":{"__name__":"up"},"exemplars":[{"labels":{"trace_id":"a"},"value":"1","timestamp":2}]}]}`), false, uint8(2))

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte, raw bool, kind uint8) {
		switch kind % 3 {
		case 1:
			if md, err := decodeMetadata(body); err == nil {
				again, err := decodeMetadata(mustJSON(t, metadataFile{Version: SidecarVersion, Metadata: md}))
				require.NoError(t, err)
				require.Equal(t, mustJSON(t, md), mustJSON(t, again))
			}
			return
		case 2:
			if !raw {
				body = gzipBytes(t, body)
			}
			_, _ = decodeExemplars(body)
			return
		}
		bkt := objstore.NewInMemBucket()
		if !raw {
			body = gzipBytes(t, body)
		}
		require.NoError(t, bkt.Upload(ctx, path.Join("t", IndexName), bytes.NewReader(body)))
		got, err := Read(ctx, bkt, "t")
		if err != nil {
			return
		}
		require.Equal(t, Version, got.Version)
		if got.UpdatedAt == 0 {
			got.UpdatedAt = 1 // Write stamps an unset time with now
		}
		once := mustJSON(t, got)
		require.NoError(t, Write(ctx, bkt, "t", got))
		again, err := Read(ctx, bkt, "t")
		require.NoError(t, err)
		require.Equal(t, string(once), string(mustJSON(t, again)))
	})
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
