package cacheclient

import (
	clist "container/list"
	"context"
	"sync"
	"time"

	"github.com/grafana/dskit/cache"
)

// InMemory is an LRU cache of at most maxBytes of keys and values, in
// the process. It implements dskit's cache.Cache; its writes are done at
// once, "async" ones included.
type InMemory struct {
	maxBytes int64
	maxItem  int
	now      func() time.Time

	mu    sync.Mutex
	bytes int64                     // guarded by mu
	lru   *clist.List               // of *memoryEntry, most recent first; guarded by mu
	items map[string]*clist.Element // guarded by mu
}

type memoryEntry struct {
	key     string
	value   []byte
	expires time.Time
}

var _ cache.Cache = (*InMemory)(nil)

// NewInMemory returns an empty cache of at most maxBytes (keys and values
// counted) that stores no value bigger than maxItem bytes.
func NewInMemory(maxBytes int64, maxItem int) *InMemory {
	return &InMemory{maxBytes: maxBytes, maxItem: maxItem, now: time.Now, lru: clist.New(), items: map[string]*clist.Element{}}
}

func entrySize(e *memoryEntry) int64 { return int64(len(e.key) + len(e.value)) }

// GetMulti implements cache.Cache. Values are shared: callers must not
// modify them.
func (m *InMemory) GetMulti(_ context.Context, keys []string, _ ...cache.Option) map[string][]byte {
	now := m.now()
	out := make(map[string][]byte, len(keys))
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		el, ok := m.items[k]
		if !ok {
			continue
		}
		e := el.Value.(*memoryEntry)
		if !now.Before(e.expires) {
			m.removeLocked(el)
			continue
		}
		m.lru.MoveToFront(el)
		out[k] = e.value
	}
	return out
}

// GetMultiWithError implements cache.Cache.
func (m *InMemory) GetMultiWithError(ctx context.Context, keys []string, opts ...cache.Option) (map[string][]byte, error) {
	return m.GetMulti(ctx, keys, opts...), nil
}

// SetAsync implements cache.Cache.
func (m *InMemory) SetAsync(key string, value []byte, ttl time.Duration) {
	_ = m.Set(context.Background(), key, value, ttl)
}

// SetMultiAsync implements cache.Cache.
func (m *InMemory) SetMultiAsync(data map[string][]byte, ttl time.Duration) {
	for k, v := range data {
		m.SetAsync(k, v, ttl)
	}
}

// Set implements cache.Cache. Values bigger than the max item size are
// not stored (and it is not an error, as with memcached).
func (m *InMemory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) > m.maxItem {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(key, value, ttl)
	return nil
}

func (m *InMemory) setLocked(key string, value []byte, ttl time.Duration) {
	if el, ok := m.items[key]; ok {
		m.removeLocked(el)
	}
	e := &memoryEntry{key: key, value: value, expires: m.now().Add(ttl)}
	m.items[key] = m.lru.PushFront(e)
	m.bytes += entrySize(e)
	for m.bytes > m.maxBytes {
		m.removeLocked(m.lru.Back())
	}
}

func (m *InMemory) removeLocked(el *clist.Element) {
	e := m.lru.Remove(el).(*memoryEntry)
	delete(m.items, e.key)
	m.bytes -= entrySize(e)
}

// Add implements cache.Cache.
func (m *InMemory) Add(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) > m.maxItem {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok && m.now().Before(el.Value.(*memoryEntry).expires) {
		return cache.ErrNotStored
	}
	m.setLocked(key, value, ttl)
	return nil
}

// Delete implements cache.Cache.
func (m *InMemory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.removeLocked(el)
	}
	return nil
}

// Stop implements cache.Cache.
func (m *InMemory) Stop() {}

// Name implements cache.Cache.
func (m *InMemory) Name() string { return "inmemory" }
