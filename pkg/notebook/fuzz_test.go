package notebook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// FuzzNotebookBody decodes and validates arbitrary notebook bodies as the
// API does. That must never panic, and a notebook that validates must be
// stable: its JSON decodes and validates again to the same JSON.
func FuzzNotebookBody(f *testing.F) {
	f.Add(`{"title": "x", "cells": [{"kind": "promql", "expr": "up"}]}`)
	f.Add(`{"title": " t ", "time": {"from": "now-1h", "to": "now", "step": "15s"}, "variables": [{"name": "job", "values": ["a"]}], "cells": [{"kind": "markdown", "text": "# h"}, {"kind": "promql", "expr": "rate(x{job=\"$job\"}[5m])", "view": "table"}]}`)
	f.Add(`{"title": "x", "cells": [{"kind": "promql", "expr": "sum("}]}`)
	f.Add(`{"version": 1, "title": "x"} {}`)
	f.Add(`[]`)

	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, body string) {
		n, ok := decodeAndValidate(p, body)
		if !ok {
			return
		}
		once, err := json.Marshal(n)
		require.NoError(t, err)
		again, ok := decodeAndValidate(p, string(once))
		require.True(t, ok, "a valid notebook's JSON does not validate: %s", once)
		twice, err := json.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(once), string(twice))
	})
}

// decodeAndValidate is what create and update do with a body before
// storing it.
func decodeAndValidate(p parser.Parser, body string) (*Notebook, bool) {
	r := httptest.NewRequest(http.MethodPost, Prefix, strings.NewReader(body))
	var n Notebook
	if err := decodeStrict(httptest.NewRecorder(), r, 1<<20, "t", &n); err != nil {
		return nil, false
	}
	if err := n.validate(p); err != nil {
		return nil, false
	}
	return &n, true
}

// Even with max_notebook_bytes at 0 (no limit), a body is bounded, and a
// Content-Length above the bound is refused before the body is read.
func TestBodyAlwaysBounded(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, Prefix, bytes.NewReader(nil))
	r.ContentLength = maxRequestBytes + 1
	var n Notebook
	err := decodeStrict(httptest.NewRecorder(), r, 0, "t", &n)
	require.ErrorContains(t, err, errIDMaxNotebookBytes)

	r = httptest.NewRequest(http.MethodPost, Prefix, bytes.NewReader(make([]byte, 100)))
	r.ContentLength = -1
	err = decodeStrict(httptest.NewRecorder(), r, 10, "t", &n)
	require.ErrorContains(t, err, "larger than tenant t's limit of 10 bytes")
}
