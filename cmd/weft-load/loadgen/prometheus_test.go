package loadgen

import (
	"context"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
)

// TestRunWriteIntoPrometheusReceiver pushes with both protocols into Prometheus' own
// remote-write receiver (storage/remote.NewWriteHandler over a real TSDB), the code a
// Prometheus 3 server runs, and reads the series back from the TSDB. The Debian
// Prometheus on test machines predates remote write 2.0, so this is where 2.0 is
// checked end to end.
func TestRunWriteIntoPrometheusReceiver(t *testing.T) {
	for _, p := range []Protocol{ProtocolV1, ProtocolV2} {
		t.Run(string(p), func(t *testing.T) {
			db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
			require.NoError(t, err)
			defer db.Close()
			h := remote.NewWriteHandler(nil, nil, db, remoteapi.MessageTypes{remoteapi.WriteV1MessageType, remoteapi.WriteV2MessageType}, false, false)
			srv := httptest.NewServer(h)
			defer srv.Close()

			start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			cfg := testWriteConfig(srv.URL)
			cfg.Protocol = p
			cfg.Series = 2500
			cfg.SamplesPerRequest = 1000
			cfg.StartTime = start
			rep, err := RunWrite(context.Background(), cfg, nil)
			require.NoError(t, err)
			require.Zero(t, rep.RequestsFailed, "%v", rep.Errors)
			require.Equal(t, int64(7500), rep.SamplesAccepted)
			require.Zero(t, rep.V2WithoutWrittenHeader)

			q, err := db.Querier(math.MinInt64, math.MaxInt64)
			require.NoError(t, err)
			defer q.Close()
			set := NewSeriesSet(cfg.Series)
			ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
			n := 0
			for ss.Next() {
				s := ss.At()
				require.Equal(t, LabelsPerSeries, s.Labels().Len())
				it := s.Iterator(nil)
				var ts []int64
				for it.Next() != 0 {
					tt, _ := it.At()
					ts = append(ts, tt)
				}
				require.NoError(t, it.Err())
				require.Equal(t, []int64{start.UnixMilli(), start.UnixMilli() + 15000, start.UnixMilli() + 30000}, ts, s.Labels().String())
				n++
			}
			require.NoError(t, ss.Err())
			require.Equal(t, set.Len(), n)
		})
	}
}
