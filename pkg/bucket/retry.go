package bucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/logutil"
)

// RetryOptions bound the retries of one bucket operation.
type RetryOptions struct {
	// MaxRetries is how many times a failed operation is tried again
	// (so at most MaxRetries+1 attempts); 0 disables retries.
	MaxRetries int
	// MinBackoff is the wait before the first retry; each retry doubles
	// it, up to MaxBackoff. The actual wait is drawn uniformly in
	// [backoff/2, backoff] so that many clients do not retry in step.
	MinBackoff, MaxBackoff time.Duration
	// MaxTime is how long after the first attempt a retry may still
	// start; 0 means no limit other than MaxRetries. An attempt in
	// flight is never cut short by it (only the caller's ctx does that),
	// so that a large upload is not killed half-way.
	MaxTime time.Duration
}

// DefaultRetryOptions are the defaults of the -bucket.*retr* flags.
func DefaultRetryOptions() RetryOptions {
	return RetryOptions{MaxRetries: 5, MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second, MaxTime: 2 * time.Minute}
}

func (o RetryOptions) validate() error {
	switch {
	case o.MaxRetries < 0:
		return fmt.Errorf("-bucket.max-retries must be 0 or more, not %d", o.MaxRetries)
	case o.MaxRetries > 0 && o.MinBackoff <= 0:
		return fmt.Errorf("-bucket.retry-min-backoff must be positive, not %s", o.MinBackoff)
	case o.MaxRetries > 0 && o.MaxBackoff < o.MinBackoff:
		return fmt.Errorf("-bucket.retry-max-backoff (%s) must not be less than -bucket.retry-min-backoff (%s)", o.MaxBackoff, o.MinBackoff)
	case o.MaxTime < 0:
		return fmt.Errorf("-bucket.retry-max-time must be 0 or more, not %s", o.MaxTime)
	}
	return nil
}

// RetryError is returned when an operation failed on every attempt it was
// allowed, or when ctx ended while it waited to retry. It unwraps (with
// errors.Unwrap and pkg/errors' Cause, which objstore's providers use) to
// the last failure.
type RetryError struct {
	Op       string // objstore operation name: "upload", "get", ...
	Name     string // object or directory name
	Attempts int    // 0 when not tried (WithRetryBudget)
	Err      error
}

func (e *RetryError) Error() string {
	if e.Attempts == 0 {
		return fmt.Sprintf("cannot %s %q: %v", e.Op, e.Name, e.Err)
	}
	return fmt.Sprintf("cannot %s %q after %d attempts: %v", e.Op, e.Name, e.Attempts, e.Err)
}

// Unwrap returns the last failure.
func (e *RetryError) Unwrap() error { return e.Err }

// Cause returns the last failure, for github.com/pkg/errors.Cause.
func (e *RetryError) Cause() error { return e.Err }

// retryBudgetKey is the context key of WithRetryBudget.
type retryBudgetKey struct{}

// retryBudget is shared by the operations under one WithRetryBudget
// context: one query's reads.
type retryBudget struct {
	maxTime time.Duration
	// failed is the first failure that spent the budget: the operations
	// that come after it fail at once with it.
	failed atomic.Pointer[error]
}

// WithRetryBudget returns a context under which no retry of a bucket
// operation (WithRetries) starts later than d after its first attempt,
// when that is sooner than -bucket.retry-max-time allows, and under
// which, once one operation failed for good (not "object not found"),
// every later one fails at once with its error. Reads for a query use it: against a
// bucket that is down, a query should fail within seconds with a 5xx its
// client may retry, not after minutes of retries, block after block, that
// an upload deserves. A ctx that already has a budget keeps it.
func WithRetryBudget(ctx context.Context, d time.Duration) context.Context {
	if _, ok := ctx.Value(retryBudgetKey{}).(*retryBudget); ok {
		return ctx
	}
	return context.WithValue(ctx, retryBudgetKey{}, &retryBudget{maxTime: d})
}

