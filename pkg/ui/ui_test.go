package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func serve(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerRoutes(t *testing.T) {
	h, err := newHandler(Options{MultiTenancy: true, Version: "1.2.3"})
	require.NoError(t, err)

	f := func(path string, code int, contentType, contains string) {
		t.Helper()
		rec := serve(t, h, http.MethodGet, path, nil)
		require.Equal(t, code, rec.Code, path)
		if contentType != "" {
			require.Equal(t, contentType, rec.Header().Get("Content-Type"), path)
		}
		require.Contains(t, rec.Body.String(), contains, path)
	}
	// Every app route answers the same index.html.
	for _, p := range []string{"/", "/graph", "/explain", "/explorer", "/notebooks", "/notebooks/01JABC", "/cardinality"} {
		f(p, http.StatusOK, "text/html; charset=utf-8", `<script type="module" src="/ui/assets/app.js">`)
	}
	f("/ui/assets/app.js", http.StatusOK, "text/javascript; charset=utf-8", "")
	f("/ui/assets/app.css", http.StatusOK, "text/css; charset=utf-8", "")
	f("/ui/settings.json", http.StatusOK, "application/json", `"multitenancy":true`)
	// Anything else is not the UI's.
	for _, p := range []string{"/nope", "/notebooks/", "/notebooks/a/b", "/graph/x", "/ui/assets/missing.js", "/ui/", "/index.html"} {
		f(p, http.StatusNotFound, "", "")
	}
}

func TestHandlerSettings(t *testing.T) {
	for _, mt := range []bool{false, true} {
		h, err := newHandler(Options{MultiTenancy: mt, Version: "v9"})
		require.NoError(t, err)
		rec := serve(t, h, http.MethodGet, "/ui/settings.json", nil)
		var got map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		require.Equal(t, map[string]any{"multitenancy": mt, "version": "v9"}, got)
	}
	h, err := newHandler(Options{MultiTenancy: true, Version: "v9", Auth: "tokens"})
	require.NoError(t, err)
	rec := serve(t, h, http.MethodGet, "/ui/settings.json", nil)
	require.JSONEq(t, `{"multitenancy":true,"version":"v9","auth":"tokens"}`, rec.Body.String())
}

func TestIsOwnPath(t *testing.T) {
	for _, p := range []string{"/", "/graph", "/notebooks/01JABC", "/ui/settings.json", "/ui/assets/app.js"} {
		require.True(t, IsOwnPath(p), p)
	}
	for _, p := range []string{"/api/v1/notebooks", "/prometheus/api/v1/query", "/ui/", "/config", "/notebooks/a/b"} {
		require.False(t, IsOwnPath(p), p)
	}
}

func TestHandlerCaching(t *testing.T) {
	h, err := newHandler(Options{})
	require.NoError(t, err)
	rec := serve(t, h, http.MethodGet, "/ui/assets/app.js", nil)
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
	rec = serve(t, h, http.MethodGet, "/ui/assets/app.js", map[string]string{"If-None-Match": etag})
	require.Equal(t, http.StatusNotModified, rec.Code)
}

func TestHandlerMethods(t *testing.T) {
	h, err := newHandler(Options{})
	require.NoError(t, err)
	rec := serve(t, h, http.MethodHead, "/graph", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	rec = serve(t, h, http.MethodPost, "/graph", nil)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	// The page forbids inline scripts: a notebook's markdown cannot run any.
	rec = serve(t, h, http.MethodGet, "/notebooks/x", nil)
	require.True(t, strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'"))
}
