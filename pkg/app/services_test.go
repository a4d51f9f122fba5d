package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/logutil"
)

func getServices(t *testing.T, base string) []serviceState {
	t.Helper()
	resp, err := http.Get(base + "/services?format=json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list []serviceState
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	return list
}

func TestServicesPageShowsEachService(t *testing.T) {
	base := startApp(t)
	list := getServices(t, base)
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
		require.Equal(t, "Running", s.State, s.Name)
	}
	for _, role := range []string{RoleDistributor, RoleIngester, RoleQuerier, RoleQueryFront, RoleStoreGateway, RoleCompactor} {
		require.Contains(t, names, role)
	}
	require.NotContains(t, names, modKV, "the all-in-one runs no ring")
	// Start order: a role comes after what it calls.
	require.Less(t, slices.Index(names, RoleIngester), slices.Index(names, RoleDistributor))
	require.Less(t, slices.Index(names, RoleIngester), slices.Index(names, RoleQuerier))
	require.Less(t, slices.Index(names, RoleQuerier), slices.Index(names, RoleQueryFront))

	resp, err := http.Get(base + "/services")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, string(body), "<td>ingester</td><td>Running</td>")
}

// A service that fails to start stops the process with its error, and
// /services (and the log) say which one failed and why.
func TestFailedServiceStopsTheProcess(t *testing.T) {
	dir := t.TempDir()
	// The ingester's TSDB directory is a file: it cannot start.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, RoleIngester), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, RoleIngester, "tsdb"), []byte("not a directory"), 0o644))
	cfg, _, err := ParseFlags([]string{"-http.listen-address=127.0.0.1:0", "-data.dir=" + dir}, nil)
	require.NoError(t, err)
	a, err := New(cfg, logutil.Nop())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("weft kept running with a failed ingester")
	}
	require.ErrorContains(t, err, "ingester")
	require.ErrorContains(t, err, "not a directory")
	var states = map[string]serviceState{}
	for _, s := range a.serviceStates() {
		states[s.Name] = s
	}
	require.Equal(t, services.Failed.String(), states[RoleIngester].State)
	require.Contains(t, states[RoleIngester].Error, "not a directory")
	require.Equal(t, services.Terminated.String(), states[modBucket].State, "the others stopped")
}

// Each target runs its own modules and those it depends on, nothing else.
func TestTargetsFollowTheModuleTable(t *testing.T) {
	f := func(target string, want, notWant []string) {
		t.Helper()
		cfg, _, err := ParseFlags([]string{"-http.listen-address=127.0.0.1:0", "-data.dir=" + t.TempDir(), "-target=" + target}, nil)
		require.NoError(t, err)
		a, err := New(cfg, logutil.Nop())
		require.NoError(t, err)
		defer a.closeUnstarted()
		for _, m := range want {
			require.Contains(t, a.services, m, target)
		}
		for _, m := range notWant {
			require.NotContains(t, a.services, m, target)
		}
	}
	f("all", []string{RoleIngester, RoleQuerier, modBucket}, []string{modKV, modGRPCServer, modIngesterLife})
	f("querier", []string{RoleQuerier, modKV, modIngesterRing, modStoreGatewayRing}, []string{RoleIngester, RoleStoreGateway, modGRPCServer})
	f("distributor", []string{RoleDistributor, modIngesterRing}, []string{RoleIngester, modBucket})
	f("ingester", []string{RoleIngester, modIngesterLife, modGRPCServer, modBucket}, []string{RoleQuerier, modStoreGatewayLife})
	f("compactor", []string{RoleCompactor, modCompactorRing, modCompactorLife}, []string{RoleIngester, modGRPCServer})
}

func TestConfigRulesAcrossRoles(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		cfg, _, err := ParseFlags(append([]string{"-data.dir=" + t.TempDir()}, args...), nil)
		require.NoError(t, err)
		cfg.applyDefaults()
		err = cfg.Validate()
		if want == "" {
			require.NoError(t, err)
			return
		}
		require.ErrorContains(t, err, want)
	}
	f("")
	f("querier.query-store-after (13h0m0s) must be below querier.query-ingesters-within (13h0m0s)", "-querier.query-store-after=13h")
	f("", "-querier.query-store-after=13h", "-querier.query-ingesters-within=0") // ingesters answer for all time
	f("store-gateway.ignore-deletion-marks-delay (12h0m0s) must be below compactor.deletion-delay (12h0m0s)", "-store-gateway.ignore-deletion-marks-delay=12h")
	f("", "-store-gateway.ignore-deletion-marks-delay=2h", "-compactor.deletion-delay=3h")
}

// Every role keeps its files under <data.dir>/<role>/, and the filesystem
// bucket follows -data.dir unless it is set.
func TestDataDirLayout(t *testing.T) {
	dir := t.TempDir()
	cfg, _, err := ParseFlags([]string{"-data.dir=" + dir}, nil)
	require.NoError(t, err)
	cfg.applyDefaults()
	require.Equal(t, filepath.Join(dir, "bucket"), cfg.Bucket.Filesystem.Dir)
	require.Equal(t, filepath.Join(dir, "ingester", "tsdb"), cfg.Ingester.Dir)
	require.Equal(t, filepath.Join(dir, "ingester", "ring-tokens"), cfg.Ring.Ring.Ingester.TokensFilePath)
	require.Equal(t, filepath.Join(dir, "store-gateway", "blocks"), cfg.StoreGateway.Dir)
	require.Equal(t, filepath.Join(dir, "store-gateway", "ring-tokens"), cfg.Ring.Ring.StoreGateway.TokensFilePath)
	require.Equal(t, filepath.Join(dir, "compactor", "work"), cfg.Compactor.DataDir)
	require.Equal(t, filepath.Join(dir, "compactor", "ring-tokens"), cfg.Ring.Ring.Compactor.TokensFilePath)

	cfg, _, err = ParseFlags([]string{"-data.dir=" + dir, "-bucket.filesystem.dir=/elsewhere"}, nil)
	require.NoError(t, err)
	cfg.applyDefaults()
	require.Equal(t, "/elsewhere", cfg.Bucket.Filesystem.Dir)
}

