package bucket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
)

var (
	errInjected = errors.New("injected: connection reset by peer")
	errDenied   = errors.New("injected: access denied")
)

// flakyBucket is a filesystem bucket whose operations fail on demand, as
// a real server cannot be made to: fail[op] next calls of op fail.
type flakyBucket struct {
	objstore.Bucket

	mu    sync.Mutex
	fail  map[string]int // guarded by mu
	calls map[string]int // guarded by mu
	err   error          // what a failure returns; guarded by mu
	// iterFailAfter makes a failing Iter deliver this many names first.
	iterFailAfter int // guarded by mu
	// deleteThenFail makes a failing Delete delete the object first, as
	// when the server's answer is lost.
	deleteThenFail bool // guarded by mu
}

func newFlaky(t *testing.T) *flakyBucket {
	fs, err := filesystem.NewBucket(t.TempDir())
	require.NoError(t, err)
	return &flakyBucket{Bucket: fs, fail: map[string]int{}, calls: map[string]int{}, err: errInjected}
}

func (f *flakyBucket) failNext(op string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = n
}

func (f *flakyBucket) callsOf(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// call records a call of op and reports the error it must fail with.
func (f *flakyBucket) call(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.fail[op] > 0 {
		f.fail[op]--
		return f.err
	}
	return nil
}

func (f *flakyBucket) IsAccessDeniedErr(err error) bool { return errors.Is(err, errDenied) }

func (f *flakyBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	if err := f.call(objstore.OpUpload); err != nil {
		// Consume part of the body, as a connection dropped mid-way does.
		_, _ = io.CopyN(io.Discard, r, 3)
		return err
	}
	return f.Bucket.Upload(ctx, name, r, opts...)
}

func (f *flakyBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := f.call(objstore.OpGet); err != nil {
		return nil, err
	}
	return f.Bucket.Get(ctx, name)
}

func (f *flakyBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := f.call(objstore.OpGetRange); err != nil {
		return nil, err
	}
	return f.Bucket.GetRange(ctx, name, off, length)
}

func (f *flakyBucket) Exists(ctx context.Context, name string) (bool, error) {
	if err := f.call(objstore.OpExists); err != nil {
		return false, err
	}
	return f.Bucket.Exists(ctx, name)
}

func (f *flakyBucket) Attributes(ctx context.Context, name string) (objstore.ObjectAttributes, error) {
	if err := f.call(objstore.OpAttributes); err != nil {
		return objstore.ObjectAttributes{}, err
	}
	return f.Bucket.Attributes(ctx, name)
}

func (f *flakyBucket) Delete(ctx context.Context, name string) error {
	if err := f.call(objstore.OpDelete); err != nil {
		f.mu.Lock()
		first := f.deleteThenFail
		f.mu.Unlock()
		if first {
			if derr := f.Bucket.Delete(ctx, name); derr != nil {
				return derr
			}
		}
		return err
	}
	return f.Bucket.Delete(ctx, name)
}

func (f *flakyBucket) Iter(ctx context.Context, dir string, fn func(string) error, opts ...objstore.IterOption) error {
	err := f.call(objstore.OpIter)
	f.mu.Lock()
	after := f.iterFailAfter
	f.mu.Unlock()
	delivered := 0
	ierr := f.Bucket.Iter(ctx, dir, func(name string) error {
		if err != nil && delivered == after {
			return err
		}
		delivered++
		return fn(name)
	}, opts...)
	if err != nil && delivered < after {
		return err // fewer entries than asked: fail at the end
	}
	return ierr
}

// slowBucket answers only when ctx ends.
type slowBucket struct {
	objstore.Bucket
	gets atomic.Int32
}

func (s *slowBucket) Get(ctx context.Context, _ string) (io.ReadCloser, error) {
	s.gets.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

func fastRetries() RetryOptions {
	return RetryOptions{MaxRetries: 4, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxTime: time.Minute}
}

func withRetries(t *testing.T, b objstore.Bucket, o RetryOptions) (objstore.InstrumentedBucket, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	rb, err := WithRetries(b, o, reg, nil)
	require.NoError(t, err)
	return rb, reg
}

func retriesOf(t *testing.T, reg *prometheus.Registry, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "bucket_retries_total" && mf.GetName() != "weft_bucket_retries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() == op {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestRetryTransientFailures(t *testing.T) {
	ctx := context.Background()
	fb := newFlaky(t)
	b, reg := withRetries(t, fb, fastRetries())
	data := []byte("block index bytes")

	f := func(op string, run func() error) {
		t.Helper()
		before := fb.callsOf(op)
		fb.failNext(op, 2)
		require.NoError(t, run(), op)
		require.Equal(t, 3, fb.callsOf(op)-before, "%s attempts", op)
		require.Equal(t, 2.0, retriesOf(t, reg, op), "%s retries", op)
	}
	f(objstore.OpUpload, func() error { return b.Upload(ctx, "t/b/index", bytes.NewReader(data)) })
	f(objstore.OpGet, func() error {
		rc, err := b.Get(ctx, "t/b/index")
		require.Equal(t, data, readAll(t, rc, err))
		return nil
	})
	f(objstore.OpGetRange, func() error {
		rc, err := b.GetRange(ctx, "t/b/index", 6, 5)
		require.Equal(t, "index", string(readAll(t, rc, err)))
		return nil
	})
	f(objstore.OpExists, func() error {
		ok, err := b.Exists(ctx, "t/b/index")
		require.True(t, ok)
		return err
	})
	f(objstore.OpAttributes, func() error {
		a, err := b.Attributes(ctx, "t/b/index")
		require.Equal(t, int64(len(data)), a.Size)
		return err
	})
	f(objstore.OpIter, func() error {
		require.Equal(t, []string{"t/b/index"}, list(t, b, "t", objstore.WithRecursiveIter()))
		return nil
	})
	f(objstore.OpDelete, func() error { return b.Delete(ctx, "t/b/index") })
	ok, err := b.Exists(ctx, "t/b/index")
	require.NoError(t, err)
	require.False(t, ok)
}

// TestRetryUploadRewinds: a failed attempt consumed part of the reader;
// the retry must upload the whole content, from *bytes.Reader (meta.json)
// and *os.File (index, chunks), also when the caller had already read a
// header off the reader.
func TestRetryUploadRewinds(t *testing.T) {
	ctx := context.Background()
	fb := newFlaky(t)
	b, _ := withRetries(t, fb, fastRetries())
	data := []byte("0123456789abcdef")

	fb.failNext(objstore.OpUpload, 3)
	require.NoError(t, b.Upload(ctx, "meta.json", bytes.NewReader(data)))
	rc, err := b.Get(ctx, "meta.json")
	require.Equal(t, data, readAll(t, rc, err))

	p := filepath.Join(t.TempDir(), "index")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	file, err := os.Open(p)
	require.NoError(t, err)
	defer file.Close()
	fb.failNext(objstore.OpUpload, 2)
	require.NoError(t, b.Upload(ctx, "index", file))
	rc, err = b.Get(ctx, "index")
	require.Equal(t, data, readAll(t, rc, err))

	// Started at an offset: the retry starts there again, not at 0.
	r := bytes.NewReader(data)
	_, err = r.Seek(10, io.SeekStart)
	require.NoError(t, err)
	fb.failNext(objstore.OpUpload, 1)
	require.NoError(t, b.Upload(ctx, "tail", r))
	rc, err = b.Get(ctx, "tail")
	require.Equal(t, "abcdef", string(readAll(t, rc, err)))
}

func TestRetryUploadNotSeekableIsNotRetried(t *testing.T) {
	fb := newFlaky(t)
	b, reg := withRetries(t, fb, fastRetries())
	fb.failNext(objstore.OpUpload, 1)
	err := b.Upload(context.Background(), "x", io.MultiReader(strings.NewReader("stream")))
	require.ErrorIs(t, err, errInjected)
	require.Equal(t, 1, fb.callsOf(objstore.OpUpload))
	require.Zero(t, retriesOf(t, reg, objstore.OpUpload))
}

func TestRetryGivesUp(t *testing.T) {
	fb := newFlaky(t)
	b, reg := withRetries(t, fb, fastRetries())
	fb.failNext(objstore.OpGet, 100)
	_, err := b.Get(context.Background(), "x")
	require.ErrorIs(t, err, errInjected)
	var re *RetryError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 5, re.Attempts)
	require.Equal(t, `cannot get "x" after 5 attempts: injected: connection reset by peer`, err.Error())
	require.Equal(t, 5, fb.callsOf(objstore.OpGet))
	require.Equal(t, 4.0, retriesOf(t, reg, objstore.OpGet))

	// Retries off: one attempt, the error as is.
	b, _ = withRetries(t, fb, RetryOptions{})
	fb.failNext(objstore.OpGet, 100)
	_, err = b.Get(context.Background(), "x")
	require.Equal(t, errInjected, err)
}

func TestRetryPermanentErrors(t *testing.T) {
	ctx := context.Background()
	fb := newFlaky(t)
	b, reg := withRetries(t, fb, fastRetries())

	// Not found: asked once, classified by the wrapper like the provider.
	_, err := b.Get(ctx, "missing")
	require.True(t, b.IsObjNotFoundErr(err))
	_, err = b.Attributes(ctx, "missing")
	require.True(t, b.IsObjNotFoundErr(err))
	_ = b.Delete(ctx, "missing") // the filesystem bucket says nil, S3 too
	require.Equal(t, 1, fb.callsOf(objstore.OpGet))
	require.Equal(t, 1, fb.callsOf(objstore.OpAttributes))
	require.Equal(t, 1, fb.callsOf(objstore.OpDelete))

	// Access denied.
	fb.mu.Lock()
	fb.err = errDenied
	fb.mu.Unlock()
	fb.failNext(objstore.OpExists, 10)
	_, err = b.Exists(ctx, "x")
	require.Equal(t, errDenied, err)
	require.Equal(t, 1, fb.callsOf(objstore.OpExists))

	// The caller's own Iter error.
	require.NoError(t, b.Upload(ctx, "d/a", bytes.NewReader(nil)))
	stop := errors.New("stop")
	require.Equal(t, stop, b.Iter(ctx, "d", func(string) error { return stop }))
	require.Equal(t, 1, fb.callsOf(objstore.OpIter))

	// The caller's ctx.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	fb.mu.Lock()
	fb.err = errInjected
	fb.mu.Unlock()
	fb.failNext(objstore.OpGetRange, 10)
	_, err = b.GetRange(cctx, "d/a", 0, 1)
	require.Error(t, err)
	require.Equal(t, 1, fb.callsOf(objstore.OpGetRange))

	for _, op := range []string{objstore.OpGet, objstore.OpAttributes, objstore.OpDelete, objstore.OpExists, objstore.OpIter, objstore.OpGetRange} {
		require.Zero(t, retriesOf(t, reg, op), op)
	}
}

// TestRetryIterResumes: a listing that breaks after some entries is
// listed again, and the callback sees every name exactly once.
func TestRetryIterResumes(t *testing.T) {
	ctx := context.Background()
	fb := newFlaky(t)
	b, _ := withRetries(t, fb, fastRetries())
	want := []string{"t/01", "t/02", "t/03", "t/04", "t/05"}
	for _, n := range want {
		require.NoError(t, b.Upload(ctx, n, bytes.NewReader([]byte(n))))
	}
	fb.mu.Lock()
	fb.iterFailAfter = 2
	fb.mu.Unlock()
	fb.failNext(objstore.OpIter, 2)
	require.Equal(t, want, list(t, b, "t"))
	require.Equal(t, 3, fb.callsOf(objstore.OpIter))
}

// TestRetryDeleteLostAnswer: the first Delete removed the object but its
// answer was lost; the retry's "not found" means success.
func TestRetryDeleteLostAnswer(t *testing.T) {
	ctx := context.Background()
	fb := newFlaky(t)
	b, _ := withRetries(t, fb, fastRetries())
	require.NoError(t, b.Upload(ctx, "x", bytes.NewReader([]byte("x"))))
	fb.mu.Lock()
	fb.deleteThenFail = true
	fb.mu.Unlock()
	fb.failNext(objstore.OpDelete, 1)
	require.NoError(t, b.Delete(ctx, "x"))
	require.Equal(t, 2, fb.callsOf(objstore.OpDelete))
}

// TestRetrySlowHonoursCtx: a bucket that does not answer is abandoned at
// the caller's deadline, and not retried after it.
func TestRetrySlowHonoursCtx(t *testing.T) {
	sb := &slowBucket{Bucket: newFlaky(t)}
	b, reg := withRetries(t, sb, fastRetries())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Get(ctx, "x")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, int32(1), sb.gets.Load())
	require.Zero(t, retriesOf(t, reg, objstore.OpGet))
}

