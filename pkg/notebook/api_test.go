package notebook

import (
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore/providers/filesystem"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// env is a notebooks API over a filesystem bucket in a temporary
// directory, with multi-tenancy on.
type env struct {
	t   *testing.T
	dir string
	srv *httptest.Server
	nb  *Notebooks
}

// defaultLimits returns the limits of the flags' defaults, changed by set.
func defaultLimits(t *testing.T, set func(*limits.Limits)) limits.Limits {
	var l limits.Limits
	fs := flag.NewFlagSet("", flag.PanicOnError)
	l.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	if set != nil {
		set(&l)
	}
	return l
}

func newEnv(t *testing.T, set func(*limits.Limits)) *env {
	t.Helper()
	return newEnvWith(t, limits.NewOverrides(defaultLimits(t, set), nil))
}

func newEnvWith(t *testing.T, lim *limits.Overrides) *env {
	t.Helper()
	dir := t.TempDir()
	bkt, err := filesystem.NewBucket(dir)
	require.NoError(t, err)
	nb := New(bkt, lim, parser.NewParser(parser.Options{}), nil)
	// A clock that moves a second at each save, so that saves sort.
	var (
		mu  sync.Mutex
		now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	)
	nb.store.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	mux := http.NewServeMux()
	h := nb.Handler(tenant.Resolver{MultiTenancy: true}.FromRequest)
	mux.Handle(Prefix, h)
	mux.Handle(Prefix+"/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, dir: dir, srv: srv, nb: nb}
}

// do sends a request as tenant and returns the status and the body.
func (e *env) do(tenantID, method, path, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set(tenant.Header, tenantID)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

// notebook sends a request that must answer a notebook with 200.
func (e *env) notebook(tenantID, method, path, body string) *Notebook {
	e.t.Helper()
	code, b := e.do(tenantID, method, path, body)
	require.Equal(e.t, http.StatusOK, code, string(b))
	var n Notebook
	require.NoError(e.t, json.Unmarshal(b, &n))
	return &n
}

func (e *env) summaries(tenantID, path string) []Summary {
	e.t.Helper()
	code, b := e.do(tenantID, http.MethodGet, path, "")
	require.Equal(e.t, http.StatusOK, code, string(b))
	var out []Summary
	require.NoError(e.t, json.Unmarshal(b, &out))
	return out
}

// requireError checks an answer in Prometheus' error JSON.
func requireError(t *testing.T, code int, body []byte, wantCode int, wantType, contains string) {
	t.Helper()
	require.Equal(t, wantCode, code, string(body))
	var env struct{ Status, ErrorType, Error string }
	require.NoError(t, json.Unmarshal(body, &env), string(body))
	require.Equal(t, "error", env.Status)
	require.Equal(t, wantType, env.ErrorType, env.Error)
	require.Contains(t, env.Error, contains)
}

// objects lists every object of the bucket.
func (e *env) objects() []string {
	e.t.Helper()
	var out []string
	require.NoError(e.t, filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(e.dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	}))
	return out
}

const sample = `{"title": "CPU of the API",
 "time": {"from": "now-1h", "to": "now", "step": "15s"},
 "variables": [{"name": "job", "label": "job", "match": "up", "value": "api"}],
 "cells": [{"kind": "markdown", "text": "# Notes"},
           {"kind": "promql", "expr": "rate(x{job=\"$job\"}[5m])", "view": "graph"},
           {"kind": "promql", "expr": "sum by (job) (up)", "view": "table", "title": "Up"}]}`

func TestCreateGetListUpdateDelete(t *testing.T) {
	e := newEnv(t, nil)
	n := e.notebook("team-a", http.MethodPost, Prefix, sample)
	require.Len(t, n.ID, 26)
	require.Equal(t, 1, n.Version)
	require.Equal(t, "CPU of the API", n.Title)
	require.Len(t, n.Cells, 3)
	require.Equal(t, n.Created, n.Updated)
	require.Equal(t, "2026-12-03T10:00:01.000Z", n.Created)
	require.Equal(t, []string{"team-a/notebooks/" + n.ID + "/0000000001.json"}, e.objects())

	require.Equal(t, n, e.notebook("team-a", http.MethodGet, Prefix+"/"+n.ID, ""))
	require.Equal(t, n, e.notebook("team-a", http.MethodGet, Prefix+"/"+strings.ToLower(n.ID), ""), "IDs are case-insensitive")

	// A client may send back what it got: the server's fields are ignored
	// on create.
	b, err := json.Marshal(n)
	require.NoError(t, err)
	other := e.notebook("team-a", http.MethodPost, Prefix+"/", string(b))
	require.NotEqual(t, n.ID, other.ID)
	require.Equal(t, 1, other.Version)

	list := e.summaries("team-a", Prefix)
	require.Len(t, list, 2)
	require.Equal(t, other.ID, list[0].ID, "newest first")
	require.Equal(t, 3, *list[1].Cells)

	// Update: names the version it replaces.
	upd := strings.Replace(sample, `"title": "CPU of the API"`, `"version": 1, "title": "CPU, renamed"`, 1)
	n2 := e.notebook("team-a", http.MethodPut, Prefix+"/"+n.ID, upd)
	require.Equal(t, 2, n2.Version)
	require.Equal(t, n.ID, n2.ID)
	require.Equal(t, n.Created, n2.Created)
	require.Equal(t, "CPU, renamed", n2.Title)
	list = e.summaries("team-a", Prefix)
	require.Equal(t, n.ID, list[0].ID, "the updated one is the newest")
	require.Equal(t, "CPU, renamed", list[0].Title)
	require.Equal(t, 2, list[0].Version)

	// A stale update is refused and changes nothing.
	code, body := e.do("team-a", http.MethodPut, Prefix+"/"+n.ID, strings.Replace(upd, "renamed", "stale", 1))
	requireError(t, code, body, http.StatusConflict, "conflict", "is at version 2, not 1")
	require.Equal(t, n2, e.notebook("team-a", http.MethodGet, Prefix+"/"+n.ID, ""))

	code, body = e.do("team-a", http.MethodDelete, Prefix+"/"+n.ID, "")
	require.Equal(t, http.StatusNoContent, code, string(body))
	code, body = e.do("team-a", http.MethodGet, Prefix+"/"+n.ID, "")
	requireError(t, code, body, http.StatusNotFound, "not_found", "notebook not found")
	code, body = e.do("team-a", http.MethodDelete, Prefix+"/"+n.ID, "")
	requireError(t, code, body, http.StatusNotFound, "not_found", "notebook not found")
	code, body = e.do("team-a", http.MethodPut, Prefix+"/"+n.ID, strings.Replace(upd, `"version": 1`, `"version": 2`, 1))
	requireError(t, code, body, http.StatusNotFound, "not_found", "notebook not found")
	require.Len(t, e.summaries("team-a", Prefix), 1)
	require.Equal(t, []string{"team-a/notebooks/" + other.ID + "/0000000001.json"}, e.objects())
}

func TestVersionsRestoreAndPruning(t *testing.T) {
	e := newEnv(t, func(l *limits.Limits) { l.NotebookVersionsKept = 3 })
	n := e.notebook("t", http.MethodPost, Prefix, `{"title": "v1", "cells": []}`)
	for v := 1; v < 5; v++ {
		body := `{"version": ` + itoa(v) + `, "title": "v` + itoa(v+1) + `"}`
		require.Equal(t, v+1, e.notebook("t", http.MethodPut, Prefix+"/"+n.ID, body).Version)
	}
	versions := e.summaries("t", Prefix+"/"+n.ID+"/versions")
	require.Equal(t, []int{5, 4, 3}, versionsOf(versions), "the last 3 kept, newest first")
	require.Equal(t, "v4", versions[1].Title)
	require.Empty(t, versions[1].ID)
	require.Len(t, e.objects(), 3)

	code, body := e.do("t", http.MethodGet, Prefix+"/"+n.ID+"/versions/1", "")
	requireError(t, code, body, http.StatusNotFound, "not_found", "not found")
	require.Equal(t, "v3", e.notebook("t", http.MethodGet, Prefix+"/"+n.ID+"/versions/3", "").Title)

	// Restore: a new version with the old content.
	r := e.notebook("t", http.MethodPost, Prefix+"/"+n.ID+"/versions/3/restore", `{"version": 5}`)
	require.Equal(t, 6, r.Version)
	require.Equal(t, "v3", r.Title)
	require.Equal(t, n.Created, r.Created)
	require.Equal(t, []int{6, 5, 4}, versionsOf(e.summaries("t", Prefix+"/"+n.ID+"/versions")))

	code, body = e.do("t", http.MethodPost, Prefix+"/"+n.ID+"/versions/4/restore", `{"version": 5}`)
	requireError(t, code, body, http.StatusConflict, "conflict", "is at version 6, not 5")
	code, body = e.do("t", http.MethodPost, Prefix+"/"+n.ID+"/versions/3/restore", `{"version": 6}`)
	requireError(t, code, body, http.StatusNotFound, "not_found", "not found")
	code, body = e.do("t", http.MethodPost, Prefix+"/"+n.ID+"/versions/4/restore", `{}`)
	requireError(t, code, body, http.StatusBadRequest, "bad_data", "version is required")
	code, body = e.do("t", http.MethodPost, Prefix+"/"+n.ID+"/versions/4/restore", `{"version": 6, "x": 1}`)
	requireError(t, code, body, http.StatusBadRequest, "bad_data", `unknown field "x"`)
	require.Equal(t, 6, e.notebook("t", http.MethodGet, Prefix+"/"+n.ID, "").Version)

	// Deleting removes every version.
	code, _ = e.do("t", http.MethodDelete, Prefix+"/"+n.ID, "")
	require.Equal(t, http.StatusNoContent, code)
	require.Empty(t, e.objects())
	code, body = e.do("t", http.MethodGet, Prefix+"/"+n.ID+"/versions", "")
	requireError(t, code, body, http.StatusNotFound, "not_found", "not found")
}

func itoa(v int) string { b, _ := json.Marshal(v); return string(b) }

func versionsOf(s []Summary) []int {
	var out []int
	for _, x := range s {
		out = append(out, x.Version)
	}
	return out
}

// Every bad input is a 400 that stores nothing.
func TestBadInputStoresNothing(t *testing.T) {
	e := newEnv(t, func(l *limits.Limits) { l.MaxNotebookBytes = 2048 })
	n := e.notebook("t", http.MethodPost, Prefix, `{"title": "x", "cells": [{"kind": "promql", "expr": "up"}]}`)
	require.Equal(t, "graph", n.Cells[0].View, "the default view")
	stored := e.objects()
	f := func(method, body, contains string) {
		t.Helper()
		path := Prefix
		if method == http.MethodPut {
			path += "/" + n.ID
		}
		code, b := e.do("t", method, path, body)
		requireError(t, code, b, http.StatusBadRequest, "bad_data", contains)
		require.Equal(t, stored, e.objects())
	}
	for _, m := range []string{http.MethodPost, http.MethodPut} {
		v := ""
		if m == http.MethodPut {
			v = `"version": 1, `
		}
		f(m, `{`, "cannot parse the body")
		f(m, ``, "cannot parse the body")
		f(m, `[]`, "cannot parse the body")
		f(m, `{`+v+`"title": "x"} {}`, "data after the JSON object")
		f(m, `{`+v+`"title": "x", "owner": "me"}`, `unknown field "owner"`)
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "markdown", "text": "a", "html": "<b>"}]}`, `unknown field "html"`)
		f(m, `{`+v+`"cells": []}`, "the title is required")
		f(m, `{`+v+`"title": "  "}`, "the title is required")
		f(m, `{`+v+`"title": "`+strings.Repeat("é", 201)+`"}`, "longer than 200 characters")
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "python", "text": "1"}]}`, `cell 1: unknown kind "python"`)
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "markdown"}, {"kind": "promql", "expr": " "}]}`, "cell 2: the expr of a promql cell is empty")
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "promql", "expr": "rate(x[5m]"}]}`, "cell 1: cannot parse the expr")
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "promql", "expr": "up", "view": "pie"}]}`, `cell 1: unknown view "pie"`)
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "markdown", "text": "a", "expr": "up"}]}`, "a markdown cell has text")
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "promql", "expr": "up", "text": "a"}]}`, "a promql cell has expr")
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "promql", "expr": "x{job=~$job}"}], "variables": [{"name": "job", "label": "job", "value": "a"}]}`, "cannot parse the expr")
		f(m, `{`+v+`"title": "x", "variables": [{"name": "1job", "label": "job"}]}`, `the name "1job" must match`)
		f(m, `{`+v+`"title": "x", "variables": [{"name": "job", "label": "job"}, {"name": "job", "label": "x"}]}`, `"job" is repeated`)
		f(m, `{`+v+`"title": "x", "variables": [{"name": "job", "label": ""}]}`, `is not a label name`)
		f(m, `{`+v+`"title": "x", "variables": [{"name": "job", "label": "job", "match": "up{"}]}`, `is not a series selector`)
		f(m, `{`+v+`"title": "x", "time": {"from": "yesterday"}}`, `time.from: "yesterday" is not`)
		f(m, `{`+v+`"title": "x", "time": {"from": "now-1x"}}`, `time.from: "now-1x"`)
		f(m, `{`+v+`"title": "x", "time": {"to": "now", "step": "-1"}}`, `time.step`)
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "markdown", "text": "`+strings.Repeat("a", 2048)+`"}]}`, "larger than tenant t's limit of 2048 bytes")
		f(m, `{`+v+`"title": "x", "cells": [{"kind": "markdown", "text": "`+strings.Repeat("a", 2048)+`"}]}`, "err-weft-max-notebook-bytes")
	}
	f(http.MethodPut, `{"title": "x"}`, "version is required")
	f(http.MethodPut, `{"version": 1, "id": "01J00000000000000000000000", "title": "x"}`, "the path names")

	// Time forms that are fine.
	for _, tr := range []string{`{"from": "now-1h", "to": "now"}`, `{"from": "now-2d/d", "to": "now+5m"}`,
		`{"from": "2026-12-03T10:00:00Z", "to": "1764756000.5", "step": "30"}`, `{"from": "", "step": "1m"}`} {
		e.notebook("t", http.MethodPost, Prefix, `{"title": "x", "time": `+tr+`}`)
	}
}

// The JSON stored is also bounded: a body under the limit whose stored form
// (with the server's fields) is over it is refused.
func TestStoredSizeLimit(t *testing.T) {
	e := newEnv(t, func(l *limits.Limits) { l.MaxNotebookBytes = 200 })
	body := `{"title":"` + strings.Repeat("a", 150) + `"}`
	require.Less(t, len(body), 200)
	code, b := e.do("t", http.MethodPost, Prefix, body)
	requireError(t, code, b, http.StatusBadRequest, "bad_data", "over tenant t's limit of 200 (make it smaller, or raise max_notebook_bytes / -ui.max-notebook-bytes) (err-weft-max-notebook-bytes)")
	require.Empty(t, e.objects())
}

func TestCountLimit(t *testing.T) {
	e := newEnv(t, func(l *limits.Limits) { l.MaxNotebooksPerTenant = 2 })
	a := e.notebook("t", http.MethodPost, Prefix, `{"title": "a"}`)
	e.notebook("t", http.MethodPost, Prefix, `{"title": "b"}`)
	code, b := e.do("t", http.MethodPost, Prefix, `{"title": "c"}`)
	requireError(t, code, b, http.StatusTooManyRequests, "too_many_requests", "tenant t has 2 notebooks, the limit is 2 (delete notebooks, or raise max_notebooks_per_tenant / -ui.max-notebooks-per-tenant) (err-weft-max-notebooks-per-tenant)")
	require.Len(t, e.objects(), 2)
	// Updates are not creations; another tenant has its own count.
	e.notebook("t", http.MethodPut, Prefix+"/"+a.ID, `{"version": 1, "title": "a2"}`)
	e.notebook("u", http.MethodPost, Prefix, `{"title": "c"}`)
	code, _ = e.do("t", http.MethodDelete, Prefix+"/"+a.ID, "")
	require.Equal(t, http.StatusNoContent, code)
	e.notebook("t", http.MethodPost, Prefix, `{"title": "c"}`)
}

// The limits follow the runtime overrides file, per tenant.
func TestLimitsFromTheRuntimeFile(t *testing.T) {
	defaults := defaultLimits(t, nil)
	rc, err := limits.ParseRuntimeConfig([]byte(`
