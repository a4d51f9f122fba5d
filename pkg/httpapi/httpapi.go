package httpapi

import (
	"encoding/json"
	"net/http"
)

// Error types of the Prometheus API envelope.
const (
	ErrBadData     = "bad_data"
	ErrExecution   = "execution"
	ErrInternal    = "internal"
	ErrUnavailable = "unavailable"
	ErrNotFound    = "not_found"
	ErrTooMany     = "too_many_requests"
	ErrUnauth      = "unauthorized"
)

type envelope struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

// WriteError writes {"status":"error","errorType":...,"error":...} with code.
func WriteError(w http.ResponseWriter, code int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(envelope{Status: "error", ErrorType: errType, Error: msg})
}

// WriteData writes {"status":"success","data":data}.
func WriteData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(envelope{Status: "success", Data: data})
}

// ErrorTypeFor maps an HTTP status to the Prometheus errorType clients expect.
func ErrorTypeFor(code int) string {
	switch {
	case code == http.StatusUnauthorized:
		return ErrUnauth
	case code == http.StatusTooManyRequests:
		return ErrTooMany
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusUnprocessableEntity:
		return ErrExecution
	case code == http.StatusServiceUnavailable:
		return ErrUnavailable
	case code >= 500:
		return ErrInternal
	default:
		return ErrBadData
	}
}
