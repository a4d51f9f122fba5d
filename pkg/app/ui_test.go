package app

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUIMounted checks that the web UI answers "/" and its pages in place of
// the old link page, without taking over the status pages or unknown paths.
func TestUIMounted(t *testing.T) {
	base := startApp(t)
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	for _, p := range []string{"/", "/graph", "/notebooks/x", "/cardinality"} {
		code, ct, body := get(p)
		require.Equal(t, http.StatusOK, code, p)
		require.Equal(t, "text/html; charset=utf-8", ct, p)
		require.Contains(t, body, "/ui/assets/app.js", p)
	}
	code, _, body := get("/ui/settings.json")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"multitenancy":true,"version":"`+Version+`","auth":"header"}`, body)
	code, _, _ = get("/no-such-page")
	require.Equal(t, http.StatusNotFound, code)
	// The status pages the UI links stay where they were (the rings and
	// memberlist exist in distributed mode only).
	for _, p := range []string{"/services", "/config", "/runtime_config", "/metrics", "/ready"} {
		code, _, body := get(p)
		require.Equal(t, http.StatusOK, code, p)
		require.NotContains(t, body, "/ui/assets/app.js", p)
	}
}

// The UI is the ui role's: beside a query-frontend it answers "/", and a
// process without the role links its status pages there instead.
func TestUIOnlyWithTheUIRole(t *testing.T) {
	f := func(target, want, notWant string) {
		t.Helper()
		base, stop := runApp(t, "-target="+target, "-memberlist.bind-port=0", "-grpc.listen-address=127.0.0.1:0")
		defer func() { require.NoError(t, stop()) }()
		resp, err := http.Get(base + "/")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, target)
		require.Contains(t, string(b), want, target)
		require.NotContains(t, string(b), notWant, target)
	}
	f("query-frontend,ui", "/ui/assets/app.js", "target query-frontend,ui")
	f("compactor", "target compactor", "/ui/assets/app.js")
}