// retryMetrics are shared by every wrapper registered on one registerer.
type retryMetrics struct {
	retries *prometheus.CounterVec
}

func newRetryMetrics(reg prometheus.Registerer) *retryMetrics {
	m := &retryMetrics{retries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bucket_retries_total",
		Help: "Bucket operations retried after a failure, by operation.",
	}, []string{"operation"})}
	if reg != nil {
		if err := reg.Register(m.retries); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if c, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					m.retries = c
				}
			}
		}
	}
	for _, op := range []string{objstore.OpIter, objstore.OpGet, objstore.OpGetRange, objstore.OpExists, objstore.OpUpload, objstore.OpDelete, objstore.OpAttributes} {
		m.retries.WithLabelValues(op)
	}
	return m
}

// WithRetries wraps b so that Upload, Get, GetRange, Exists, Attributes,
// Iter, IterWithAttributes and Delete are tried again, with exponential
// backoff and jitter, when they fail with an error that another attempt
// may fix: not "object not found", not "access denied", not the caller's
// ctx ending, and not an error returned by the caller's Iter callback.
// Retries are counted in bucket_retries_total{operation} on reg (New
// registers it as weft_bucket_retries_total{component,operation}).
//
// Upload retries only when its reader is an io.Seeker (the ingester passes
// *os.File and *bytes.Reader): it seeks back to where the first attempt
// started before each retry. Any other reader is uploaded once.
//
// Get and GetRange retry opening the object, not reading it: an error
// while reading the returned body is the caller's.
//
// Iter and IterWithAttributes that fail after calling f for some entries
// resume with a new listing and skip the names f already saw, so f never
// sees a name twice.
//
// A Delete whose retry finds the object gone returns nil: the failed
// attempt removed it but its answer was lost.
//
// The metrics of the objstore.InstrumentedBucket that b may be count each
// attempt, as it should be wrapped inside this one.
func WithRetries(b objstore.Bucket, o RetryOptions, reg prometheus.Registerer, logger *slog.Logger) (objstore.InstrumentedBucket, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &retryBucket{b: b, o: o, m: newRetryMetrics(reg), logger: logutil.OrNop(logger)}, nil
}

type retryBucket struct {
	b      objstore.Bucket
	o      RetryOptions
	m      *retryMetrics
	logger *slog.Logger
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ objstore.InstrumentedBucket = (*retryBucket)(nil)

// permanent reports whether another attempt cannot help.
func (r *retryBucket) permanent(ctx context.Context, err error) bool {
	return ctx.Err() != nil ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, objstore.ErrOptionNotSupported) ||
		r.b.IsObjNotFoundErr(err) || r.b.IsAccessDeniedErr(err)
}

// backoff returns the wait before retry number n (1-based).
func (r *retryBucket) backoff(n int) time.Duration {
	d := r.o.MinBackoff
	for i := 1; i < n && d < r.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.o.MaxBackoff)
	if half := d / 2; half > 0 {
		d = half + rand.N(half+1)
	}
	return d
}

