package app

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// HA deduplication as the process wires it: in the all-in-one the
// elections are kept in the process; in a distributed process, in the
// rings' KV store (here memberlist). A tenant opts in through the runtime
// file.
func TestHADeduplicationWiring(t *testing.T) {
	runtimeFile := filepath.Join(t.TempDir(), "runtime.yaml")
	require.NoError(t, os.WriteFile(runtimeFile, []byte("overrides:\n  team:\n    accept_ha_samples: true\n    ha_max_clusters: 1\n"), 0o644))
	distributed := func(t *testing.T) []string {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		grpcAddr := lis.Addr().String()
		require.NoError(t, lis.Close())
		return []string{
			"-target=distributor,ingester,querier,store-gateway", "-grpc.listen-address=" + grpcAddr,
			"-ring.store=memberlist", "-memberlist.bind-addr=127.0.0.1", "-memberlist.bind-port=0",
			"-distributor.replication-factor=1", "-store-gateway.sharding-replication-factor=1",
		}
	}
	for name, args := range map[string]func(*testing.T) []string{
		"all-in-one":  func(*testing.T) []string { return nil },
		"distributed": distributed,
	} {
		t.Run(name, func(t *testing.T) {
			base := startApp(t, append(args(t), "-runtime-config.file="+runtimeFile)...)
			now := time.Now().UnixMilli()
			from := func(replica, cluster string) []byte {
				return v1Body(t, series(now, 1, "__name__", "ha_up", "__replica__", replica, "cluster", cluster, "job", "a"))
			}
			require.Eventually(t, func() bool {
				return push(t, base, "team", ctV1, from("r1", "c1")).code == http.StatusNoContent
			}, 10*time.Second, 100*time.Millisecond, "the ingester is ACTIVE in the ring")
			r := push(t, base, "team", ctV1, from("r2", "c1"))
			require.Equal(t, http.StatusAccepted, r.code, r.body)
			r = push(t, base, "team", ctV1, from("r1", "c2"))
			requireAPIError(t, r, http.StatusTooManyRequests, "too_many_requests", "err-weft-too-many-ha-clusters")
			// Another tenant keeps both replicas, labels and all.
			require.Equal(t, http.StatusNoContent, push(t, base, "other", ctV1, from("r1", "c1")).code)
			require.Equal(t, http.StatusNoContent, push(t, base, "other", ctV1, from("r2", "c1")).code)

			require.Eventually(t, func() bool {
				code, ans := query(t, base, "team", `count(ha_up{cluster="c1", job="a", __replica__=""})`)
				return code == 200 && vectorValue(t, ans) == "1"
			}, 10*time.Second, 100*time.Millisecond)
			code, ans := query(t, base, "other", `count(ha_up{__replica__!=""})`)
			require.Equal(t, 200, code)
			require.Equal(t, "2", vectorValue(t, ans))

			resp, err := http.Get(base + "/distributor/ha_tracker?format=json")
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			var status struct {
				Clusters []struct{ Tenant, Cluster, Replica string } `json:"clusters"`
			}
			require.NoError(t, json.Unmarshal(b, &status), string(b))
			require.Len(t, status.Clusters, 1, string(b))
			require.Equal(t, "team", status.Clusters[0].Tenant)
			require.Equal(t, "c1", status.Clusters[0].Cluster)
			require.Equal(t, "r1", status.Clusters[0].Replica)
		})
	}
}
