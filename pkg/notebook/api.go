package notebook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
)

// Prefix is the path of the notebooks API.
const Prefix = "/api/v1/notebooks"

// Notebooks is the service of the ui role's notebooks: the store and its
// HTTP API. It keeps nothing but caches in memory, so it has nothing to do
// when it starts or stops.
type Notebooks struct {
	services.Service
	store  *store
	parser parser.Parser
	logger *slog.Logger
}

// New returns the notebooks of the tenants in bkt, with the limits of lim;
// p is the PromQL parser of the queriers, with which every PromQL cell
// must parse.
func New(bkt objstore.Bucket, lim *limits.Overrides, p parser.Parser, logger *slog.Logger) *Notebooks {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notebooks{
		Service: services.NewIdleService(nil, nil),
		store:   newStore(bkt, lim),
		parser:  p,
		logger:  logger,
	}
}

func badRequest(format string, args ...any) error {
	return httpapi.Errorf(http.StatusBadRequest, format, args...)
}

// Handler serves the notebooks API under Prefix for the tenant resolve
// finds in each request.
func (nb *Notebooks) Handler(resolve func(*http.Request) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenantID, err := resolve(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if err := nb.serve(w, r, tenantID); err != nil {
			httpapi.WriteError(w, err)
		}
	})
}

// serve routes one request; an error is answered by the caller.
func (nb *Notebooks) serve(w http.ResponseWriter, r *http.Request, tenantID string) error {
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return httpapi.Errorf(http.StatusNotFound, "%s is not an endpoint of the notebooks API", r.URL.Path)
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	ctx := r.Context()
	switch {
	case len(parts) == 0:
		switch r.Method {
		case http.MethodGet:
			list, err := nb.store.list(ctx, tenantID)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, list)
		case http.MethodPost:
			return nb.create(w, r, tenantID)
		}
		return methodNotAllowed(w, "GET, POST")
	}
	id, err := parseID(parts[0])
	if err != nil {
		return err
	}
	switch {
	case len(parts) == 1:
		switch r.Method {
		case http.MethodGet:
			n, err := nb.store.latest(ctx, tenantID, id)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, n)
		case http.MethodPut:
			return nb.update(w, r, tenantID, id)
		case http.MethodDelete:
			if err := nb.store.remove(ctx, tenantID, id); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return methodNotAllowed(w, "GET, PUT, DELETE")
	case parts[1] == "versions" && len(parts) == 2:
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, "GET")
		}
		h, err := nb.store.history(ctx, tenantID, id)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, h)
	case parts[1] == "versions" && (len(parts) == 3 || len(parts) == 4 && parts[3] == "restore"):
		v, err := strconv.Atoi(parts[2])
		if err != nil || v <= 0 {
			return errNotFound
		}
		if len(parts) == 4 {
			if r.Method != http.MethodPost {
				return methodNotAllowed(w, "POST")
			}
			return nb.restore(w, r, tenantID, id, v)
		}
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, "GET")
		}
		n, err := nb.store.get(ctx, tenantID, id, v)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, n)
	case parts[1] == "export" && len(parts) == 3 && parts[2] == "grafana":
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, "GET")
		}
		n, err := nb.store.latest(ctx, tenantID, id)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, grafana(n))
	case parts[1] == "cells" && len(parts) == 4 && parts[3] == "rule":
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, "GET")
		}
		index, err := strconv.Atoi(parts[2])
		if err != nil {
			return badRequest("cell index %q is not a number", parts[2])
		}
		n, err := nb.store.latest(ctx, tenantID, id)
		if err != nil {
			return err
		}
		b, err := ruleYAML(n, index, r.URL.Query(), nb.parser)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(b)
		return nil
	}
	return httpapi.Errorf(http.StatusNotFound, "%s is not an endpoint of the notebooks API", r.URL.Path)
}

func (nb *Notebooks) create(w http.ResponseWriter, r *http.Request, tenantID string) error {
	n, err := nb.decode(w, r, tenantID)
	if err != nil {
		return err
	}
	if err := n.validate(nb.parser); err != nil {
		return err
	}
	stored, err := nb.store.create(r.Context(), tenantID, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, stored)
}

func (nb *Notebooks) update(w http.ResponseWriter, r *http.Request, tenantID, id string) error {
	n, err := nb.decode(w, r, tenantID)
	if err != nil {
		return err
	}
	if n.ID != "" && !strings.EqualFold(n.ID, id) {
		return badRequest("the body is notebook %s, the path names %s", n.ID, id)
	}
	if n.Version <= 0 {
		return badRequest("version is required: the version this update replaces")
	}
	if err := n.validate(nb.parser); err != nil {
		return err
	}
	stored, err := nb.store.update(r.Context(), tenantID, id, n.Version, func(context.Context, *Notebook) (*Notebook, error) {
		return n, nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, stored)
}

// restore stores version v's content as a new version; the body names the
// current version, as an update does.
func (nb *Notebooks) restore(w http.ResponseWriter, r *http.Request, tenantID, id string, v int) error {
	var body struct {
		Version int `json:"version"`
	}
	if err := decodeStrict(w, r, nb.store.limits.For(tenantID).MaxNotebookBytes, tenantID, &body); err != nil {
		return err
	}
	if body.Version <= 0 {
		return badRequest("version is required: the current version, which the restore replaces")
	}
	stored, err := nb.store.update(r.Context(), tenantID, id, body.Version, func(ctx context.Context, _ *Notebook) (*Notebook, error) {
		return nb.store.get(ctx, tenantID, id, v)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, stored)
}

// decode reads a notebook from the body: at most the tenant's
// max_notebook_bytes, with no field the API does not know.
func (nb *Notebooks) decode(w http.ResponseWriter, r *http.Request, tenantID string) (*Notebook, error) {
	var n Notebook
	if err := decodeStrict(w, r, nb.store.limits.For(tenantID).MaxNotebookBytes, tenantID, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// maxRequestBytes bounds a request body when the tenant's
// max_notebook_bytes is 0 (no limit): a process must not read an unbounded
// body into memory whatever a tenant's limits say.
const maxRequestBytes = 64 << 20

// decodeStrict decodes one JSON value of the body into v, refusing unknown
// fields, trailing data and a body over max bytes (0: maxRequestBytes).
func decodeStrict(w http.ResponseWriter, r *http.Request, max int, tenantID string, v any) error {
	if max <= 0 {
		max = maxRequestBytes
	}
	if r.ContentLength > int64(max) {
		return bodyTooLarge(tenantID, max)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(max)))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return bodyTooLarge(tenantID, max)
		}
		return badRequest("cannot read the request body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("cannot parse the body as a notebook: %w", err)
	}
	if dec.More() {
		return badRequest("cannot parse the body as a notebook: data after the JSON object")
	}
	return nil
}

func bodyTooLarge(tenantID string, max int) error {
	return httpapi.Errorf(http.StatusBadRequest, "the request body is larger than tenant %s's limit of %d bytes for a notebook (make it smaller, or raise max_notebook_bytes / -ui.max-notebook-bytes) (%s)", tenantID, max, errIDMaxNotebookBytes)
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return httpapi.Errorf(http.StatusMethodNotAllowed, "method not allowed: use %s", allow)
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cannot encode the answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
	return nil
}
