package querier

import (
	"errors"

	"github.com/prometheus/prometheus/promql"

	"github.com/weft-io/weft/pkg/wire"
)

// storageError is a failure to read a tenant's series. Prometheus' query
// API answers a promql.ErrStorage with a 5xx, but promql.ErrStorage does
// not unwrap, so the error it carries (a *wire.Error, whose kind
// wire.KindOf and httpapi.Classify read) is a second branch of the chain.
type storageError struct{ err error }

func (e storageError) Error() string { return e.err.Error() }

// Unwrap returns the error as a promql.ErrStorage and as itself.
func (e storageError) Unwrap() []error { return []error{promql.ErrStorage{Err: e.err}, e.err} }

// asStorageError returns err as a storageError when a store failed rather
// than the query: a *wire.Error of kind internal or unavailable. The query
// API then answers 5xx, as for any storage failure, and the query-frontend
// retries it. A corrupt block (wire.ErrIDCorruptBlock) stays a 422, as
// Prometheus answers the errors of its own TSDB: every retry would read
// the same bytes, and load the block again. Other errors are returned as
// they are.
func asStorageError(err error) error {
	if err == nil {
		return nil
	}
	var se storageError
	if errors.As(err, &se) {
		return err
	}
	var we *wire.Error
	if errors.As(err, &we) && we.ID != wire.ErrIDCorruptBlock && (we.Kind == wire.KindInternal || we.Kind == wire.KindUnavailable) {
		return storageError{err}
	}
	return err
}