// TestRetryBackoffHonoursCtx: the caller's deadline cuts a backoff short.
func TestRetryBackoffHonoursCtx(t *testing.T) {
	fb := newFlaky(t)
	b, _ := withRetries(t, fb, RetryOptions{MaxRetries: 5, MinBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second})
	fb.failNext(objstore.OpExists, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Exists(ctx, "x")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, errInjected)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, 1, fb.callsOf(objstore.OpExists))
}

// TestRetryMaxTime: many retries allowed, but no retry starts after
// MaxTime.
func TestRetryMaxTime(t *testing.T) {
	fb := newFlaky(t)
	b, _ := withRetries(t, fb, RetryOptions{MaxRetries: 10000, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxTime: 300 * time.Millisecond})
	fb.failNext(objstore.OpAttributes, 1<<30)
	start := time.Now()
	_, err := b.Attributes(context.Background(), "x")
	took := time.Since(start)
	require.ErrorIs(t, err, errInjected)
	require.ErrorContains(t, err, "-bucket.retry-max-time=300ms")
	require.Less(t, took, 2*time.Second)
	require.Greater(t, fb.callsOf(objstore.OpAttributes), 3)
}

// TestRetryBudget: a context's retry budget (a query's) cuts the retries
// short, and once one operation failed for good the next ones under the
// same context fail without an attempt; "not found" does not count.
func TestRetryBudget(t *testing.T) {
	fb := newFlaky(t)
	b, _ := withRetries(t, fb, RetryOptions{MaxRetries: 10000, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxTime: time.Minute})
	ctx := WithRetryBudget(context.Background(), 200*time.Millisecond)
	require.Equal(t, ctx, WithRetryBudget(ctx, time.Hour), "a nested budget")

	_, err := b.Get(ctx, "missing")
	require.True(t, b.IsObjNotFoundErr(err))

	fb.failNext(objstore.OpGet, 1<<30)
	start := time.Now()
	_, err = b.Get(ctx, "x")
	require.ErrorIs(t, err, errInjected)
	require.ErrorContains(t, err, "retry time budget of the query spent")
	require.Less(t, time.Since(start), 2*time.Second)
	calls := fb.callsOf(objstore.OpGet)
	require.Greater(t, calls, 2)

	_, err = b.Get(ctx, "y")
	require.ErrorIs(t, err, errInjected)
	require.ErrorContains(t, err, "not tried")
	require.Equal(t, calls, fb.callsOf(objstore.OpGet))

	// Another query starts afresh.
	_, err = b.Get(WithRetryBudget(context.Background(), 100*time.Millisecond), "y")
	require.ErrorContains(t, err, "retry time budget of the query spent")
	require.Greater(t, fb.callsOf(objstore.OpGet), calls)
}

