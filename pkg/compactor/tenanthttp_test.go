package compactor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/tenant"
)

// brokenBucket fails every call that reaches the object store.
type brokenBucket struct{ objstore.Bucket }

var errBroken = errors.New("object store is down")

func (brokenBucket) Upload(context.Context, string, io.Reader, ...objstore.ObjectUploadOption) error {
	return errBroken
}
func (brokenBucket) Iter(context.Context, string, func(string) error, ...objstore.IterOption) error {
	return errBroken
}
func (brokenBucket) Exists(context.Context, string) (bool, error) { return false, errBroken }

// The admin endpoints answer through the error edge: a missing tenant 401,
// an invalid one 400, a bad request 400, a wrong method 405, a failing
// bucket 500, each in Prometheus' error envelope.
func TestAdminEndpointErrors(t *testing.T) {
	ok := objstore.NewInMemBucket()
	broken := brokenBucket{ok}
	resolve := tenant.Resolver{MultiTenancy: true}.FromRequest
	now := func() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }
	series := func(bkt objstore.Bucket) http.Handler { return DeleteSeriesHandler(bkt, resolve, now) }
	tenants := func(bkt objstore.Bucket) http.Handler { return DeleteTenantHandler(bkt, resolve, now) }
	f := func(h http.Handler, method, tenantID, query string, wantCode int, wantType string) {
		t.Helper()
		r := httptest.NewRequest(method, "/admin?"+query, nil)
		if tenantID != "" {
			r.Header.Set(tenant.Header, tenantID)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, wantCode, w.Code, w.Body.String())
		if wantType == "" {
			return
		}
		var env struct{ Status, ErrorType, Error string }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env), w.Body.String())
		require.Equal(t, "error", env.Status)
		require.Equal(t, wantType, env.ErrorType, env.Error)
		require.NotEmpty(t, env.Error)
	}
	for _, h := range []http.Handler{series(ok), tenants(ok)} {
		f(h, http.MethodPost, "", "match[]=up", http.StatusUnauthorized, "unauthorized")
		f(h, http.MethodPost, "..", "match[]=up", http.StatusBadRequest, "bad_data")
		f(h, http.MethodPost, "a/b", "match[]=up", http.StatusBadRequest, "bad_data")
		f(h, http.MethodDelete, "t", "", http.StatusMethodNotAllowed, "bad_data")
	}
	f(series(ok), http.MethodPost, "t", "match[]=up", http.StatusNoContent, "")
	f(series(ok), http.MethodPost, "t", "", http.StatusBadRequest, "bad_data")
	f(series(ok), http.MethodPost, "t", "match[]=up{", http.StatusBadRequest, "bad_data")
	f(series(ok), http.MethodPost, "t", "match[]=up&start=yesterday", http.StatusBadRequest, "bad_data")
	f(series(ok), http.MethodPost, "t", "match[]=up&start=2000000000", http.StatusBadRequest, "bad_data")
	f(series(ok), http.MethodGet, "t", "", http.StatusOK, "")
	f(series(broken), http.MethodPost, "t", "match[]=up", http.StatusInternalServerError, "internal")
	f(series(broken), http.MethodGet, "t", "", http.StatusInternalServerError, "internal")

	f(tenants(ok), http.MethodPost, "t", "", http.StatusAccepted, "")
	f(tenants(ok), http.MethodGet, "t", "", http.StatusOK, "")
	f(tenants(broken), http.MethodPost, "t", "", http.StatusInternalServerError, "internal")
	f(tenants(broken), http.MethodGet, "t", "", http.StatusInternalServerError, "internal")
}
