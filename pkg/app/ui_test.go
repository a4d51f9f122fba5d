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
	require.JSONEq(t, `{"multitenancy":true,"version":"`+Version+`"}`, body)
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