func TestRetryBackoff(t *testing.T) {
	r := &retryBucket{o: RetryOptions{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	f := func(n int, want time.Duration) {
		t.Helper()
		for range 100 {
			d := r.backoff(n)
			require.GreaterOrEqual(t, d, want/2, "retry %d", n)
			require.LessOrEqual(t, d, want, "retry %d", n)
		}
	}
	f(1, 100*time.Millisecond)
	f(2, 200*time.Millisecond)
	f(4, 800*time.Millisecond)
	f(5, time.Second)
	f(60, time.Second)
}

func TestRetryWithExpectedErrsKeepsRetrying(t *testing.T) {
	fb := newFlaky(t)
	inner := objstore.WrapWithMetrics(fb, nil, "flaky")
	b, reg := withRetries(t, inner, fastRetries())
	eb := b.WithExpectedErrs(func(error) bool { return true })
	fb.failNext(objstore.OpUpload, 1)
	require.NoError(t, eb.Upload(context.Background(), "x", bytes.NewReader([]byte("x"))))
	require.Equal(t, 1.0, retriesOf(t, reg, objstore.OpUpload))
	require.Equal(t, 2, fb.callsOf(objstore.OpUpload))
	_ = b.ReaderWithExpectedErrs(func(error) bool { return true })
}

// TestRetryS3ServerRestart kills the real S3 server while a block is being
// shipped and starts it again: the upload through New's bucket succeeds
// once the server is back, within the retry budget.
func TestRetryS3ServerRestart(t *testing.T) {
	srv := startS3Server(t)
	c := srv.createBucket(t, "weft-restart")
	c.S3.ClientMaxRetries = 1 // no retries in the S3 client: show weft's
	c.MaxRetries = 50
	c.RetryMinBackoff = 50 * time.Millisecond
	c.RetryMaxBackoff = 400 * time.Millisecond
	c.RetryMaxTime = 30 * time.Second
	b, reg := openBucket(t, c)
	ctx := context.Background()
	require.NoError(t, b.Upload(ctx, "tenant/01A/meta.json", bytes.NewReader([]byte("{}"))))

	srv.stop()

	data := randomBytes(t, 8<<20)
	p := filepath.Join(t.TempDir(), "chunks")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()

	down := 1500 * time.Millisecond
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(down)
		srv.restart(t)
	}()
	start := time.Now()
	err = b.Upload(ctx, "tenant/01A/chunks/000001", f)
	took := time.Since(start)
	<-restarted
	require.NoError(t, err)
	require.GreaterOrEqual(t, took, down-100*time.Millisecond, "upload succeeded while the server was down?")
	require.Less(t, took, c.RetryMaxTime)
	require.Positive(t, retriesOf(t, reg, objstore.OpUpload))
	t.Logf("upload survived a %s outage in %s with %v retries", down, took.Round(time.Millisecond), retriesOf(t, reg, objstore.OpUpload))

	rc, err := b.Get(ctx, "tenant/01A/chunks/000001")
	require.True(t, bytes.Equal(data, readAll(t, rc, err)), "content differs after the outage")
}
