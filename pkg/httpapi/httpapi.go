package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// Error types of the Prometheus API envelope (web/api/v1 of Prometheus),
// plus too_many_requests, unauthorized and forbidden, which Prometheus never answers
// but a multi-tenant service must, and conflict, for a write that names a
// version that is no longer the latest (the notebooks API).
const (
	ErrBadData     = "bad_data"
	ErrExecution   = "execution"
	ErrInternal    = "internal"
	ErrUnavailable = "unavailable"
	ErrNotFound    = "not_found"
	ErrTimeout     = "timeout"
	ErrCanceled    = "canceled"
	ErrTooMany     = "too_many_requests"
	ErrUnauth      = "unauthorized"
	ErrForbidden   = "forbidden"
	ErrConflict    = "conflict"
)

// StatusClientClosedRequest is the status Prometheus (and nginx) answer a
// request whose client went away with; no standard status means that.
const StatusClientClosedRequest = 499

// StatusError is an error whose status only the handler that found it
// knows: a wrong method (405), media type (415) or path (404), or a
// malformed request parameter (400). Classify answers it with Code.
type StatusError struct {
	Code int
	Err  error
}

func (e *StatusError) Error() string { return e.Err.Error() }

// Unwrap returns the error the status was given to.
func (e *StatusError) Unwrap() error { return e.Err }

// Errorf returns a *StatusError with code and a message formatted as
// fmt.Errorf does (%w wraps).
func Errorf(code int, format string, args ...any) error {
	return &StatusError{Code: code, Err: fmt.Errorf(format, args...)}
}

// Classify returns the HTTP status and the Prometheus errorType that err is
// answered with. In order of precedence:
//
//   - a *StatusError: its Code;
//   - tenant.ErrMissing: 401 unauthorized (multi-tenancy is on and the
//     request names no tenant); tenant.ErrInvalid: 400 bad_data;
//   - context.Canceled: 499 canceled and context.DeadlineExceeded: 503
//     timeout, as Prometheus answers them: a client that gave up is not
//     told about the failure that followed;
//   - a *wire.Error, by kind: bad data 400 bad_data (never retried), a
//     limit 429 too_many_requests (the client backs off and retries),
//     unavailable 503 unavailable (a retry can help), internal 500;
//   - anything else: 500 internal.
//
// err must not be nil.
func Classify(err error) (code int, errorType string) {
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se.Code, typeOf(se.Code)
	}
	switch {
	case errors.Is(err, tenant.ErrMissing):
		return http.StatusUnauthorized, ErrUnauth
	case errors.Is(err, tenant.ErrInvalid):
		return http.StatusBadRequest, ErrBadData
	case errors.Is(err, context.Canceled):
		return StatusClientClosedRequest, ErrCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, ErrTimeout
	}
	if we, ok := errors.AsType[*wire.Error](err); ok {
		switch we.Kind {
		case wire.KindBadData:
			return http.StatusBadRequest, ErrBadData
		case wire.KindLimit:
			return http.StatusTooManyRequests, ErrTooMany
		case wire.KindUnavailable:
			return http.StatusServiceUnavailable, ErrUnavailable
		}
	}
	return http.StatusInternalServerError, ErrInternal
}

// typeOf is the errorType of a status a handler chose: the one Prometheus
// answers with that status where it has one.
func typeOf(code int) string {
	switch {
	case code == http.StatusUnauthorized:
		return ErrUnauth
	case code == http.StatusForbidden:
		return ErrForbidden
	case code == http.StatusTooManyRequests:
		return ErrTooMany
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusConflict:
		return ErrConflict
	case code == http.StatusUnprocessableEntity:
		return ErrExecution
	case code == StatusClientClosedRequest:
		return ErrCanceled
	case code == http.StatusServiceUnavailable:
		return ErrUnavailable
	case code >= 500:
		return ErrInternal
	default:
		return ErrBadData
	}
}

type envelope struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

// WriteError answers err as {"status":"error","errorType":...,"error":...}
// with the status and errorType Classify picks, and returns that status for
// the caller's metrics and logs. err must not be nil.
func WriteError(w http.ResponseWriter, err error) int {
	code, errorType := Classify(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(envelope{Status: "error", ErrorType: errorType, Error: err.Error()})
	return code
}

// WriteData writes {"status":"success","data":data}.
func WriteData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(envelope{Status: "success", Data: data})
}
