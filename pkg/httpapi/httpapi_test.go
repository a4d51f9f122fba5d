package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

func TestClassify(t *testing.T) {
	f := func(err error, wantCode int, wantType string) {
		t.Helper()
		code, typ := Classify(err)
		require.Equal(t, wantCode, code, err.Error())
		require.Equal(t, wantType, typ, err.Error())
	}
	// Tenants, as the resolver and tenant.Validate return them.
	_, missing := tenant.Resolver{MultiTenancy: true}.FromRequest(httptest.NewRequest(http.MethodGet, "/", nil))
	f(missing, http.StatusUnauthorized, ErrUnauth)
	f(tenant.ErrMissing, http.StatusUnauthorized, ErrUnauth)
	f(tenant.Validate("../etc"), http.StatusBadRequest, ErrBadData)
	f(tenant.Validate("__markers__"), http.StatusBadRequest, ErrBadData)
	f(fmt.Errorf("cannot delete: %w", tenant.Validate("a/b")), http.StatusBadRequest, ErrBadData)

	// The kinds of wire.Error, bare and wrapped.
	f(wire.Errorf(wire.KindBadData, "err-weft-sample-too-old", "too old"), http.StatusBadRequest, ErrBadData)
	f(wire.Errorf(wire.KindLimit, "err-weft-max-series-per-tenant", "too many"), http.StatusTooManyRequests, ErrTooMany)
	f(wire.Errorf(wire.KindUnavailable, "", "ingester is shutting down"), http.StatusServiceUnavailable, ErrUnavailable)
	f(wire.Errorf(wire.KindInternal, "", "cannot commit"), http.StatusInternalServerError, ErrInternal)
	f(fmt.Errorf("cannot push: %w", wire.Errorf(wire.KindLimit, "", "rate")), http.StatusTooManyRequests, ErrTooMany)
	f(errors.Join(errors.New("first"), wire.Errorf(wire.KindBadData, "", "second")), http.StatusBadRequest, ErrBadData)

	// Contexts, as Prometheus answers them.
	f(context.Canceled, StatusClientClosedRequest, ErrCanceled)
	f(fmt.Errorf("cannot read: %w", context.Canceled), StatusClientClosedRequest, ErrCanceled)
	f(context.DeadlineExceeded, http.StatusServiceUnavailable, ErrTimeout)

	// Statuses only a handler knows.
	f(Errorf(http.StatusMethodNotAllowed, "use POST"), http.StatusMethodNotAllowed, ErrBadData)
	f(Errorf(http.StatusUnsupportedMediaType, "not remote write"), http.StatusUnsupportedMediaType, ErrBadData)
	f(Errorf(http.StatusNotFound, "no such path"), http.StatusNotFound, ErrNotFound)
	f(Errorf(http.StatusConflict, "stale version"), http.StatusConflict, ErrConflict)
	f(Errorf(http.StatusBadRequest, "limit must be a number"), http.StatusBadRequest, ErrBadData)
	// A handler's status wins over the kind of what it wraps.
	f(Errorf(http.StatusBadRequest, "cannot decode: %w", wire.Errorf(wire.KindInternal, "", "x")), http.StatusBadRequest, ErrBadData)

	// Anything unclassified is the server's fault.
	f(errors.New("disk on fire"), http.StatusInternalServerError, ErrInternal)
}

func TestWriteError(t *testing.T) {
	f := func(err error, wantCode int, wantBody string) {
		t.Helper()
		w := httptest.NewRecorder()
		require.Equal(t, wantCode, WriteError(w, err))
		require.Equal(t, wantCode, w.Code)
		require.Equal(t, "application/json", w.Header().Get("Content-Type"))
		require.JSONEq(t, wantBody, w.Body.String())
	}
	f(tenant.ErrMissing, http.StatusUnauthorized,
		`{"status":"error","errorType":"unauthorized","error":"no tenant ID: set the X-Scope-OrgID header"}`)
	f(wire.Errorf(wire.KindLimit, "err-weft-max-series-per-tenant", "tenant t has 5 series"), http.StatusTooManyRequests,
		`{"status":"error","errorType":"too_many_requests","error":"tenant t has 5 series (err-weft-max-series-per-tenant)"}`)
	f(Errorf(http.StatusNotFound, "/x is not an endpoint"), http.StatusNotFound,
		`{"status":"error","errorType":"not_found","error":"/x is not an endpoint"}`)
}

func TestWriteData(t *testing.T) {
	w := httptest.NewRecorder()
	WriteData(w, map[string]int{"a": 1})
	require.Equal(t, http.StatusOK, w.Code)
	var env map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env))
	require.Equal(t, map[string]any{"status": "success", "data": map[string]any{"a": 1.0}}, env)
}