func (r *retryBucket) wait(ctx context.Context, d time.Duration) error {
	if r.sleep != nil {
		return r.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// do runs attempt until it succeeds, fails permanently or the retry budget
// is spent. before, when set, runs before every retry and may veto it by
// returning an error (e.g. a reader that cannot be rewound).
func (r *retryBucket) do(ctx context.Context, op, name string, attempt func() error, before func() error) error {
	start := time.Now()
	budget, _ := ctx.Value(retryBudgetKey{}).(*retryBudget)
	if budget != nil {
		if failed := budget.failed.Load(); failed != nil {
			return &RetryError{Op: op, Name: name, Err: fmt.Errorf("not tried: an earlier read of the same query failed: %w", *failed)}
		}
	}
	for n := 1; ; n++ {
		err := attempt()
		if err == nil || r.permanent(ctx, err) {
			if err != nil && n > 1 && ctx.Err() != nil {
				return &RetryError{Op: op, Name: name, Attempts: n, Err: errors.Join(err, ctx.Err())}
			}
			return err
		}
		if n > r.o.MaxRetries {
			if budget != nil {
				budget.failed.CompareAndSwap(nil, &err)
			}
			if n == 1 {
				return err
			}
			return &RetryError{Op: op, Name: name, Attempts: n, Err: err}
		}
		d := r.backoff(n)
		if budget != nil && time.Since(start)+d > budget.maxTime {
			budget.failed.CompareAndSwap(nil, &err)
			return &RetryError{Op: op, Name: name, Attempts: n, Err: fmt.Errorf("%w (retry time budget of the query spent)", err)}
		}
		if r.o.MaxTime > 0 && time.Since(start)+d > r.o.MaxTime {
			return &RetryError{Op: op, Name: name, Attempts: n, Err: fmt.Errorf("%w (retry time budget -bucket.retry-max-time=%s spent)", err, r.o.MaxTime)}
		}
		if before != nil {
			if berr := before(); berr != nil {
				return errors.Join(err, berr)
			}
		}
		r.logger.Warn("bucket operation failed, retrying", "op", op, "name", name, "attempt", n, "backoff", d, "err", err)
		if werr := r.wait(ctx, d); werr != nil {
			return &RetryError{Op: op, Name: name, Attempts: n, Err: errors.Join(err, werr)}
		}
		r.m.retries.WithLabelValues(op).Inc()
	}
}

// Upload implements objstore.Bucket; see WithRetries for when it retries.
func (r *retryBucket) Upload(ctx context.Context, name string, rd io.Reader, opts ...objstore.ObjectUploadOption) error {
	attempt := func() error { return r.b.Upload(ctx, name, rd, opts...) }
	s, ok := rd.(io.Seeker)
	if !ok {
		return attempt()
	}
	pos, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		// Claims to seek but cannot (a pipe behind *os.File): upload once.
		return attempt()
	}
	rewind := func() error {
		if _, err := s.Seek(pos, io.SeekStart); err != nil {
			return fmt.Errorf("cannot rewind the reader of %q to retry its upload: %w", name, err)
		}
		return nil
	}
	return r.do(ctx, objstore.OpUpload, name, attempt, rewind)
}

// Delete implements objstore.Bucket.
func (r *retryBucket) Delete(ctx context.Context, name string) error {
	tries := 0
	err := r.do(ctx, objstore.OpDelete, name, func() error {
		tries++
		return r.b.Delete(ctx, name)
	}, nil)
	if tries > 1 && err != nil && r.b.IsObjNotFoundErr(err) {
		return nil
	}
	return err
}

// Get implements objstore.Bucket.
func (r *retryBucket) Get(ctx context.Context, name string) (rc io.ReadCloser, err error) {
	err = r.do(ctx, objstore.OpGet, name, func() error {
		rc, err = emptyOnEOF(r.b.Get(ctx, name))
		return err
	}, nil)
	return rc, err
}

// GetRange implements objstore.Bucket.
func (r *retryBucket) GetRange(ctx context.Context, name string, off, length int64) (rc io.ReadCloser, err error) {
	err = r.do(ctx, objstore.OpGetRange, name, func() error {
		rc, err = emptyOnEOF(r.b.GetRange(ctx, name, off, length))
		return err
	}, nil)
	return rc, err
}

// emptyOnEOF turns io.EOF from opening an object into an empty body:
// objstore's S3 provider reads the first byte of the body to reveal a
// missing object, and so reports an empty object as io.EOF.
func emptyOnEOF(rc io.ReadCloser, err error) (io.ReadCloser, error) {
	if err == io.EOF {
		return objstore.NopCloserWithSize(bytes.NewReader(nil)), nil
	}
	return rc, err
}

// Exists implements objstore.Bucket.
func (r *retryBucket) Exists(ctx context.Context, name string) (ok bool, err error) {
	err = r.do(ctx, objstore.OpExists, name, func() error {
		ok, err = r.b.Exists(ctx, name)
		return err
	}, nil)
	return ok, err
}

// Attributes implements objstore.Bucket.
func (r *retryBucket) Attributes(ctx context.Context, name string) (a objstore.ObjectAttributes, err error) {
	err = r.do(ctx, objstore.OpAttributes, name, func() error {
		a, err = r.b.Attributes(ctx, name)
		return err
	}, nil)
	return a, err
}

// callbackError marks an error returned by the caller's Iter callback, so
// that it is returned as is and never retried.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// iterate runs one listing (list) with retries; list calls visit for each
// name and visit calls the caller's callback once per distinct name.
func (r *retryBucket) iterate(ctx context.Context, dir string, list func(visit func(name string, call func() error) error) error) error {
	seen := map[string]struct{}{}
	visit := func(name string, call func() error) error {
		if _, ok := seen[name]; ok {
			return nil
		}
		seen[name] = struct{}{}
		if err := call(); err != nil {
			return &callbackError{err}
		}
		return nil
	}
	var cbErr *callbackError
	err := r.do(ctx, objstore.OpIter, dir, func() error {
		err := list(visit)
		if errors.As(err, &cbErr) {
			return nil // stop: handled below
		}
		return err
	}, nil)
	if cbErr != nil {
		return cbErr.err
	}
	return err
}

// Iter implements objstore.Bucket.
func (r *retryBucket) Iter(ctx context.Context, dir string, f func(string) error, options ...objstore.IterOption) error {
	return r.iterate(ctx, dir, func(visit func(string, func() error) error) error {
		// Each listing gets its own ctx, cancelled when it returns: the
		// S3 provider's lister goroutine (minio's ListObjects) otherwise
		// blocks forever when the listing stops early.
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		return r.b.Iter(lctx, dir, func(name string) error {
			return visit(name, func() error { return f(name) })
		}, options...)
	})
}

// IterWithAttributes implements objstore.Bucket.
func (r *retryBucket) IterWithAttributes(ctx context.Context, dir string, f func(objstore.IterObjectAttributes) error, options ...objstore.IterOption) error {
	return r.iterate(ctx, dir, func(visit func(string, func() error) error) error {
		lctx, cancel := context.WithCancel(ctx) // see Iter
		defer cancel()
		return r.b.IterWithAttributes(lctx, dir, func(a objstore.IterObjectAttributes) error {
			return visit(a.Name, func() error { return f(a) })
		}, options...)
	})
}

// SupportedIterOptions implements objstore.Bucket.
func (r *retryBucket) SupportedIterOptions() []objstore.IterOptionType {
	return r.b.SupportedIterOptions()
}

// IsObjNotFoundErr implements objstore.Bucket.
func (r *retryBucket) IsObjNotFoundErr(err error) bool { return r.b.IsObjNotFoundErr(err) }

// IsAccessDeniedErr implements objstore.Bucket.
func (r *retryBucket) IsAccessDeniedErr(err error) bool { return r.b.IsAccessDeniedErr(err) }

// Provider implements objstore.Bucket.
func (r *retryBucket) Provider() objstore.ObjProvider { return r.b.Provider() }

// Name implements objstore.Bucket.
func (r *retryBucket) Name() string { return r.b.Name() }

// Close implements objstore.Bucket.
func (r *retryBucket) Close() error { return r.b.Close() }

// WithExpectedErrs implements objstore.InstrumentedBucket: the wrapped
// bucket's metrics do not count errors fn expects as failures.
func (r *retryBucket) WithExpectedErrs(fn objstore.IsOpFailureExpectedFunc) objstore.Bucket {
	ib, ok := r.b.(objstore.InstrumentedBucket)
	if !ok {
		return r
	}
	c := *r
	c.b = ib.WithExpectedErrs(fn)
	return &c
}

// ReaderWithExpectedErrs implements objstore.InstrumentedBucket.
func (r *retryBucket) ReaderWithExpectedErrs(fn objstore.IsOpFailureExpectedFunc) objstore.BucketReader {
	return r.WithExpectedErrs(fn)
}
