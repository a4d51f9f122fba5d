package compactor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/tenant"
)

// TombstonesDir is the folder of a tenant's delete requests:
// <tenant>/tombstones/<id>.json.
const TombstonesDir = "tombstones"

// ErrBadDeleteRequest is returned for a delete request that can never be
// applied (no selector, a selector that does not parse, start after end).
var ErrBadDeleteRequest = errors.New("bad delete request")

// DeleteRequest asks that the samples of the series matching any of
// Selectors in [MinTime, MaxTime] be deleted. The compactor applies it to
// every block overlapping that range — including blocks shipped after the
// request was made, for data written before it — by rewriting the block
// with TSDB tombstones; each block records the requests applied to it in
// the "weft" section of its meta.json. A request stays in the bucket (and
// in force) until its whole range is past the tenant's retention.
type DeleteRequest struct {
	ID        string   `json:"id"`
	Selectors []string `json:"selectors"` // PromQL series selectors, as match[]
	MinTime   int64    `json:"min_time"`  // ms, inclusive
	MaxTime   int64    `json:"max_time"`  // ms, inclusive; never after CreatedAt
	CreatedAt int64    `json:"created_at"`
}

// matchers parses the selectors; each selector is one set of matchers.
func (r *DeleteRequest) matchers() ([][]*labels.Matcher, error) {
	if len(r.Selectors) == 0 {
		return nil, fmt.Errorf("%w: no series selector", ErrBadDeleteRequest)
	}
	out := make([][]*labels.Matcher, 0, len(r.Selectors))
	for _, s := range r.Selectors {
		ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(s)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot parse selector %q: %v", ErrBadDeleteRequest, s, err)
		}
		out = append(out, ms)
	}
	return out, nil
}

// overlaps reports whether the request touches the block range [mint, maxt).
func (r *DeleteRequest) overlaps(mint, maxt int64) bool {
	return r.MinTime < maxt && r.MaxTime >= mint
}

// DeleteRequestPath returns the object name of a delete request.
func DeleteRequestPath(tenantID, id string) string {
	return path.Join(tenantID, TombstonesDir, id+".json")
}

// AddDeleteRequest validates and stores a delete request of tenantID for
// the series matching any of selectors in [mint, maxt] (ms, inclusive).
// maxt is clamped to now: data written later is never deleted by it. It is
// a function of the bucket, not of a Compactor, so any role that serves
// the delete_series API can register requests.
func AddDeleteRequest(ctx context.Context, bkt objstore.Bucket, tenantID string, selectors []string, mint, maxt int64, now time.Time) (*DeleteRequest, error) {
	if err := tenant.Validate(tenantID); err != nil {
		return nil, err
	}
	req := &DeleteRequest{
		ID:        ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(),
		Selectors: selectors,
		MinTime:   mint,
		MaxTime:   min(maxt, now.UnixMilli()),
		CreatedAt: now.UnixMilli(),
	}
	if _, err := req.matchers(); err != nil {
		return nil, err
	}
	if req.MinTime > req.MaxTime {
		return nil, fmt.Errorf("%w: start is after end (or after now)", ErrBadDeleteRequest)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := bkt.Upload(ctx, DeleteRequestPath(tenantID, req.ID), bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("cannot store delete request of tenant %s: %w", tenantID, err)
	}
	return req, nil
}

// ListDeleteRequests returns the tenant's delete requests, oldest first.
func ListDeleteRequests(ctx context.Context, bkt objstore.BucketReader, tenantID string) ([]DeleteRequest, error) {
	var names []string
	err := bkt.Iter(ctx, path.Join(tenantID, TombstonesDir)+"/", func(name string) error {
		if strings.HasSuffix(name, ".json") {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list delete requests of tenant %s: %w", tenantID, err)
	}
	slices.Sort(names)
	out := make([]DeleteRequest, 0, len(names))
	for _, n := range names {
		r, err := bkt.Get(ctx, n)
		if err != nil {
			if bkt.IsObjNotFoundErr(err) {
				continue
			}
			return nil, fmt.Errorf("cannot read delete request %s: %w", n, err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot read delete request %s: %w", n, err)
		}
		var req DeleteRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, fmt.Errorf("cannot parse delete request %s: %w", n, err)
		}
		out = append(out, req)
	}
	return out, nil
}

// maxDeleteFormBytes bounds the body of a deletion request.
const maxDeleteFormBytes = 1 << 20

// DeleteSeriesHandler serves Prometheus' admin API
// POST|PUT /prometheus/api/v1/admin/tsdb/delete_series?match[]=...&start=...&end=...
// for the tenant resolveTenant picks: it stores a delete request and
// answers 204, as Prometheus does. The series disappear from the blocks at
// the next compaction of the tenant. GET lists the tenant's requests.
// now may be nil (time.Now).
func DeleteSeriesHandler(bkt objstore.Bucket, resolveTenant func(*http.Request) (string, error), now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenantID, err := resolveTenant(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		switch r.Method {
		case http.MethodGet:
			reqs, err := ListDeleteRequests(r.Context(), bkt, tenantID)
			if err != nil {
				httpapi.WriteError(w, err)
				return
			}
			httpapi.WriteData(w, reqs)
			return
		case http.MethodPost, http.MethodPut:
		default:
			w.Header().Set("Allow", "GET, POST, PUT")
			httpapi.WriteError(w, httpapi.Errorf(http.StatusMethodNotAllowed, "method not allowed: use POST or PUT to request a deletion, GET to list the requests"))
			return
		}
		// A deletion is a few selectors: bound the form well below Go's
		// own 10 MB.
		r.Body = http.MaxBytesReader(w, r.Body, maxDeleteFormBytes)
		if err := r.ParseForm(); err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "cannot parse form: %w", err))
			return
		}
		t := now()
		mint, err := parseTimeParam(r, "start", math.MinInt64)
		if err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "%w", err))
			return
		}
		maxt, err := parseTimeParam(r, "end", t.UnixMilli())
		if err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "%w", err))
			return
		}
		if len(r.Form["match[]"]) == 0 {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "no match[] parameter provided"))
			return
		}
		if _, err := AddDeleteRequest(r.Context(), bkt, tenantID, r.Form["match[]"], mint, maxt, t); err != nil {
			// An invalid tenant is classified by the edge; a bad request
			// is this package's to say.
			if errors.Is(err, ErrBadDeleteRequest) {
				err = &httpapi.StatusError{Code: http.StatusBadRequest, Err: err}
			}
			httpapi.WriteError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// parseTimeParam parses a Prometheus API time: unix seconds (with a
// fraction) or RFC 3339. It returns milliseconds.
func parseTimeParam(r *http.Request, name string, def int64) (int64, error) {
	s := r.FormValue(name)
	if s == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f*1000 >= math.MaxInt64 || f*1000 <= math.MinInt64 {
			return 0, fmt.Errorf("invalid parameter %q: %q is out of range", name, s)
		}
		return int64(math.Round(f * 1000)), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), nil
	}
	return 0, fmt.Errorf("invalid parameter %q: cannot parse %q to a valid timestamp", name, s)
}
