package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// dist is the built app: index.html and assets/ (scripts/build-ui.sh).
//
//go:embed dist
var dist embed.FS

// AssetsPrefix is where the app's scripts and styles are served.
const AssetsPrefix = "/ui/assets/"

// SettingsPath answers the settings the app needs before its first call.
const SettingsPath = "/ui/settings.json"

// appRoutes are the paths the app routes itself (history.pushState): each
// answers index.html, so a reload or a shared link lands on the same page.
var appRoutes = []string{"/", "/graph", "/explain", "/explorer", "/notebooks", "/cardinality"}

// Options configure the UI handler.
type Options struct {
	// MultiTenancy shows the tenant field, whose value the app sends as
	// X-Scope-OrgID.
	MultiTenancy bool
	// Version is shown in the navigation bar.
	Version string
	// Auth is the server's -auth.type: with "tokens" the app asks for a
	// bearer token or a user and password and sends them on every call.
	Auth string
}

// file is one embedded file with what serving it needs.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// handler serves the app.
type handler struct {
	index    file
	assets   map[string]file
	settings []byte
}

// Handler returns the UI's handler, to mount at "/": it answers the app's
// routes, its assets and its settings, and 404 for every other path.
func Handler(o Options) http.Handler {
	h, err := newHandler(o)
	if err != nil {
		// Only a broken build gets here (the files are embedded at
		// compile time): say so on every page rather than stop weft.
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		})
	}
	return h
}

func newHandler(o Options) (*handler, error) {
	h := &handler{assets: map[string]file{}}
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		return nil, fmt.Errorf("cannot read the embedded UI: %w", err)
	}
	h.index = newFile(index, "text/html; charset=utf-8")
	err = fs.WalkDir(dist, "dist/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		h.assets[strings.TrimPrefix(p, "dist/assets/")] = newFile(b, contentType(p))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the embedded UI's assets: %w", err)
	}
	h.settings, err = json.Marshal(struct {
		MultiTenancy bool   `json:"multitenancy"`
		Version      string `json:"version"`
		Auth         string `json:"auth,omitempty"`
	}{o.MultiTenancy, o.Version, o.Auth})
	if err != nil {
		return nil, fmt.Errorf("cannot encode the UI's settings: %w", err)
	}
	return h, nil
}

func newFile(b []byte, ct string) file {
	sum := sha256.Sum256(b)
	return file{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}

// IsOwnPath reports whether p is served by the UI itself (a page of the
// app, its assets, its settings) rather than by an API: such paths need no
// credentials, since the app asks for them once loaded.
func IsOwnPath(p string) bool {
	return p == SettingsPath || strings.HasPrefix(p, AssetsPrefix) || isAppRoute(p)
}

// isAppRoute reports whether p is a page of the app.
func isAppRoute(p string) bool {
	for _, r := range appRoutes {
		if p == r {
			return true
		}
	}
	// /notebooks/{id}: one non-empty segment.
	id, ok := strings.CutPrefix(p, "/notebooks/")
	return ok && id != "" && !strings.Contains(id, "/")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var f file
	switch {
	case p == SettingsPath:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(h.settings)
		return
	case strings.HasPrefix(p, AssetsPrefix):
		a, ok := h.assets[strings.TrimPrefix(p, AssetsPrefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f = a
	case isAppRoute(p):
		f = h.index
		// Defence in depth under the markdown sanitiser: no inline script
		// or event handler runs, whatever a notebook cell holds.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; object-src 'none'; base-uri 'self'; frame-ancestors 'self'")
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// The file names carry no hash, so browsers revalidate every time
	// (cheaply, with the ETag) and never run a stale bundle.
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
