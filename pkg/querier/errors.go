package querier

import "github.com/prometheus/prometheus/promql"

// storageError is a failure to read a tenant's series. Prometheus' query
// API answers a promql.ErrStorage with a 5xx, but promql.ErrStorage does
// not unwrap, so the error it carries (a *wire.Error, whose kind
// wire.KindOf and httpapi.Classify read) is a second branch of the chain.
type storageError struct{ err error }

func (e storageError) Error() string { return e.err.Error() }

// Unwrap returns the error as a promql.ErrStorage and as itself.
func (e storageError) Unwrap() []error { return []error{promql.ErrStorage{Err: e.err}, e.err} }
