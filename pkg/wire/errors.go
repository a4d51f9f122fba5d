package wire

import (
	"errors"
	"fmt"
)

// ErrorKind classifies a failure so the HTTP edge picks the status once:
// bad data is never retried (400), a limit asks the client to slow down
// (429), and only an unavailable answer invites a retry (5xx).
type ErrorKind int

// Kinds of errors crossing role boundaries.
const (
	KindInternal ErrorKind = iota
	KindBadData
	KindLimit
	KindUnavailable
)

// ErrIDCorruptBlock is the stable ID of the error a read gets when a block
// it must read does not read back (a store-gateway found it corrupt). A
// retry reads the same bytes: the query API answers it 422, like the
// TSDB's own errors over a corrupt block, and the query-frontend does not
// retry it (docs/store-gateway.md).
const ErrIDCorruptBlock = "err-weft-corrupt-block"

// Error is a classified error with a stable ID that users can look up
// (docs/errors.md) and a message naming the series and the limit to raise.
type Error struct {
	Kind ErrorKind
	ID   string // e.g. "err-weft-max-series-per-tenant"
	Msg  string

	// wrapped is the message as fmt.Errorf made it when its format wraps
	// an error (%w); it does not cross the wire.
	wrapped error
}

func (e *Error) Error() string {
	if e.ID == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s (%s)", e.Msg, e.ID)
}

// Unwrap returns the errors that the message wraps (%w), if any: the
// kind is e's, but errors.Is still finds a cause such as
// context.Canceled.
func (e *Error) Unwrap() error { return e.wrapped }

// Errorf returns an *Error of kind with a message formatted as fmt.Errorf
// does: %w wraps an error, which keeps its own kind only for errors.As on
// the cause, since KindOf finds e first.
func Errorf(kind ErrorKind, id, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Kind: kind, ID: id, Msg: err.Error()}
	switch err.(type) {
	case interface{ Unwrap() error }, interface{ Unwrap() []error }:
		e.wrapped = err
	}
	return e
}

// KindOf returns the kind of err: the kind of the first *Error in its chain,
// KindInternal otherwise.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
