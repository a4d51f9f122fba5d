package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// notebook is what the test reads of the notebooks API's answers.
type notebook struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Title   string `json:"title"`
	Cells   []struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
		Expr string `json:"expr"`
		View string `json:"view"`
	} `json:"cells"`
	Created string `json:"created"`
	Updated string `json:"updated"`
}

// notebookCall sends one request of the notebooks API as tenant and
// returns the status and the body.
func notebookCall(t *testing.T, w *weftProcess, tenant, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, w.URL()+"/api/v1/notebooks"+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", tenant)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func decodeAs[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

// Notebooks through a real all-in-one with multi-tenancy on: each tenant
// sees only its own, a stale update is refused, and they survive a
// restart, since they live in the bucket.
func TestNotebooksPerTenantSurviveARestart(t *testing.T) {
	w := startWeft(t, weftOptions{})

	code, b := notebookCall(t, w, "team-a", http.MethodPost, "", `{"title": "CPU of the API",
	  "time": {"from": "now-1h", "to": "now"},
	  "cells": [{"kind": "markdown", "text": "# Notes"},
	            {"kind": "promql", "expr": "rate(process_cpu_seconds_total[5m])", "view": "graph"},
	            {"kind": "promql", "expr": "up", "view": "table"}]}`)
	require.Equal(t, http.StatusOK, code, string(b))
	created := decodeAs[notebook](t, b)
	require.NotEmpty(t, created.ID)
	require.Equal(t, 1, created.Version)
	require.Len(t, created.Cells, 3)

	// Another tenant neither reads nor lists it.
	code, b = notebookCall(t, w, "team-b", http.MethodGet, "/"+created.ID, "")
	require.Equal(t, http.StatusNotFound, code, string(b))
	require.Equal(t, "not_found", decodeAs[map[string]string](t, b)["errorType"])
	code, b = notebookCall(t, w, "team-b", http.MethodGet, "", "")
	require.Equal(t, http.StatusOK, code, string(b))
	require.JSONEq(t, `[]`, string(b))
	code, b = notebookCall(t, w, "team-b", http.MethodPut, "/"+created.ID, `{"version": 1, "title": "mine now"}`)
	require.Equal(t, http.StatusNotFound, code, string(b))

	// Updates name the version they replace.
	update := `{"version": 1, "title": "CPU of the API, per job",
	  "cells": [{"kind": "markdown", "text": "# Notes"}, {"kind": "promql", "expr": "sum by (job) (up)"}]}`
	code, b = notebookCall(t, w, "team-a", http.MethodPut, "/"+created.ID, update)
	require.Equal(t, http.StatusOK, code, string(b))
	updated := decodeAs[notebook](t, b)
	require.Equal(t, 2, updated.Version)
	require.Equal(t, created.Created, updated.Created)
	require.Equal(t, "graph", updated.Cells[1].View)

	code, b = notebookCall(t, w, "team-a", http.MethodPut, "/"+created.ID, strings.Replace(update, "per job", "stale", 1))
	require.Equal(t, http.StatusConflict, code, string(b))
	require.Equal(t, "conflict", decodeAs[map[string]string](t, b)["errorType"])

	w.Stop()
	w.Restart()

	code, b = notebookCall(t, w, "team-a", http.MethodGet, "/"+created.ID, "")
	require.Equal(t, http.StatusOK, code, string(b))
	if diff := cmp.Diff(updated, decodeAs[notebook](t, b)); diff != "" {
		t.Fatalf("the notebook changed across the restart (-before +after):\n%s", diff)
	}
	code, b = notebookCall(t, w, "team-a", http.MethodGet, "", "")
	require.Equal(t, http.StatusOK, code, string(b))
	list := decodeAs[[]map[string]any](t, b)
	require.Len(t, list, 1)
	require.Equal(t, "CPU of the API, per job", list[0]["title"])
	code, b = notebookCall(t, w, "team-a", http.MethodGet, "/"+created.ID+"/versions", "")
	require.Equal(t, http.StatusOK, code, string(b))
	require.Len(t, decodeAs[[]map[string]any](t, b), 2)
	code, b = notebookCall(t, w, "team-b", http.MethodGet, "/"+created.ID, "")
	require.Equal(t, http.StatusNotFound, code, string(b))
}
