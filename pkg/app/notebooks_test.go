package app

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore/providers/filesystem"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/compactor"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/notebook"
	"github.com/weft-io/weft/pkg/storegateway"
	"github.com/weft-io/weft/pkg/tenant"
)

// call sends a request as tenantID and returns the status and the body.
func call(t *testing.T, tenantID, method, u, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if tenantID != "" {
		req.Header.Set(tenant.Header, tenantID)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// A PromQL cell's rule export is a rule group the ruler's config API
// takes as it is.
func TestNotebookRuleExportAcceptedByTheRuler(t *testing.T) {
	base := startApp(t)
	code, body := call(t, "team-a", http.MethodPost, base+notebook.Prefix, "application/json", `{"title": "x",
	  "variables": [{"name": "job", "label": "job", "value": "api"}],
	  "cells": [{"kind": "promql", "expr": "sum by (job) (rate(http_requests_total{job=\"$job\"}[5m]))"},
	            {"kind": "promql", "expr": "up == 0", "view": "table"}]}`)
	require.Equal(t, http.StatusOK, code, body)
	var n notebook.Notebook
	require.NoError(t, json.Unmarshal([]byte(body), &n))

	f := func(cell, query, group, wantExpr string) {
		t.Helper()
		code, y := call(t, "team-a", http.MethodGet, base+notebook.Prefix+"/"+n.ID+"/cells/"+cell+"/rule?"+query, "", "")
		require.Equal(t, http.StatusOK, code, y)
		code, ans := call(t, "team-a", http.MethodPost, base+"/prometheus/config/v1/rules/notebooks", "application/yaml", y)
		require.Equal(t, http.StatusAccepted, code, ans)
		code, got := call(t, "team-a", http.MethodGet, base+"/prometheus/config/v1/rules/notebooks/"+url.PathEscape(group), "", "")
		require.Equal(t, http.StatusOK, code, got)
		require.Contains(t, got, wantExpr)
	}
	f("0", "type=recording&record=job:http_requests:rate5m", "job:http_requests:rate5m", `sum by (job) (rate(http_requests_total{job="api"}[5m]))`)
	f("1", "type=alerting&alert=InstanceDown&for=5m&group=availability&interval=30s", "availability", "up == 0")
}

// The ui role runs alone and beside others in a distributed process.
func TestUIRoleTargets(t *testing.T) {
	f := func(target string, want ...string) {
		t.Helper()
		cfg, _, err := ParseFlags([]string{"-http.listen-address=127.0.0.1:0", "-data.dir=" + t.TempDir(), "-target=" + target}, nil)
		require.NoError(t, err)
		a, err := New(cfg, logutil.Nop())
		require.NoError(t, err)
		defer a.closeUnstarted()
		for _, m := range want {
			require.Contains(t, a.services, m, target)
		}
		require.NotNil(t, a.notebooks)
	}
	f("all", RoleUI, modBucket)
	f("ui", RoleUI, modBucket, modKV)
	f("query-frontend,ui", RoleUI, RoleQueryFront, modBucket)

	// A ui process alone serves the notebooks.
	base, stop := runApp(t, "-target=ui", "-memberlist.bind-port=0", "-auth.multitenancy-enabled=false")
	code, body := call(t, "", http.MethodPost, base+notebook.Prefix, "", `{"title": "alone"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = call(t, "", http.MethodGet, base+notebook.Prefix, "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"title":"alone"`)
	services := getServices(t, base)
	var does string
	for _, s := range services {
		if s.Name == RoleUI {
			does = s.Does
		}
	}
	require.Contains(t, does, "notebooks")
	require.NoError(t, stop())

	// Beside a query-frontend, in front of queriers elsewhere.
	base, stop = runApp(t, "-target=query-frontend,ui", "-memberlist.bind-port=0", "-grpc.listen-address=127.0.0.1:0")
	code, body = call(t, "team-a", http.MethodPost, base+notebook.Prefix, "", `{"title": "beside the frontend"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = call(t, "team-b", http.MethodGet, base+notebook.Prefix, "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `[]`, body)
	require.NoError(t, stop())
}

// A tenant's notebooks share its prefix with its blocks: the compactor,
// the bucket index and the store-gateway's block listing skip them, and
// leave them alone.
func TestNotebooksAreNotBlocks(t *testing.T) {
	dir := t.TempDir()
	bkt, err := filesystem.NewBucket(dir)
	require.NoError(t, err)
	var lim limits.Limits
	fs := flag.NewFlagSet("", flag.PanicOnError)
	lim.RegisterFlags(fs)
	overrides := limits.NewOverrides(lim, nil)
	nb := notebook.New(bkt, overrides, parser.NewParser(parser.Options{}), nil)
	srv := httptest.NewServer(nb.Handler(tenant.Resolver{MultiTenancy: true}.FromRequest))
	defer srv.Close()
	code, body := call(t, "team-a", http.MethodPost, srv.URL+notebook.Prefix, "", `{"title": "keep me"}`)
	require.Equal(t, http.StatusOK, code, body)
	var n notebook.Notebook
	require.NoError(t, json.Unmarshal([]byte(body), &n))

	var ccfg compactor.Config
	ccfg.RegisterFlags(flag.NewFlagSet("", flag.PanicOnError))
	ccfg.DataDir = filepath.Join(t.TempDir(), "compactor")
	c, err := compactor.New(ccfg, bkt, overrides, nil, nil, nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, c.RunOnce(ctx))
	require.NoError(t, c.Cleanup(ctx))

	// Nothing of blocks: the compactor wrote no index.
	_, err = bucketindex.Read(ctx, bkt, "team-a")
	require.ErrorIs(t, err, bucketindex.ErrNotFound)
	idx, err := storegateway.ReadIndex(ctx, bkt, "team-a")
	require.NoError(t, err)
	require.Empty(t, idx.Blocks)
	tenants, err := bucketindex.Tenants(ctx, bkt)
	require.NoError(t, err)
	require.Equal(t, []string{"team-a"}, tenants)

	code, body = call(t, "team-a", http.MethodGet, srv.URL+notebook.Prefix+"/"+n.ID, "", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "keep me")
}