overrides:
  small:
    max_notebooks_per_tenant: 1
    max_notebook_bytes: 300
    notebook_versions_kept: 1
`), defaults)
	require.NoError(t, err)
	e := newEnvWith(t, limits.NewOverrides(defaults, func() *limits.RuntimeConfig { return rc }))
	n := e.notebook("small", http.MethodPost, Prefix, `{"title": "a"}`)
	code, b := e.do("small", http.MethodPost, Prefix, `{"title": "b"}`)
	requireError(t, code, b, http.StatusTooManyRequests, "too_many_requests", "the limit is 1")
	code, b = e.do("small", http.MethodPut, Prefix+"/"+n.ID, `{"version": 1, "title": "`+strings.Repeat("a", 300)+`"}`)
	requireError(t, code, b, http.StatusBadRequest, "bad_data", "limit of 300 bytes")
	e.notebook("small", http.MethodPut, Prefix+"/"+n.ID, `{"version": 1, "title": "a2"}`)
	require.Equal(t, []int{2}, versionsOf(e.summaries("small", Prefix+"/"+n.ID+"/versions")))
	// Others keep the defaults.
	e.notebook("big", http.MethodPost, Prefix, `{"title": "a"}`)
	e.notebook("big", http.MethodPost, Prefix, `{"title": "`+strings.Repeat("a", 200)+`"}`)
}

// A tenant never sees, lists, changes or deletes another's notebooks.
func TestOtherTenantGets404(t *testing.T) {
	e := newEnv(t, nil)
	n := e.notebook("team-a", http.MethodPost, Prefix, sample)
	require.Empty(t, e.summaries("team-b", Prefix))
	p := Prefix + "/" + n.ID
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, p, ""},
		{http.MethodPut, p, `{"version": 1, "title": "mine"}`},
		{http.MethodDelete, p, ""},
		{http.MethodGet, p + "/versions", ""},
		{http.MethodGet, p + "/versions/1", ""},
		{http.MethodPost, p + "/versions/1/restore", `{"version": 1}`},
		{http.MethodGet, p + "/export/grafana", ""},
		{http.MethodGet, p + "/cells/1/rule?type=recording&record=x", ""},
	} {
		code, b := e.do("team-b", c.method, c.path, c.body)
		requireError(t, code, b, http.StatusNotFound, "not_found", "notebook not found")
	}
	require.Equal(t, n, e.notebook("team-a", http.MethodGet, p, ""))
	require.Len(t, e.objects(), 1)

	// Without a tenant: 401; an invalid one: 400.
	code, b := e.do("", http.MethodGet, Prefix, "")
	requireError(t, code, b, http.StatusUnauthorized, "unauthorized", "X-Scope-OrgID")
	code, b = e.do("../team-a", http.MethodGet, p, "")
	requireError(t, code, b, http.StatusBadRequest, "bad_data", "invalid tenant ID")
}

func TestRoutes(t *testing.T) {
	e := newEnv(t, nil)
	n := e.notebook("t", http.MethodPost, Prefix, sample)
	f := func(method, path string, code int, errType string) {
		t.Helper()
		got, b := e.do("t", method, path, "")
		requireError(t, got, b, code, errType, "")
	}
	f(http.MethodGet, Prefix+"/not-a-ulid", http.StatusNotFound, "not_found")
	f(http.MethodGet, Prefix+"/..%2f..%2fx", http.StatusNotFound, "not_found")
	f(http.MethodGet, Prefix+"/"+n.ID+"/versions/x", http.StatusNotFound, "not_found")
	f(http.MethodGet, Prefix+"/"+n.ID+"/versions/0", http.StatusNotFound, "not_found")
	f(http.MethodGet, Prefix+"/"+n.ID+"/export/pdf", http.StatusNotFound, "not_found")
	f(http.MethodGet, Prefix+"/"+n.ID+"/nothing", http.StatusNotFound, "not_found")
	f(http.MethodPatch, Prefix, http.StatusMethodNotAllowed, "bad_data")
	f(http.MethodPost, Prefix+"/"+n.ID, http.StatusMethodNotAllowed, "bad_data")
	f(http.MethodDelete, Prefix+"/"+n.ID+"/versions", http.StatusMethodNotAllowed, "bad_data")
	f(http.MethodGet, Prefix+"/"+n.ID+"/versions/1/restore", http.StatusMethodNotAllowed, "bad_data")
	f(http.MethodPost, Prefix+"/"+n.ID+"/export/grafana", http.StatusMethodNotAllowed, "bad_data")
}

// Concurrent updates of one notebook from the same version: one wins,
// the others get 409.
func TestConcurrentUpdates(t *testing.T) {
	e := newEnv(t, nil)
	n := e.notebook("t", http.MethodPost, Prefix, `{"title": "a"}`)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
	)
	for range 8 {
		wg.Go(func() {
			code, _ := e.do("t", http.MethodPut, Prefix+"/"+n.ID, `{"version": 1, "title": "b"}`)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusConflict: 7}, codes)
	require.Equal(t, 2, e.notebook("t", http.MethodGet, Prefix+"/"+n.ID, "").Version)
}

func TestGrafanaExport(t *testing.T) {
	e := newEnv(t, nil)
	n := e.notebook("t", http.MethodPost, Prefix, strings.Replace(sample, `"variables": [`,
		`"variables": [{"name": "instance", "label": "instance"}, `, 1))
	code, b := e.do("t", http.MethodGet, Prefix+"/"+n.ID+"/export/grafana", "")
	require.Equal(t, http.StatusOK, code, string(b))
	var d map[string]any
	require.NoError(t, json.Unmarshal(b, &d))
	want := `{
  "title": "CPU of the API", "uid": "` + n.ID + `", "schemaVersion": 39, "tags": ["weft-notebook"], "editable": true, "links": [],
  "time": {"from": "now-1h", "to": "now"},
  "templating": {"list": [
    {"name": "instance", "label": "instance", "type": "query", "query": "label_values(instance)", "definition": "label_values(instance)", "refresh": 2, "current": {"text": "", "value": ""}},
    {"name": "job", "label": "job", "type": "query", "query": "label_values(up, job)", "definition": "label_values(up, job)", "refresh": 2, "current": {"text": "api", "value": "api"}}]},
  "panels": [
    {"id": 1, "type": "text", "title": "", "gridPos": {"h": 4, "w": 24, "x": 0, "y": 0}, "options": {"mode": "markdown", "content": "# Notes"}},
    {"id": 2, "type": "timeseries", "title": "rate(x{job=\"$job\"}[5m])", "gridPos": {"h": 8, "w": 24, "x": 0, "y": 4},
     "targets": [{"refId": "A", "expr": "rate(x{job=\"$job\"}[5m])", "range": true}]},
    {"id": 3, "type": "table", "title": "Up", "gridPos": {"h": 8, "w": 24, "x": 0, "y": 12},
     "targets": [{"refId": "A", "expr": "sum by (job) (up)", "instant": true, "range": false, "format": "table"}]}]}`
	require.JSONEq(t, want, string(b))

	// Absolute times; unix seconds become RFC3339.
	n = e.notebook("t", http.MethodPost, Prefix, `{"title": "x", "time": {"from": "1764756000", "to": "2026-12-03T11:00:00Z"}}`)
	code, b = e.do("t", http.MethodGet, Prefix+"/"+n.ID+"/export/grafana", "")
	require.Equal(t, http.StatusOK, code, string(b))
	var got Dashboard
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, DashboardTime{From: "2025-12-03T10:00:00Z", To: "2026-12-03T11:00:00Z"}, got.Time)
	require.Empty(t, got.Panels)
}

func TestRuleExport(t *testing.T) {
	e := newEnv(t, nil)
	n := e.notebook("t", http.MethodPost, Prefix, sample)
	rule := func(cell, query string) (int, string) {
		t.Helper()
		code, b := e.do("t", http.MethodGet, Prefix+"/"+n.ID+"/cells/"+cell+"/rule?"+query, "")
		return code, string(b)
	}
	f := func(cell, query, want string) {
		t.Helper()
		code, b := rule(cell, query)
		require.Equal(t, http.StatusOK, code, b)
		require.Equal(t, want, b)
		// Prometheus' rule file parser takes it, as the ruler does.
		_, errs := rulefmt.Parse([]byte("groups:\n- "+strings.ReplaceAll(strings.TrimSuffix(b, "\n"), "\n", "\n  ")+"\n"),
			false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
		require.Empty(t, errs)
	}
	// Variables take their values.
	f("1", "type=recording&record=job:x:rate5m", "name: job:x:rate5m\nrules:\n    - record: job:x:rate5m\n      expr: rate(x{job=\"api\"}[5m])\n")
	f("2", "type=alerting&alert=Down&for=5m&group=api&interval=1m", "name: api\ninterval: 1m\nrules:\n    - alert: Down\n      expr: sum by (job) (up)\n      for: 5m\n")
	f("2", "type=alerting&alert=Down", "name: Down\nrules:\n    - alert: Down\n      expr: sum by (job) (up)\n")

	bad := func(cell, query, contains string) {
		t.Helper()
		code, b := rule(cell, query)
		requireError(t, code, []byte(b), http.StatusBadRequest, "bad_data", contains)
	}
	bad("0", "type=recording&record=x", "cell 0 is a markdown cell")
	bad("3", "type=recording&record=x", "cell 3 does not exist")
	bad("-1", "type=recording&record=x", "cell -1 does not exist")
	bad("x", "type=recording&record=x", `cell index "x" is not a number`)
	bad("1", "type=recording&record=", `record "" is not a valid metric name`)
	bad("1", "type=recording&record=x{a}", `is not a valid metric name`)
	bad("1", "type=recording&record=x&for=5m", `a recording rule has no for`)
	bad("1", "type=alerting&alert=", `alert "" is not a valid alert name`)
	bad("1", "type=alerting&alert=A&for=5", `for: `)
	bad("1", "type=alerting&alert=A&interval=0s", `interval "0s" is not a positive duration`)
	bad("1", "type=graph", `type "graph": use recording or alerting`)
}