// A data directory laid out as weft wrote it before the <role>/ layout is
// found at start: the WAL's samples, not yet in any block, read back.
func TestUpgradeFromTheOldDataDirLayout(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-data.dir=" + dir, "-auth.multitenancy-enabled=false"}
	base, stop := runApp(t, args...)
	now := time.Now().UnixMilli()
	for i := range 5 {
		r := push(t, base, "", ctV1, v1Body(t, series(now-int64(4-i)*15_000, float64(i), "__name__", "m", "job", "a")))
		require.Equal(t, http.StatusNoContent, r.code, r.body)
	}
	require.NoError(t, stop())

	// Lay the directory out as the previous version did.
	require.NoError(t, os.Rename(filepath.Join(dir, "ingester", "tsdb"), filepath.Join(dir, "tsdb")))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "store-gateway")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "store-gateway", "anonymous", "01JZZZZZZZZZZZZZZZZZZZZZZZ"), 0o755))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "compactor")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "compactor", "anonymous-scratch"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "compactor-ring-tokens"), []byte(`{"tokens":[1,2,3]}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "store-gateway-ring-tokens"), []byte(`{"tokens":[4,5,6]}`), 0o644))

	base, stop = runApp(t, args...)
	_, ans := query(t, base, "", `count_over_time(m[5m])`)
	require.Equal(t, "5", vectorValue(t, ans), "every sample of the WAL is read back")
	require.NoError(t, stop())

	require.NoDirExists(t, filepath.Join(dir, "tsdb"))
	require.DirExists(t, filepath.Join(dir, "ingester", "tsdb", "anonymous", "wal"))
	require.NoDirExists(t, filepath.Join(dir, "store-gateway", "anonymous"), "the old index-header cache moved under blocks/")
	require.NoDirExists(t, filepath.Join(dir, "compactor", "anonymous-scratch"), "the old scratch is gone")
	b, err := os.ReadFile(filepath.Join(dir, "compactor", "ring-tokens"))
	require.NoError(t, err)
	require.JSONEq(t, `{"tokens":[1,2,3]}`, string(b))
	b, err = os.ReadFile(filepath.Join(dir, "store-gateway", "ring-tokens"))
	require.NoError(t, err)
	require.JSONEq(t, `{"tokens":[4,5,6]}`, string(b))

	// Both layouts at once is for the operator to settle, not to guess.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tsdb"), 0o755))
	cfg, _, err := ParseFlags(append([]string{"-http.listen-address=127.0.0.1:0"}, args...), nil)
	require.NoError(t, err)
	a, err := New(cfg, logutil.Nop())
	require.NoError(t, err)
	require.ErrorContains(t, a.Run(context.Background()), "both exist")
}

// A per-tenant limit that the TSDB applies itself (the out-of-order
// window) changes with an edit of the runtime file, without a restart.
func TestOutOfOrderWindowFollowsTheRuntimeFile(t *testing.T) {
	rt := filepath.Join(t.TempDir(), "runtime.yaml")
	write := func(doc string) {
		t.Helper()
		require.NoError(t, os.WriteFile(rt+".tmp", []byte(doc), 0o644))
		require.NoError(t, os.Rename(rt+".tmp", rt))
	}
	write("overrides:\n  team-a:\n    out_of_order_time_window: 0s\n")
	base := startApp(t, "-runtime-config.file="+rt, "-runtime-config.reload-period=100ms", "-ingester.tsdb.head-compaction-interval=100ms")
	now := time.Now().UnixMilli()
	r := push(t, base, "team-a", ctV1, v1Body(t, series(now, 1, "__name__", "m")))
	require.Equal(t, http.StatusNoContent, r.code, r.body)
	old := series(now-10*60_000, 2, "__name__", "m")
	requireAPIError(t, push(t, base, "team-a", ctV1, v1Body(t, old)), 400, "bad_data", "out-of-order")

	write("overrides:\n  team-a:\n    out_of_order_time_window: 1h\n")
	require.Eventually(t, func() bool {
		return push(t, base, "team-a", ctV1, v1Body(t, old)).code == http.StatusNoContent
	}, 15*time.Second, 100*time.Millisecond, "the raised window never applied")
	_, ans := query(t, base, "team-a", `count_over_time(m[1h])`)
	require.Equal(t, "2", vectorValue(t, ans))
}

// A request that arrives while its role starts waits for it and is served;
// one that arrives while it stops is refused at once with a 503.
func TestWhenRunningWaitsForTheRoleToStart(t *testing.T) {
	release := make(chan struct{})
	svc := services.NewIdleService(func(context.Context) error { <-release; return nil }, nil)
	a := &App{services: map[string]services.Service{"distributor": svc}}
	h := a.whenRunning("distributor", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	require.NoError(t, svc.StartAsync(context.Background()))

	served := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/push", nil))
		served <- rec.Code
	}()
	select {
	case code := <-served:
		t.Fatalf("answered %d before the role ran", code)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.Equal(t, http.StatusNoContent, <-served)

	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), svc))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/push", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), "the distributor is terminated")
}
