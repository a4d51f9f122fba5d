package cacheclient

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/grafana/dskit/cache"
	"github.com/stretchr/testify/require"
)

func TestMemoryCacheEvictsAndExpires(t *testing.T) {
	m := NewInMemory(100, 30)
	now := time.Unix(1000, 0)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 5 {
		m.SetAsync(fmt.Sprintf("k%d", i), bytes.Repeat([]byte{byte(i)}, 20), time.Minute) // 22 bytes each
	}
	got := m.GetMulti(ctx, []string{"k0", "k1", "k2", "k3", "k4"})
	require.Len(t, got, 4) // k0 evicted
	require.NotContains(t, got, "k0")
	m.SetAsync("big", make([]byte, 31), time.Minute)
	require.Empty(t, m.GetMulti(ctx, []string{"big"}))
	// k1 is the least recently used: use it, add one more, k2 goes.
	m.GetMulti(ctx, []string{"k1"})
	m.SetAsync("k5", make([]byte, 20), time.Minute)
	got = m.GetMulti(ctx, []string{"k1", "k2"})
	require.Contains(t, got, "k1")
	require.NotContains(t, got, "k2")
	now = now.Add(time.Minute)
	require.Empty(t, m.GetMulti(ctx, []string{"k1", "k2", "k3", "k4", "k5"}))
	m.mu.Lock()
	require.Zero(t, m.bytes)
	m.mu.Unlock()
	require.NoError(t, m.Add(ctx, "a", []byte("1"), time.Minute))
	require.ErrorIs(t, m.Add(ctx, "a", []byte("2"), time.Minute), cache.ErrNotStored)
	require.NoError(t, m.Delete(ctx, "a"))
	require.Empty(t, m.GetMulti(ctx, []string{"a"}))
}
